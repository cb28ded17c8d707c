//! Task group handlers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gonka_core::deploy::spec::{validate_window, ScalePolicy, ScheduleWindow};
use gonka_core::deploy::{AuditEntry, TaskFilter, TaskGroup, TaskGroupSpec, TaskMove, TaskStatus};
use gonka_core::{Error, FieldError};
use serde_json::{json, Value};

use super::{now_ms, now_ns, parse_body, store_error, DeployState};
use crate::error::ApiError;

/// `GET /api/v1/task-groups`.
pub(crate) async fn list(State(s): State<DeployState>) -> Result<Json<Value>, ApiError> {
    let groups = s.store.groups().await.map_err(store_error)?;
    Ok(Json(json!({ "task_groups": groups })))
}

/// `POST /api/v1/task-groups`: the eight steps in one transaction.
pub(crate) async fn create(
    State(s): State<DeployState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec: TaskGroupSpec = parse_body(&headers, &body)?;
    let fleet = s.fleet.as_ref().map(|f| f.nodes()).unwrap_or_default();
    let created = super::build(spec, &fleet, now_ns())?;
    let c = created.creation.clone();
    s.store
        .create_group(created.creation)
        .await
        .map_err(store_error)?;
    tracing::info!(group = %c.group.id, name = %c.group.spec.name, tasks = c.tasks.len(), "task group created");
    let endpoint = c.endpoint.as_ref().map(|e| {
        json!({"id": e.id, "name": e.name, "task_group_id": e.task_group_id, "protocol": e.protocol,
               "algorithm": e.algorithm, "api_key_prefix": e.api_key_prefix})
    });
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "task_group": c.group,
            "tasks": c.tasks,
            "model_route": c.route,
            "endpoint": endpoint,
            "api_key": created.api_key,
        })),
    ))
}

/// `GET /api/v1/task-groups/{id}`: the group and its tasks.
pub(crate) async fn get(
    State(s): State<DeployState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = s.store.group(&id).await.map_err(store_error)?;
    let tasks = s
        .store
        .tasks(&TaskFilter {
            group_id: Some(id),
            ..TaskFilter::default()
        })
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "task_group": group, "tasks": tasks })))
}

/// `DELETE /api/v1/task-groups/{id}`: completed or failed groups only.
pub(crate) async fn delete(
    State(s): State<DeployState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.store.delete_group(&id).await.map_err(store_error)?;
    s.store
        .audit(audit("task_group.delete", &id, String::new()))
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "deleted": id })))
}

fn audit(action: &str, target: &str, detail: String) -> AuditEntry {
    AuditEntry {
        at_ms: now_ms(),
        actor: "admin".into(),
        action: action.into(),
        target: target.into(),
        detail,
    }
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::Core(Error::Invalid(vec![FieldError::new(field, message)]))
}

/// Writes `group` back over `expected`'s status; a concurrent change answers 409.
async fn save(s: &DeployState, group: TaskGroup, expected: TaskGroup) -> Result<(), ApiError> {
    if s.store
        .update_group(group, expected.status)
        .await
        .map_err(store_error)?
    {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "task group {} changed while this call ran; retry",
            expected.id
        )))
    }
}

/// Re-derives the group's status from its tasks (legal moves only) and stores it.
pub(crate) async fn refresh_status(s: &DeployState, id: &str) -> Result<TaskGroup, ApiError> {
    gonka_core::deploy::store::refresh_group(s.store.as_ref(), id, now_ms())
        .await
        .map_err(store_error)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scale {
    replicas: u32,
}

/// `PUT /api/v1/task-groups/{id}/scale`: adds pending tasks or stops the highest ranks.
pub(crate) async fn scale(
    State(s): State<DeployState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Scale { replicas } = parse_body(&headers, &body)?;
    let group = s.store.group(&id).await.map_err(store_error)?;
    if group.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "task group {id} is {}; it cannot be scaled",
            group.status
        )));
    }
    let spec = &group.spec;
    if replicas < spec.min_replicas || (spec.max_replicas != 0 && replicas > spec.max_replicas) {
        return Err(invalid(
            "replicas",
            format!(
                "replicas {replicas} is outside min_replicas {} – max_replicas {}",
                spec.min_replicas, spec.max_replicas
            ),
        ));
    }
    let per_replica = spec.shape().tasks;
    let live: Vec<_> = s
        .store
        .tasks(&TaskFilter {
            group_id: Some(id.clone()),
            ..TaskFilter::default()
        })
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|t| t.status.is_live())
        .collect();
    let wanted = (replicas * per_replica) as usize;
    let now = now_ms();
    if wanted > live.len() {
        let next_rank = live.iter().map(|t| t.rank + 1).max().unwrap_or(0);
        let memory = spec.estimated_gpu_memory_mb.unwrap_or_default();
        let count = u32::try_from(wanted - live.len()).unwrap_or(u32::MAX);
        let tasks = super::create::new_tasks(&group, next_rank, count, memory, now);
        s.store.add_tasks(tasks).await.map_err(store_error)?;
    } else {
        let mut by_rank = live.clone();
        by_rank.sort_by_key(|t| std::cmp::Reverse(t.rank));
        for t in by_rank.into_iter().take(live.len() - wanted) {
            let stop = TaskMove {
                from: t.status,
                to: TaskStatus::Completed,
                placement: None,
                error: None,
                at_ms: now,
            };
            s.store.move_task(&t.id, stop).await.map_err(store_error)?;
        }
    }
    let mut updated = s.store.group(&id).await.map_err(store_error)?;
    let before = updated.clone();
    updated.current_replicas = replicas;
    updated.updated_at_ms = now;
    save(&s, updated, before).await?;
    s.store
        .audit(audit(
            "task_group.scale",
            &id,
            format!("{} → {replicas}", group.current_replicas),
        ))
        .await
        .map_err(store_error)?;
    let group = refresh_status(&s, &id).await?;
    Ok(Json(json!({ "task_group": group })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyChange {
    auto_scale: Option<bool>,
    min_replicas: Option<u32>,
    max_replicas: Option<u32>,
    scale_policy: Option<ScalePolicy>,
}

/// `PUT /api/v1/task-groups/{id}/scale-policy`.
pub(crate) async fn scale_policy(
    State(s): State<DeployState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let change: PolicyChange = parse_body(&headers, &body)?;
    let group = s.store.group(&id).await.map_err(store_error)?;
    let mut updated = group.clone();
    let spec = &mut updated.spec;
    if let Some(v) = change.auto_scale {
        spec.auto_scale = v;
    }
    if let Some(v) = change.min_replicas {
        spec.min_replicas = v;
    }
    if let Some(v) = change.max_replicas {
        spec.max_replicas = v;
    }
    if let Some(v) = change.scale_policy {
        spec.scale_policy = v;
    }
    // The current count must stay legal: it is the replicas the spec is checked with.
    spec.replicas = updated.current_replicas;
    let problems: Vec<FieldError> = spec
        .validate()
        .into_iter()
        .filter(|e| e.field.starts_with("scale_policy") || e.field.ends_with("replicas"))
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::Core(Error::Invalid(problems)));
    }
    updated.updated_at_ms = now_ms();
    save(&s, updated.clone(), group).await?;
    s.store
        .audit(audit("task_group.scale_policy", &id, String::new()))
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "task_group": updated })))
}

/// `PUT /api/v1/task-groups/{id}/schedule-window`: a window, or `null` for always.
pub(crate) async fn schedule_window(
    State(s): State<DeployState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let window: Option<ScheduleWindow> = parse_body(&headers, &body)?;
    if let Some(w) = &window {
        let mut problems = Vec::new();
        validate_window(w, &mut problems);
        if !problems.is_empty() {
            return Err(ApiError::Core(Error::Invalid(problems)));
        }
    }
    let group = s.store.group(&id).await.map_err(store_error)?;
    let mut updated = group.clone();
    updated.spec.schedule_window = window;
    updated.updated_at_ms = now_ms();
    save(&s, updated.clone(), group).await?;
    s.store
        .audit(audit("task_group.schedule_window", &id, String::new()))
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "task_group": updated })))
}
