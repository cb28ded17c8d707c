//! `POST /admin/v1/nodes/:id/enable` and `/disable`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::NodeId;
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// The body of a successful enable/disable:
/// `{"message": "node enabled successfully", "node_id": "node1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminStateChanged {
    /// `node enabled successfully` or `node disabled successfully`.
    pub message: String,
    /// The node's id.
    pub node_id: String,
}

#[utoipa::path(post, path = "/admin/v1/nodes/{id}/enable", tag = "nodes", operation_id = "enable_node",
    params(("id" = String, Path, description = "The node's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Node enabled", body = AdminStateChanged, example = json!({"message": "node enabled successfully", "node_id": "node1"})),
        (status = 400, description = "Invalid node id in the path", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 404, description = "No node with this id", body = ErrorBody, example = json!({"error": "node not found: node1"})),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// `POST /admin/v1/nodes/:id/enable` → 200; 404 `{"error": "node not found: <id>"}`.
pub async fn enable(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<AdminStateChanged>, ApiError> {
    set(&s, id, true).await
}

#[utoipa::path(post, path = "/admin/v1/nodes/{id}/disable", tag = "nodes", operation_id = "disable_node",
    params(("id" = String, Path, description = "The node's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Node disabled", body = AdminStateChanged, example = json!({"message": "node disabled successfully", "node_id": "node1"})),
        (status = 400, description = "Invalid node id in the path", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 404, description = "No node with this id", body = ErrorBody, example = json!({"error": "node not found: node1"})),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// `POST /admin/v1/nodes/:id/disable` → 200; 404 `{"error": "node not found: <id>"}`.
/// The node keeps serving until the current epoch ends and skips the next PoC.
pub async fn disable(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<AdminStateChanged>, ApiError> {
    set(&s, id, false).await
}

async fn set(s: &AppState, id: String, enabled: bool) -> Result<Json<AdminStateChanged>, ApiError> {
    let epoch = s.options.epoch.current_epoch();
    s.registry.set_enabled(&id, enabled, epoch).await?;
    let word = if enabled { "enabled" } else { "disabled" };
    tracing::info!(node_id = %id, epoch, "node {word}");
    Ok(Json(AdminStateChanged {
        message: format!("node {word} successfully"),
        node_id: id,
    }))
}
