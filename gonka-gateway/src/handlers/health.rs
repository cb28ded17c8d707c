//! `GET /health` and `GET /v1/status`: the gateway process is up.

use axum::Json;
use serde_json::{json, Value};

/// Always `{"status":"ok"}` while the gateway serves.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
