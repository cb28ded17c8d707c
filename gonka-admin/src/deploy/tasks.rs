//! Task handlers: list, get, and the moves an operator may ask for.

use axum::extract::{Path, Query, State};
use axum::Json;
use gonka_core::deploy::{AuditEntry, TaskFilter, TaskMove, TaskStatus};
use serde_json::{json, Value};

use super::groups::refresh_status;
use super::{now_ms, store_error, DeployState};
use crate::error::ApiError;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    group: Option<String>,
    node: Option<String>,
    status: Option<String>,
}

/// `GET /api/v1/tasks?group=&node=&status=`.
pub(crate) async fn list(
    State(s): State<DeployState>,
    query: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(f) =
        query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let status = match f.status.as_deref() {
        None => None,
        Some(name) => Some(
            TaskStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        format!("status {name:?} is unknown; expected pending, scheduled, running, sleeping, waking, completed or failed"),
                    )
                })?,
        ),
    };
    let tasks = s
        .store
        .tasks(&TaskFilter {
            group_id: f.group,
            node_id: f.node,
            status,
        })
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "tasks": tasks })))
}

/// `GET /api/v1/tasks/{id}`: `{"task": ...}`, with `"health"` beside it once the task's health
/// was checked.
pub(crate) async fn get(
    State(s): State<DeployState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let task = s.store.task(&id).await.map_err(store_error)?;
    match s.health.as_ref().and_then(|h| h.task_health(&id)) {
        Some(health) => Ok(Json(json!({ "task": task, "health": health }))),
        None => Ok(Json(json!({ "task": task }))),
    }
}

/// `POST /api/v1/tasks/{id}/{sleep|wake|stop|retry}`: the move from the task's current state, a
/// 409 naming both states when the machine forbids it.
pub(crate) async fn act(
    State(s): State<DeployState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let to = match action.as_str() {
        "sleep" => TaskStatus::Sleeping,
        "wake" => TaskStatus::Waking,
        "stop" => TaskStatus::Completed,
        "retry" => TaskStatus::Pending,
        other => {
            return Err(ApiError::NoRoute {
                method: "POST".into(),
                path: format!("/api/v1/tasks/{id}/{other} (actions: sleep, wake, stop, retry)"),
            })
        }
    };
    let task = s.store.task(&id).await.map_err(store_error)?;
    let from = task.status;
    if let Err(e) = from.transition(to) {
        return Err(ApiError::Conflict(format!(
            "cannot {action} task {id}: {e}"
        )));
    }
    let m = TaskMove {
        from,
        to,
        placement: None,
        error: None,
        at_ms: now_ms(),
    };
    let Some(moved) = s.store.move_task(&id, m).await.map_err(store_error)? else {
        return Err(ApiError::Conflict(format!(
            "task {id} changed while this call ran (it was {from}); retry"
        )));
    };
    s.store
        .audit(AuditEntry {
            at_ms: now_ms(),
            actor: "admin".into(),
            action: format!("task.{action}"),
            target: id.clone(),
            detail: format!("{from} → {to}"),
        })
        .await
        .map_err(store_error)?;
    let group = refresh_status(&s, &moved.group_id).await?;
    Ok(Json(
        json!({ "task": moved, "task_group_status": group.status }),
    ))
}
