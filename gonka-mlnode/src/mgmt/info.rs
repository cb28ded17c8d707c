//! Read-only endpoints: health probes, state, GPUs, local models and disk space.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use gonka_core::mlnode_api::{ModelsList, StatusReply};

use super::error::ApiError;
use crate::agent::{Agent, StateReport};
use crate::gpu::{self, DriverInfo, GpuReport};
use crate::models_cache;

/// `GET /health`.
pub(crate) async fn health() -> Json<StatusReply> {
    Json(StatusReply::new("ok"))
}

/// `GET /livez`.
pub(crate) async fn livez() -> Json<StatusReply> {
    Json(StatusReply::new("alive"))
}

/// `GET /readyz`: the agent accepts commands (engines are reported by `/api/v1/state`).
pub(crate) async fn readyz() -> Json<StatusReply> {
    Json(StatusReply::new("ready"))
}

/// `GET /api/v1/state`.
pub(crate) async fn state(State(agent): State<Arc<Agent>>) -> Json<StateReport> {
    Json(agent.state().await)
}

/// `GET /api/v1/gpu/devices`.
pub(crate) async fn gpu_devices() -> Result<Json<GpuReport>, ApiError> {
    tokio::task::spawn_blocking(gpu::detect)
        .await
        .map(Json)
        .map_err(|e| internal(format!("GPU detection failed: {e}")))
}

/// `GET /api/v1/gpu/driver`.
pub(crate) async fn gpu_driver() -> Result<Json<DriverInfo>, ApiError> {
    tokio::task::spawn_blocking(gpu::driver)
        .await
        .map(Json)
        .map_err(|e| internal(format!("GPU driver query failed: {e}")))
}

/// `GET /api/v1/models/list`: `{"models": [...], "cache_dir", "disk": {...}}`.
pub(crate) async fn models_list(
    State(agent): State<Arc<Agent>>,
) -> Result<Json<ModelsList>, ApiError> {
    let dir = agent
        .config()
        .models_dir
        .clone()
        .unwrap_or_else(models_cache::default_cache_dir);
    let files = agent.config().model_files.clone();
    tokio::task::spawn_blocking(move || {
        let models = models_cache::list_models(&dir, &files);
        let disk = models_cache::disk_space(&dir).ok();
        ModelsList {
            count: models.len(),
            models,
            cache_dir: dir.to_string_lossy().into_owned(),
            disk,
        }
    })
    .await
    .map(Json)
    .map_err(|e| internal(format!("listing models failed: {e}")))
}

/// `GET /api/v1/models/space`: disk space of the model cache.
pub(crate) async fn models_space(
    State(agent): State<Arc<Agent>>,
) -> Result<Json<models_cache::DiskSpace>, ApiError> {
    let dir = agent
        .config()
        .models_dir
        .clone()
        .unwrap_or_else(models_cache::default_cache_dir);
    tokio::task::spawn_blocking(move || models_cache::disk_space(&dir))
        .await
        .map_err(|e| internal(format!("disk space query failed: {e}")))?
        .map(Json)
        .map_err(|e| internal(format!("disk space query failed: {e}")))
}

fn internal(message: String) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message,
    }
}
