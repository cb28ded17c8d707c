//! The inference proxy (default `0.0.0.0:5000`): forwards `/v1/*` and vLLM's `/tokenize` and
//! `/detokenize` to a ready engine replica (least connections), streaming the answer through
//! without buffering. A client that goes away drops the upstream request (the engine sees the
//! connection close and frees its slot). No ready engine → `503` in the OpenAI error shape.
//! `GET /health` answers 200 when an engine is ready, 503 otherwise, like an engine's own
//! `/health`. On a node with deployment task instances, a request whose JSON body names the
//! `model` of an instance goes to the running instance of that model with the fewest requests
//! in flight; a sleeping one is woken and the request waits (at most the start-up timeout, then
//! 503 `model_unavailable` with `Retry-After`); other models go to the single-model engines.
//! On a llama.cpp node `/tokenize`, `/detokenize` and `/v1/models` are answered in vLLM's words
//! (`llamacpp_vllm`), as upstream's network node reads them.

use gonka_core::trace_context::SendTraced;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;

use crate::agent::Agent;
use crate::engine::EngineKind;
use gonka_core::server::openai_error;

mod llamacpp_vllm;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host` and
/// `content-length`, which the outgoing request sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

#[derive(Clone)]
struct ProxyState {
    agent: Arc<Agent>,
    client: reqwest::Client,
    max_body: usize,
}

/// Engine paths outside `/v1/` forwarded too: vLLM's `/tokenize` and `/detokenize` (upstream's
/// network node counts prompt tokens with `/tokenize`).
const ENGINE_ROOT_PATHS: &[&str] = &["/tokenize", "/detokenize"];

/// The proxy routes on `agent`, each also under upstream's `/{version}` prefix
/// (e.g. `/v3.0.8/v1/models`, see [`crate::version_prefix`]).
pub fn router(agent: Arc<Agent>) -> Router {
    let state = ProxyState {
        max_body: agent.config().max_body_bytes,
        agent,
        client: crate::http_client(),
    };
    let counted = crate::metrics::Counted {
        metrics: Arc::clone(state.agent.metrics()),
        listener: "inference",
    };
    let app = Router::new()
        .route("/health", get(health))
        .fallback(forward)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            counted,
            crate::metrics::count_requests,
        ));
    crate::version_prefix::accept_version_prefix(app)
}

async fn health(State(state): State<ProxyState>) -> Response {
    if state.agent.serving() {
        Json(serde_json::json!({"status": "ok"})).into_response()
    } else {
        no_engine()
    }
}

/// 503 with `Retry-After`: an engine starting or restarting serves within seconds.
fn no_engine() -> Response {
    let mut response = openai_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable_error",
        "engine_unavailable",
        "no inference engine is up on this ML node",
    );
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, 5.into());
    response
}

/// `502 engine_error` for a request the engine did not answer, without the engine's URL: its
/// loopback address is not the client's business (the caller logs it).
fn engine_unreachable(e: reqwest::Error) -> Response {
    openai_error(
        StatusCode::BAD_GATEWAY,
        "server_error",
        "engine_error",
        &format!(
            "inference engine did not answer: {}",
            chain(&e.without_url())
        ),
    )
}

/// `error: cause: cause ...` (the causes say why: refused, reset, timed out).
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// The `model` of a JSON request body, if any.
#[derive(serde::Deserialize)]
struct ModelOnly {
    #[serde(default)]
    model: Option<String>,
}

/// The upstream of a request on a node with task instances: the instance serving the body's
/// `model` (woken and waited for, at most the start-up timeout), else a single-model engine.
async fn pick_for(state: &ProxyState, body: &[u8]) -> Result<crate::agent::Upstream, Response> {
    let model = serde_json::from_slice::<ModelOnly>(body)
        .ok()
        .and_then(|m| m.model);
    if let Some(model) = model {
        let wait = state.agent.config().startup_timeout;
        match state.agent.tasks().route(&model, wait).await {
            Some(Ok(upstream)) => return Ok(upstream),
            Some(Err(e)) => return Err(model_unavailable(&e)),
            None => {}
        }
    }
    state.agent.pick().ok_or_else(no_engine)
}

/// 503 with `Retry-After` naming the model whose instances cannot serve now.
fn model_unavailable(e: &crate::tasks::Unavailable) -> Response {
    let mut response = openai_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable_error",
        "model_unavailable",
        &format!(
            "model {} is not available on this ML node now: {}",
            e.model, e.reason
        ),
    );
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, 5.into());
    response
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/v1/") && !ENGINE_ROOT_PATHS.contains(&path) {
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            &format!(
                "no such endpoint: {path} (the inference port serves /v1/*, /tokenize and \
                 /detokenize)"
            ),
        );
    }
    // Without task instances, as always: no engine → 503 before the body is read.
    let early = if state.agent.tasks().is_empty() {
        match state.agent.pick() {
            Some(upstream) => Some(upstream),
            None => return no_engine(),
        }
    } else {
        None
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_owned();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.max_body).await {
        Ok(b) => b,
        Err(e) => {
            return openai_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "body_too_large",
                &format!(
                    "request body rejected: {e} (limit {} bytes)",
                    state.max_body
                ),
            )
        }
    };
    let upstream = match early {
        Some(upstream) => upstream,
        None => match pick_for(&state, &body).await {
            Ok(upstream) => upstream,
            Err(response) => return response,
        },
    };
    let url = format!("{}{}", upstream.base_url, path_and_query);
    if upstream.engine == EngineKind::Llamacpp {
        let (client, base) = (&state.client, upstream.base_url.as_str());
        match (&parts.method, parts.uri.path()) {
            (&Method::POST, "/tokenize") => {
                return llamacpp_vllm::tokenize(client, base, &body).await
            }
            (&Method::POST, "/detokenize") => {
                return llamacpp_vllm::detokenize(client, base, &body).await
            }
            (&Method::GET, "/v1/models") => return llamacpp_vllm::models(client, base).await,
            _ => {}
        }
    }
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    let sent = state
        .client
        .request(parts.method, &url)
        .headers(headers)
        .body(body)
        .send_traced()
        .await;
    let upstream_response = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%url, error = %e, "engine request failed");
            return engine_unreachable(e);
        }
    };
    let status = upstream_response.status();
    let mut response_headers = upstream_response.headers().clone();
    strip_hop_by_hop(&mut response_headers);
    let guard = upstream.guard;
    let stream = upstream_response.bytes_stream().map(move |chunk| {
        let _counted = &guard;
        chunk
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_engine_that_does_not_answer_is_a_502_without_its_address() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .send()
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("127.0.0.1"),
            "the error names it: {e}"
        );
        let response = engine_unreachable(e);
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("engine_error"), "{text}");
        assert!(text.contains("did not answer"), "{text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains(&port.to_string()), "{text}");
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "close, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("authorization", "Bearer t".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        assert_eq!(names, ["authorization", "content-type"]);
    }
}
