//! `GET /v1/models` and `GET /v1/models/{id}`: models with at least one eligible node.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::server::AppState;

/// OpenAI model list of every model some admitted, healthy, INFERENCE node serves now.
pub async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .proxy
        .pool()
        .servable_models()
        .into_iter()
        .map(|id| model_object(&id))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "gonka"})
}

/// `GET /v1/models/{id}` (OpenAI's retrieve model; `id` may contain `/`, e.g.
/// `Qwen/Qwen3-32B-FP8`): the model object when some node could serve it now, else 404
/// `model_not_found` in the OpenAI shape.
pub async fn retrieve_model(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, crate::error::GatewayError> {
    if state.proxy.pool().servable_models().contains(&id) {
        Ok(Json(model_object(&id)))
    } else {
        Err(crate::error::GatewayError::ModelNotFound(id))
    }
}
