//! `GET/POST /admin/v1/nodes`, `GET/PUT/DELETE /admin/v1/nodes/:id`.

use axum::extract::State;
use axum::Json;
use gonka_core::{validate, Error, NodeConfig, NodeRecord};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{JsonBody, NodeId};
use crate::openapi::ErrorBody;
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/v1/nodes", tag = "nodes", operation_id = "list_nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every node with its state, in registration order", body = Vec<NodeRecord>),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// `GET /admin/v1/nodes` → 200, every node as `{"node", "state"}` in registration order.
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<NodeRecord>>, ApiError> {
    Ok(Json(s.registry.list().await?))
}

#[utoipa::path(get, path = "/admin/v1/nodes/{id}", tag = "nodes", operation_id = "get_node",
    params(("id" = String, Path, description = "The node's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node and its state", body = NodeRecord),
        (status = 400, description = "Invalid node id in the path", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 404, description = "No node with this id", body = ErrorBody, example = json!({"error": "node not found: node1"})),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// `GET /admin/v1/nodes/:id` → 200 `{"node", "state"}`; 404 when unknown.
pub async fn get(
    State(s): State<AppState>,
    NodeId(id): NodeId,
) -> Result<Json<NodeRecord>, ApiError> {
    Ok(Json(s.registry.get(&id).await?))
}

#[utoipa::path(post, path = "/admin/v1/nodes", tag = "nodes", operation_id = "create_node",
    request_body(content = NodeConfig, description = "The node (`node_num` is ignored)", example = json!({"id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080, "models": {"Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}}, "max_concurrent": 500})),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored (created or replaced by id); `node_num` assigned", body = NodeConfig),
        (status = 400, description = "Malformed JSON, or validation failed (`fields` lists every problem)", body = ErrorBody, example = json!({"error": "validation failed: inference_port must be between 1 and 65535", "fields": [{"field": "inference_port", "message": "inference_port must be between 1 and 65535"}]})),
(status = 413, description = "Body larger than the configured limit", body = ErrorBody),
(status = 415, description = "Body not sent with `Content-Type: application/json`", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// `POST /admin/v1/nodes` → 200 + the stored node config (upsert by `id`, `node_num` assigned).
pub async fn create(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<NodeConfig>, ApiError> {
    store(&s, &body).await
}

#[utoipa::path(put, path = "/admin/v1/nodes/{id}", tag = "nodes", operation_id = "put_node",
    params(("id" = String, Path, description = "The node's id")),
    request_body(content = crate::openapi::NodePut, description = "The node; its `id` may be omitted and must otherwise equal the path id", example = json!({"id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080, "models": {"Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}}, "max_concurrent": 500})),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored (created or replaced)", body = NodeConfig),
        (status = 400, description = "Malformed JSON, or validation failed (`fields` lists every problem)", body = ErrorBody, example = json!({"error": "validation failed: inference_port must be between 1 and 65535", "fields": [{"field": "inference_port", "message": "inference_port must be between 1 and 65535"}]})),
(status = 413, description = "Body larger than the configured limit", body = ErrorBody),
(status = 415, description = "Body not sent with `Content-Type: application/json`", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
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

#[utoipa::path(delete, path = "/admin/v1/nodes/{id}", tag = "nodes", operation_id = "delete_node",
    params(("id" = String, Path, description = "The node's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted; the deleted node config", body = NodeConfig),
        (status = 400, description = "Invalid node id in the path", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 404, description = "No node with this id", body = ErrorBody, example = json!({"error": "node not found: node1"})),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
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
