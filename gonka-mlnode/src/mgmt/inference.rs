//! `POST /api/v1/inference/up`, `/up/async`, `GET /up/status`, `POST /inference/down`,
//! `POST /stop`.
//!
//! As upstream's ML node, `inference/up` blocks until the engine serves the model (`200
//! {"status": "OK"}`) or has failed (`500` with the reason in `detail`), for at most the startup
//! timeout plus the grace period (`504` after that, the start goes on). An upstream network node
//! waits for this answer (up to 15 min) instead of polling a loading node into FAILED and
//! restarting it. A client that goes away does not cancel the start. `?wait=false` answers at
//! once (`202 {"status": "starting"}`; `up/async` answers `200` with a `message`, as upstream). A repeated up for the model already
//! starting waits for that start; for the model already running it answers `200 {"status":
//! "OK"}` at once (upstream answers 409; its network node reads neither). Another model while one
//! starts or runs is `409`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::mlnode_api::{EngineLogs, StatusReply};

use super::error::ApiError;
use crate::agent::{Agent, UpOutcome, UpPhase, UpRequest, UpStatusReport};

/// Query of `inference/up`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct UpQuery {
    /// Block until the engine serves or has failed (upstream behaviour, the default);
    /// `wait=false` answers at once.
    #[serde(default = "wait_by_default")]
    wait: bool,
}

fn wait_by_default() -> bool {
    true
}

/// Parses the up body field by field so each error names its field.
fn parse_up(body: &[u8]) -> Result<UpRequest, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid inference/up body: not JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| {
        ApiError::bad_request("invalid inference/up body: expected a JSON object")
    })?;
    let model = match obj.get("model") {
        Some(serde_json::Value::String(m)) => m.clone(),
        Some(_) => return Err(ApiError::bad_request("model must be a string")),
        None => return Err(ApiError::bad_request("model is required")),
    };
    let dtype = match obj.get("dtype") {
        None | Some(serde_json::Value::Null) => "auto".to_owned(),
        Some(serde_json::Value::String(d)) => d.clone(),
        Some(_) => return Err(ApiError::bad_request("dtype must be a string")),
    };
    let additional_args = match obj.get("additional_args") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad_request("additional_args must be an array of strings"))?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "additional_args must be an array of strings",
            ))
        }
    };
    Ok(UpRequest {
        model,
        dtype,
        additional_args,
    })
}

/// `POST /api/v1/inference/up[?wait=false]`.
pub(crate) async fn up(
    State(agent): State<Arc<Agent>>,
    Query(query): Query<UpQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = parse_up(&body)?;
    let model = req.model.clone();
    let outcome = agent.up(req).await?;
    if !query.wait {
        return Ok(outcome_response(outcome));
    }
    let limit = agent.config().startup_timeout + agent.config().grace_period;
    let status = agent.wait_up(limit).await;
    Ok(match status.status {
        UpPhase::Completed if status.is_running => {
            (StatusCode::OK, Json(StatusReply::new("OK"))).into_response()
        }
        UpPhase::InProgress => ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            message: format!(
                "model {model} is still starting after {} s; poll /api/v1/state",
                limit.as_secs()
            ),
        }
        .into_response(),
        UpPhase::Cancelled => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("starting model {model} was cancelled by a down or stop"),
        }
        .into_response(),
        phase => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!(
                "starting model {model} failed: {}",
                status
                    .error
                    .unwrap_or_else(|| format!("the engine is not serving (up {phase:?})"))
            ),
        }
        .into_response(),
    })
}

/// `POST /api/v1/inference/up/async`: upstream's `200 {"status": "starting", "message"}`
/// (`200 {"status": "OK"}` when the model already runs).
pub(crate) async fn up_async(
    State(agent): State<Arc<Agent>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = parse_up(&body)?;
    Ok(match agent.up(req).await? {
        UpOutcome::AlreadyRunning => (StatusCode::OK, Json(StatusReply::new("OK"))).into_response(),
        // Upstream's answer: 200 with a message (not 202 like `up?wait=false`).
        UpOutcome::Starting | UpOutcome::AlreadyStarting => Json(serde_json::json!({
            "status": "starting",
            "message": "engine start-up runs in the background; poll /api/v1/inference/up/status",
        }))
        .into_response(),
    })
}

fn outcome_response(outcome: UpOutcome) -> Response {
    match outcome {
        UpOutcome::Starting => {
            (StatusCode::ACCEPTED, Json(StatusReply::new("starting"))).into_response()
        }
        UpOutcome::AlreadyStarting => {
            (StatusCode::OK, Json(StatusReply::new("starting"))).into_response()
        }
        UpOutcome::AlreadyRunning => (StatusCode::OK, Json(StatusReply::new("OK"))).into_response(),
    }
}

/// `GET /api/v1/inference/up/status`.
pub(crate) async fn up_status(State(agent): State<Arc<Agent>>) -> Json<UpStatusReport> {
    Json(agent.up_status().await)
}

/// `POST /api/v1/inference/down` and `POST /api/v1/stop`.
pub(crate) async fn down(State(agent): State<Arc<Agent>>) -> Result<Json<StatusReply>, ApiError> {
    agent.down().await?;
    Ok(Json(StatusReply::new("OK")))
}

/// `GET /api/v1/inference/logs`.
pub(crate) async fn logs(State(agent): State<Arc<Agent>>) -> Json<EngineLogs> {
    Json(agent.engine_logs())
}
