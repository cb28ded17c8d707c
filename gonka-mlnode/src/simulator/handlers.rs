//! HTTP handlers of the simulator.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::config::FaultConfig;
use super::request::{
    chat_prompt_tokens, completion_prompt_tokens, output_plan, ChatRequest, CompletionRequest,
};
use super::sse::{sse_stream, Kind, StreamPlan, Usage};
use super::text::{full_text, SplitMix64};
use super::Simulator;
use crate::openai_error::bad_request;
use gonka_core::server::openai_error;

/// `GET /health`.
pub(crate) async fn health(State(sim): State<Arc<Simulator>>) -> Response {
    if sim.faults().unhealthy {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy"})),
        )
            .into_response();
    }
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /v1/models`, with the fields vLLM answers (`root`, `parent`, `max_model_len`,
/// `permission`).
pub(crate) async fn models(State(sim): State<Arc<Simulator>>) -> Json<serde_json::Value> {
    let created = now();
    Json(json!({
        "object": "list",
        "data": [{
            "id": sim.config.model,
            "object": "model",
            "created": created,
            "owned_by": "gonka-simulator",
            "root": sim.config.model,
            "parent": null,
            "max_model_len": sim.config.max_model_len,
            "permission": [{
                "id": format!("modelperm-{created:x}"),
                "object": "model_permission",
                "created": created,
                "allow_create_engine": false,
                "allow_sampling": true,
                "allow_logprobs": true,
                "allow_search_indices": false,
                "allow_view": true,
                "allow_fine_tuning": false,
                "organization": "*",
                "group": null,
                "is_blocking": false
            }]
        }]
    }))
}

/// `GET /sim/stats`.
pub(crate) async fn stats(State(sim): State<Arc<Simulator>>) -> Json<serde_json::Value> {
    Json(json!({"in_flight": sim.in_flight(), "requests_total": sim.requests_total()}))
}

/// `GET /metrics`: a few of vLLM's metric names in the Prometheus text format, as a vLLM
/// engine's `/metrics` (the ML node appends an engine's metrics to its own).
pub(crate) async fn metrics(State(sim): State<Arc<Simulator>>) -> Response {
    let text = format!(
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
         # TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{engine=\"simulator\"}} {}\n\
         # HELP vllm:request_success_total Count of successfully processed requests.\n\
         # TYPE vllm:request_success_total counter\n\
         vllm:request_success_total{{engine=\"simulator\"}} {}\n",
        sim.in_flight(),
        sim.requests_total()
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /sim/faults`.
pub(crate) async fn get_faults(State(sim): State<Arc<Simulator>>) -> Json<serde_json::Value> {
    let f = sim.faults();
    Json(json!({
        "error_rate": f.error_rate, "hang_rate": f.hang_rate,
        "crash_rate": f.crash_rate, "crash_after_tokens": f.crash_after_tokens,
        "unhealthy": f.unhealthy
    }))
}

/// `PUT /sim/faults {error_rate, hang_rate, crash_rate, crash_after_tokens, unhealthy}`
/// (missing = 0, `false`).
pub(crate) async fn set_faults(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        error_rate: f64,
        #[serde(default)]
        hang_rate: f64,
        #[serde(default)]
        crash_rate: f64,
        #[serde(default)]
        crash_after_tokens: u32,
        #[serde(default)]
        unhealthy: bool,
    }
    let b: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid fault settings: {e}")),
    };
    for (name, rate) in [
        ("error_rate", b.error_rate),
        ("hang_rate", b.hang_rate),
        ("crash_rate", b.crash_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return bad_request(format!("{name} must be between 0 and 1, got {rate}"));
        }
    }
    sim.set_faults(FaultConfig {
        error_rate: b.error_rate,
        hang_rate: b.hang_rate,
        crash_rate: b.crash_rate,
        crash_after_tokens: b.crash_after_tokens,
        unhealthy: b.unhealthy,
    });
    get_faults(State(sim)).await.into_response()
}

/// What the fault draw decided for one request.
enum Fate {
    Normal,
    Error,
    Hang,
    Crash(u32),
}

/// The common parts of a completion request after parsing.
struct Job {
    kind: Kind,
    model: Option<String>,
    stream: bool,
    cap: Option<u32>,
    seed: Option<u64>,
    include_usage: bool,
    prompt_tokens: u32,
}

/// `POST /sleep` (vLLM's sleep mode; the `level` is accepted and ignored).
pub(crate) async fn sleep(State(sim): State<Arc<Simulator>>) -> Response {
    sim.set_sleeping(true);
    StatusCode::OK.into_response()
}

/// `POST /wake_up`.
pub(crate) async fn wake_up(State(sim): State<Arc<Simulator>>) -> Response {
    sim.set_sleeping(false);
    StatusCode::OK.into_response()
}

/// `GET /is_sleeping`: `{"is_sleeping": bool}`, as vLLM.
pub(crate) async fn is_sleeping(State(sim): State<Arc<Simulator>>) -> Json<serde_json::Value> {
    Json(json!({"is_sleeping": sim.is_sleeping()}))
}

/// `503 engine_sleeping` while the simulator sleeps, like a sleeping vLLM that cannot serve.
pub(crate) fn asleep(sim: &Simulator) -> Option<Response> {
    sim.is_sleeping().then(|| {
        openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable_error",
            "engine_sleeping",
            "the engine is sleeping (POST /wake_up first)",
        )
    })
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    if let Some(r) = asleep(&sim) {
        return r;
    }
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid chat completion request: {e}")),
    };
    if req.messages.is_empty() {
        return bad_request("messages must contain at least one message");
    }
    let job = Job {
        kind: Kind::Chat,
        prompt_tokens: chat_prompt_tokens(&req.messages),
        model: req.model,
        stream: req.stream,
        cap: req.max_completion_tokens.or(req.max_tokens),
        seed: req.seed,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    };
    run_job(sim, job).await
}

/// `POST /v1/completions`.
pub(crate) async fn completion(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    if let Some(r) = asleep(&sim) {
        return r;
    }
    let req: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid completion request: {e}")),
    };
    if req.prompt.is_null() {
        return bad_request("prompt is required");
    }
    let job = Job {
        kind: Kind::Completion,
        prompt_tokens: completion_prompt_tokens(&req.prompt),
        model: req.model,
        stream: req.stream,
        cap: req.max_tokens,
        seed: req.seed,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    };
    run_job(sim, job).await
}

async fn run_job(sim: Arc<Simulator>, job: Job) -> Response {
    let guard = sim.enter();
    let number = sim.requests.fetch_add(1, Ordering::Relaxed);
    let permit = match &sim.limiter {
        Some(limiter) => match Arc::clone(limiter).acquire_owned().await {
            Ok(p) => Some(p),
            Err(_) => {
                return openai_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "unavailable",
                    "simulator is shutting down",
                )
            }
        },
        None => None,
    };
    let fate = draw_fate(&sim.faults(), sim.config.seed, number);
    match fate {
        Fate::Error => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "simulated_error",
                "simulated engine error",
            )
        }
        Fate::Hang => {
            // Held until the client goes away (the future is dropped with guard and permit).
            std::future::pending::<()>().await;
        }
        Fate::Normal | Fate::Crash(_) => {}
    }
    let cfg = &sim.config;
    let (tokens, finish_reason) = output_plan(job.cap, cfg.output_tokens);
    let seed = job.seed.unwrap_or(cfg.seed);
    let prefix = if job.kind == Kind::Chat {
        "chatcmpl"
    } else {
        "cmpl"
    };
    let plan = StreamPlan {
        kind: job.kind,
        id: format!("{prefix}-sim-{number}"),
        model: job
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| cfg.model.clone()),
        created: now(),
        seed,
        tokens,
        finish_reason,
        usage: Usage {
            prompt: job.prompt_tokens,
            completion: tokens,
        },
        include_usage: job.include_usage,
        crash_after: match fate {
            Fate::Crash(n) => Some(n.min(tokens)),
            _ => None,
        },
        ttft: cfg.time_to_first_token,
        itl: cfg.inter_token_latency,
    };
    if job.stream {
        let body = Body::from_stream(sse_stream(plan, guard, permit));
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response();
    }
    let total = plan.ttft + plan.itl.saturating_mul(tokens.saturating_sub(1));
    if !total.is_zero() {
        tokio::time::sleep(total.min(Duration::from_secs(3600))).await;
    }
    if plan.crash_after.is_some() {
        let cut = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("simulated engine crash"))
        });
        drop(guard);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(cut),
        )
            .into_response();
    }
    let text = full_text(seed, tokens);
    let usage = json!({
        "prompt_tokens": plan.usage.prompt,
        "completion_tokens": tokens,
        "total_tokens": plan.usage.prompt.saturating_add(tokens),
    });
    let body = match plan.kind {
        Kind::Chat => json!({
            "id": plan.id, "object": "chat.completion", "created": plan.created, "model": plan.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
            "usage": usage,
        }),
        Kind::Completion => json!({
            "id": plan.id, "object": "text_completion", "created": plan.created, "model": plan.model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason}],
            "usage": usage,
        }),
    };
    drop(permit);
    drop(guard);
    Json(body).into_response()
}

/// One uniform draw per fault kind from a sequence keyed by the simulator seed and the request
/// number, so the same run of requests meets the same faults.
fn draw_fate(faults: &FaultConfig, seed: u64, number: u64) -> Fate {
    if faults.error_rate <= 0.0 && faults.hang_rate <= 0.0 && faults.crash_rate <= 0.0 {
        return Fate::Normal;
    }
    let mut rng = SplitMix64::new(seed ^ number.wrapping_mul(0xA24B_AED4_963E_E407));
    let x = rng.next_f64();
    if x < faults.error_rate {
        Fate::Error
    } else if x < faults.error_rate + faults.hang_rate {
        Fate::Hang
    } else if x < faults.error_rate + faults.hang_rate + faults.crash_rate {
        Fate::Crash(faults.crash_after_tokens)
    } else {
        Fate::Normal
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_faults_always_hit_and_zero_rates_never_do() {
        let always_error = FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        };
        let none = FaultConfig::default();
        for n in 0..100 {
            assert!(matches!(draw_fate(&always_error, 1, n), Fate::Error));
            assert!(matches!(draw_fate(&none, 1, n), Fate::Normal));
        }
        let half = FaultConfig {
            crash_rate: 0.5,
            crash_after_tokens: 2,
            ..FaultConfig::default()
        };
        let crashes = (0..1000)
            .filter(|n| matches!(draw_fate(&half, 9, *n), Fate::Crash(2)))
            .count();
        assert!(
            (350..650).contains(&crashes),
            "{crashes} crashes of 1000 at rate 0.5"
        );
    }
}
