//! `/api/v1/tasks`: the engine instances of deployment tasks (see [`crate::tasks`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use crate::agent::Agent;
use crate::tasks::launch;

/// `GET /api/v1/tasks`: every instance.
pub(crate) async fn list(State(agent): State<Arc<Agent>>) -> Response {
    Json(agent.tasks().list().await).into_response()
}

/// `GET /api/v1/tasks/{task_id}`: one instance, 404 when unknown.
pub(crate) async fn get_one(
    State(agent): State<Arc<Agent>>,
    Path(task_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(agent.tasks().instance(&task_id).await?).into_response())
}

/// `PUT /api/v1/tasks/{task_id}`: 202 and the instance; 400 naming the field, 409 naming the
/// differences from the live launch.
pub(crate) async fn put(
    State(agent): State<Arc<Agent>>,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let launch = launch::decode(&body)?;
    let instance = agent.launch_task(&task_id, launch).await?;
    Ok((StatusCode::ACCEPTED, Json(instance)).into_response())
}

/// `DELETE /api/v1/tasks/{task_id}`: stops and forgets the instance; 200 `{"task_id",
/// "stopped"}` (`stopped: false` for an unknown id).
pub(crate) async fn delete(
    State(agent): State<Arc<Agent>>,
    Path(task_id): Path<String>,
) -> Response {
    let stopped = agent.tasks().stop(&task_id).await;
    Json(serde_json::json!({"task_id": task_id, "stopped": stopped})).into_response()
}

/// `POST /api/v1/tasks/{task_id}/sleep`: 202 and the instance; 409 naming the states.
pub(crate) async fn sleep(
    State(agent): State<Arc<Agent>>,
    Path(task_id): Path<String>,
) -> Result<Response, ApiError> {
    let instance = agent.tasks().sleep(&task_id).await?;
    Ok((StatusCode::ACCEPTED, Json(instance)).into_response())
}

/// `POST /api/v1/tasks/{task_id}/wake`: 202 and the instance; 409 naming the states.
pub(crate) async fn wake(
    State(agent): State<Arc<Agent>>,
    Path(task_id): Path<String>,
) -> Result<Response, ApiError> {
    let instance = agent.tasks().wake(&task_id).await?;
    Ok((StatusCode::ACCEPTED, Json(instance)).into_response())
}
