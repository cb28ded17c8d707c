//! `POST /admin/v1/nodes/:id/enable` and `/disable`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::NodeId;
use crate::state::AppState;

/// The body of a successful enable/disable:
/// `{"message": "node enabled successfully", "node_id": "node1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminStateChanged {
    /// `node enabled successfully` or `node disabled successfully`.
    pub message: String,
    /// The node's id.
    pub node_id: String,
}

/// `POST /admin/v1/nodes/:id/enable` → 200; 404 `{"error": "node not found: <id>"}`.
pub async fn enable(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<AdminStateChanged>, ApiError> {
    set(&s, id, true).await
}

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
