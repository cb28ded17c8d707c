//! `GET/POST /admin/v1/nodes`, `GET/PUT/DELETE /admin/v1/nodes/:id`.

use axum::extract::State;
use axum::Json;
use gonka_core::{validate, Error, NodeConfig, NodeRecord};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{JsonBody, NodeId};
use crate::state::AppState;

/// `GET /admin/v1/nodes` → 200, every node as `{"node", "state"}` in registration order.
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<NodeRecord>>, ApiError> {
    Ok(Json(s.registry.list().await?))
}

/// `GET /admin/v1/nodes/:id` → 200 `{"node", "state"}`; 404 when unknown.
pub async fn get(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<NodeRecord>, ApiError> {
    Ok(Json(s.registry.get(&id).await?))
}

/// `POST /admin/v1/nodes` → 200 + the stored node config (upsert by `id`, `node_num` assigned).
pub async fn create(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<NodeConfig>, ApiError> {
    store(&s, &body).await
}

/// `PUT /admin/v1/nodes/:id` → 200 + the stored node config. The body's `id` may be omitted (the
/// path id is used); a different body id answers 400 naming `id`.
pub async fn put(
    State(s): State<AppState>,
    NodeId(id): NodeId,
    JsonBody(mut body): JsonBody,
) -> Result<Json<NodeConfig>, ApiError> {
    if let Some(obj) = body.as_object_mut() {
        match obj.get("id") {
            None | Some(Value::Null) => {
                obj.insert("id".into(), Value::String(id));
            }
            Some(Value::String(body_id)) if *body_id != id => {
                return Err(ApiError::invalid(
                    "id",
                    format!("id in body ({body_id:?}) does not match id in path ({id:?})"),
                ));
            }
            // Same id, or a wrong type that validation reports.
            Some(_) => {}
        }
    }
    store(&s, &body).await
}

/// `DELETE /admin/v1/nodes/:id` → 200 + the deleted node config; 404 when unknown.
pub async fn delete(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<NodeConfig>, ApiError> {
    let record = s.registry.delete(&id).await?;
    tracing::info!(node_id = %id, "node deleted");
    Ok(Json(record.node))
}

async fn store(s: &AppState, body: &Value) -> Result<Json<NodeConfig>, ApiError> {
    let config = validate(body, &s.options.governance).map_err(Error::Invalid)?;
    let record = s.registry.upsert(config).await?;
    tracing::info!(node_id = %record.node.id, node_num = record.node.node_num, "node stored");
    Ok(Json(record.node))
}
