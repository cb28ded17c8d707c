//! `GET /v1/models`: models with at least one eligible node.

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
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "gonka"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}
