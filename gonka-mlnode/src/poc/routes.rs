//! The PoC v2 management routes: `POST /api/v1/inference/pow/init/generate`, `/generate`,
//! `GET /status`, `POST /stop`.
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

use super::runner::{PocRunError, StartOutcome};
use super::wire::{GenerateRequest, PowBackend, PowStatus, MAX_GENERATE_NONCES};
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

/// `POST /api/v1/inference/pow/generate`: computes the nonces now and answers with the
/// artifacts, or with the verdict when `validation.artifacts` are given.
pub(crate) async fn generate(
    State(agent): State<Arc<Agent>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: GenerateRequest = parse("pow/generate", &body)?;
    if req.nonces.is_empty() || req.nonces.len() > MAX_GENERATE_NONCES {
        return Err(ApiError::bad_request(format!(
            "nonces must hold 1 to {MAX_GENERATE_NONCES} values, got {}",
            req.nonces.len()
        )));
    }
    if let Some(v) = &req.validation {
        let mut given: Vec<_> = v.artifacts.iter().map(|a| a.nonce).collect();
        let mut asked = req.nonces.clone();
        given.sort_unstable();
        asked.sort_unstable();
        if given != asked {
            return Err(ApiError::bad_request(
                "validation.artifacts must hold exactly one artifact per requested nonce",
            ));
        }
    }
    let params = gonka_core::poc::compute::RoundParams {
        block_hash: req.block_hash.clone(),
        public_key: req.public_key.clone(),
        seq_len: req.params.seq_len,
        stronger_rng: req.poc_stronger_rng,
    };
    if params.block_hash.is_empty() || params.public_key.is_empty() {
        return Err(ApiError::bad_request(
            "block_hash and public_key must not be empty",
        ));
    }
    let compute = Arc::clone(&agent.poc().settings().compute);
    let model = req.params.model.clone();
    let stat = req.stat_test.unwrap_or_default();
    let nonces = req.nonces.clone();
    let validation = req.validation.clone();
    let result =
        tokio::task::spawn_blocking(move || -> Result<Value, gonka_core::poc::error::PocError> {
            let prepared = compute.prepare(&model, params)?;
            match validation {
                Some(v) => {
                    let verdict = prepared.validate(&v.artifacts, &stat)?;
                    Ok(json!({
                        "status": "OK",
                        "n_total": verdict.n_total,
                        "n_mismatch": verdict.n_mismatch,
                        "mismatch_nonces": verdict.mismatch_nonces,
                        "p_value": verdict.p_value,
                        "fraud_detected": verdict.fraud_detected(),
                    }))
                }
                None => Ok(json!({"status": "OK", "artifacts": prepared.compute(&nonces)?})),
            }
        })
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("PoC compute task failed: {e}"),
        })?;
    let mut value = result.map_err(|e| match e {
        gonka_core::poc::error::PocError::InvalidParams(m) => ApiError::bad_request(m),
        other => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("PoC compute failed: {other}"),
        },
    })?;
    value["block_hash"] = json!(req.block_hash);
    value["block_height"] = json!(req.block_height);
    value["public_key"] = json!(req.public_key);
    value["node_id"] = json!(req.node_id);
    Ok(Json(value))
}

/// `GET /api/v1/inference/pow/status`.
pub(crate) async fn status(State(agent): State<Arc<Agent>>) -> Json<PowStatus> {
    Json(agent.poc().status())
}

/// `POST /api/v1/stop`: stops PoC generation and every engine (upstream's "stop everything").
pub(crate) async fn stop_all(State(agent): State<Arc<Agent>>) -> Result<Json<Value>, ApiError> {
    agent.poc().stop();
    agent.down().await?;
    Ok(Json(json!({"status": "OK"})))
}

/// `POST /api/v1/inference/pow/stop`.
pub(crate) async fn stop(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let was = agent.poc().stop();
    // Upstream's `{status, results: [{port, status: "stopped"}], errors}`, plus whether a
    // round was running.
    Json(json!({
        "status": "OK",
        "results": [{"port": PowBackend::IN_PROCESS_PORT, "status": "stopped"}],
        "errors": null,
        "stopped": was,
    }))
}
