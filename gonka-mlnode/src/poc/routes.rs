//! The PoC v2 management routes: `POST /api/v1/inference/pow/init/generate`, `GET /status`,
//! `POST /stop`; `/generate` and its result are in [`super::generate`].
//!
//! Choice about inference: PoC runs on the agent's own compute backend, beside the inference
//! engine (as upstream's v2 runs it inside the served vLLM), so starting it needs no
//! `inference/down`. While it generates, `/api/v1/state` keeps `INFERENCE` on a serving node
//! with `poc_status: GENERATING` (as upstream's; `POW` when no engine is up), which the network
//! node reads as POC and routes no inference to the node. A second `init/generate` for the same
//! round is a no-op (`200`); one for another round answers `409` until `/pow/stop`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub(crate) use super::generate::{generate, generate_result};
use super::runner::{PocRunError, StartOutcome};
use super::wire::{PowBackend, PowStatus};
use crate::agent::Agent;
use crate::mgmt::ApiError;

fn parse<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid {what} body: {e}")))
}

impl From<PocRunError> for ApiError {
    fn from(e: PocRunError) -> Self {
        let status = match e {
            PocRunError::Invalid(_) => StatusCode::BAD_REQUEST,
            PocRunError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// `POST /api/v1/inference/pow/init/generate`.
pub(crate) async fn init_generate(
    State(agent): State<Arc<Agent>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = parse("pow/init/generate", &body)?;
    let outcome = agent.poc().start(request).await?;
    Ok(Json(json!({
        "status": "OK",
        "backends": 1,
        "n_groups": 1,
        // Upstream's entries are `{port, status}` per engine backend; ours is the one
        // in-process backend (port 0), with its group id.
        "results": [{
            "port": PowBackend::IN_PROCESS_PORT,
            "group_id": 0,
            "status": match outcome {
                StartOutcome::Started => "started",
                StartOutcome::AlreadyRunning => "already_running",
            },
        }],
        "errors": null,
    })))
}

/// `GET /api/v1/inference/pow/status`.
pub(crate) async fn status(State(agent): State<Arc<Agent>>) -> Json<PowStatus> {
    Json(agent.poc().status())
}

/// `POST /api/v1/stop`: stops PoC generation, the `/generate` jobs and every engine (upstream's
/// "stop everything").
pub(crate) async fn stop_all(State(agent): State<Arc<Agent>>) -> Result<Json<Value>, ApiError> {
    agent.poc().stop();
    agent.poc().queue().clear();
    agent.down().await?;
    Ok(Json(json!({"status": "OK"})))
}

/// `POST /api/v1/inference/pow/stop`.
/// As upstream's engine, it also cancels the queued `/generate` jobs and forgets their results.
pub(crate) async fn stop(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let was = agent.poc().stop();
    agent.poc().queue().clear();
    // Upstream's `{status, results: [{port, status: "stopped"}], errors}`, plus whether a
    // round was running.
    Json(json!({
        "status": "OK",
        "results": [{"port": PowBackend::IN_PROCESS_PORT, "status": "stopped"}],
        "errors": null,
        "stopped": was,
    }))
}
