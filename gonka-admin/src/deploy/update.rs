//! `PUT /api/v1/task-groups/{id}/update`: a new version of a running group. The handler only
//! records the update (new spec, raised generation, `rolling_update_state: rolling`); the
//! gateway's task driver replaces the tasks (rolling or recreate) and rolls back on failure.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gonka_core::deploy::{AuditEntry, GroupUpdate, RollingUpdateState, TaskFilter, UpdateRequest};
use gonka_core::Error;
use serde_json::{json, Value};

use super::{now_ms, parse_body, store_error, DeployState};
use crate::error::ApiError;

/// Records the update: 202 with the group (its `update` and `rolling_update_state: rolling`);
/// 400 naming each bad field, nothing changed; 409 when an update is already in progress or the
/// group is completed or failed.
pub(crate) async fn update(
    State(s): State<DeployState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: UpdateRequest = parse_body(&headers, &body)?;
    let group = s.store.group(&id).await.map_err(store_error)?;
    if group.rolling_update_state == RollingUpdateState::Rolling {
        return Err(ApiError::Conflict(format!(
            "task group {id} is being updated already; wait until its rolling_update_state leaves rolling"
        )));
    }
    if group.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "task group {id} is {}; it cannot be updated",
            group.status
        )));
    }
    let spec = request
        .apply(&group.spec)
        .map_err(|problems| ApiError::Core(Error::Invalid(problems)))?;
    // The new generation is above every task's, also those of an earlier update rolled back
    // (their failed tasks must never count as, or be retried as, the new version's).
    let newest = s
        .store
        .tasks(&TaskFilter {
            group_id: Some(id.clone()),
            ..TaskFilter::default()
        })
        .await
        .map_err(store_error)?
        .iter()
        .map(|t| t.generation)
        .max()
        .unwrap_or_default()
        .max(group.generation);
    let now = now_ms();
    let mut updated = group.clone();
    updated.update = Some(GroupUpdate {
        strategy: request.strategy,
        from_generation: group.generation,
        previous: Box::new(group.spec.clone()),
        started_at_ms: now,
        finished_at_ms: None,
        error: None,
    });
    updated.spec = spec;
    updated.generation = newest.saturating_add(1);
    updated.rolling_update_state = RollingUpdateState::Rolling;
    updated.updated_at_ms = now;
    if !s
        .store
        .update_group(updated.clone(), group.status)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::Conflict(format!(
            "task group {id} changed while this call ran; retry"
        )));
    }
    s.store
        .audit(AuditEntry {
            at_ms: now,
            actor: "admin".into(),
            action: "task_group.update".into(),
            target: id.clone(),
            detail: format!(
                "generation {} → {} ({:?})",
                group.generation, updated.generation, request.strategy
            ),
        })
        .await
        .map_err(store_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "task_group": updated }))))
}
