//! `POST /api/v1/inference/pow/generate` and `GET /api/v1/inference/pow/generate/{port}:{id}`
//! on the agent's own compute backend, as upstream's ML node and engine answer them:
//!
//! - Without `wait`: the request is checked and the round prepared (any problem is a 4xx
//!   naming it, and nothing is queued), then queued: `200 {status: "queued", request_id:
//!   "0:<id>", queued_count}` (port 0: the in-process backend), or `429 Queue full: …`. The
//!   result goes to `{url}/validated` / `{url}/generated` when `url` is given, and is readable
//!   with the GET for `result_ttl`.
//! - `wait: true`: computed now, once no generation round runs, and answered
//!   `{status: "completed", request_id, …result}`; no callback.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::job::{new_id, run, JobSpec};
use super::wire::{GenerateQueued, GenerateRequest, GenerateResult, JobStatus, PowBackend};
use crate::agent::Agent;
use crate::mgmt::ApiError;

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// `POST /api/v1/inference/pow/generate` (see the module docs).
pub(crate) async fn generate(
    State(agent): State<Arc<Agent>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: GenerateRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid pow/generate body: {e}")))?;
    let wait = req.wait;
    let spec = JobSpec::from_request(req).map_err(ApiError::bad_request)?;
    let compute = Arc::clone(&agent.poc().settings().compute);
    let (model, round) = (spec.model.clone(), spec.round.clone());
    let prepared = tokio::task::spawn_blocking(move || compute.prepare(&model, round))
        .await
        .map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("PoC compute task failed: {e}"),
            )
        })?
        .map_err(|e| match e {
            gonka_core::poc::error::PocError::InvalidParams(m) => ApiError::bad_request(m),
            other => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("PoC compute failed: {other}"),
            ),
        })?;
    if !wait {
        // Checked; the worker prepares the round again when the job runs.
        drop(prepared);
        let n = spec.nonces.len();
        let id = agent
            .poc()
            .queue()
            .enqueue(spec)
            .map_err(|full| error(StatusCode::TOO_MANY_REQUESTS, full.to_string()))?;
        let request_id = format!("{}:{id}", PowBackend::IN_PROCESS_PORT);
        tracing::info!(%request_id, nonces = n, "PoC /generate queued");
        return Ok(Json(GenerateQueued::new(request_id, n)).into_response());
    }
    // Upstream's engine computes a waiting request once its generation round has ended; the
    // wait ends with the round or with the client.
    while agent.poc().is_generating() {
        tokio::time::sleep(super::queue::BUSY_POLL).await;
    }
    let outcome = tokio::task::spawn_blocking(move || {
        run(
            prepared.as_ref(),
            &spec.nonces,
            spec.batch_size,
            &spec.work,
            &|| false,
        )
    })
    .await
    .map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("PoC compute task failed: {e}"),
        )
    })?
    .map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("PoC compute failed: {e}"),
        )
    })?;
    Ok(Json(GenerateResult {
        status: JobStatus::Completed,
        request_id: new_id(),
        outcome: Some(outcome),
        error: None,
    })
    .into_response())
}

/// `GET /api/v1/inference/pow/generate/{port}:{id}`: the job's status, and its result once
/// completed (`error` once failed). `400` for an id that is not `<port>:<id>`, `404` for a job
/// this node does not know (another port, never queued, expired, or dropped by `pow/stop`).
pub(crate) async fn generate_result(
    State(agent): State<Arc<Agent>>,
    Path(request_id): Path<String>,
) -> Result<Json<GenerateResult>, ApiError> {
    let Some((port, id)) = request_id.split_once(':') else {
        return Err(ApiError::bad_request(format!(
            "Invalid request_id format (expected port:uuid, as pow/generate answered it), got {request_id:?}"
        )));
    };
    let port: u16 = port.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid port {port:?} in request_id {request_id:?}"
        ))
    })?;
    if port != PowBackend::IN_PROCESS_PORT {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "Request {request_id} not found: no PoC backend on port {port} (this ML node computes PoC in-process, port {})",
                PowBackend::IN_PROCESS_PORT
            ),
        ));
    }
    let record = agent.poc().queue().record(id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "Request {request_id} not found (never queued here, expired {} s after it ended, or dropped by pow/stop)",
                agent.poc().settings().result_ttl.as_secs()
            ),
        )
    })?;
    Ok(Json(GenerateResult {
        status: record.status,
        request_id,
        outcome: record
            .outcome
            .filter(|_| record.status == JobStatus::Completed),
        error: record.error.filter(|_| record.status == JobStatus::Failed),
    }))
}
