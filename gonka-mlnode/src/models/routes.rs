//! The model routes of the management API, in upstream's shapes: `POST /api/v1/models/status`,
//! `POST /api/v1/models/download` (202), `DELETE /api/v1/models`, `GET /api/v1/models/list` and
//! `GET /api/v1/models/space`. Bodies are read as JSON whatever the `Content-Type` (upstream's
//! network node sends none on POSTs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gonka_core::mlnode_api::{paths, HfModel, HfModelStatus, ModelListItem, ModelsList};

use super::manager::{ManagerError, ModelManager};
use super::space;
use crate::mgmt::ApiError;

/// What the model routes need.
#[derive(Clone)]
pub struct ModelsState {
    /// The downloads and the cache.
    pub manager: Arc<ModelManager>,
    /// Configured GGUF files (listed as models without a commit).
    pub gguf_files: BTreeMap<String, PathBuf>,
}

/// The model routes, for any outer router state.
pub fn routes<S: Clone + Send + Sync + 'static>(state: ModelsState) -> Router<S> {
    Router::new()
        .route(paths::MODELS_STATUS, post(status))
        .route(paths::MODELS_DOWNLOAD, post(download))
        .route(paths::MODELS, delete(remove))
        .route(paths::MODELS_LIST, get(list))
        .route(paths::MODELS_SPACE, get(disk_space))
        .with_state(state)
}

impl From<ManagerError> for ApiError {
    fn from(e: ManagerError) -> Self {
        let status = match e {
            ManagerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ManagerError::Conflict(_) => StatusCode::CONFLICT,
            ManagerError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ManagerError::NotFound(_) => StatusCode::NOT_FOUND,
            ManagerError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            message: e.to_string(),
        }
    }
}

/// `{hf_repo, hf_commit?}` from any body; 422 (as FastAPI) when it is not one.
fn parse(body: &[u8]) -> Result<HfModel, ApiError> {
    let model: HfModel = serde_json::from_slice(body).map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: format!("body must be {{\"hf_repo\": str, \"hf_commit\": str | null}}: {e}"),
    })?;
    ModelManager::check(&model)?;
    Ok(model)
}

async fn status(State(state): State<ModelsState>, body: Bytes) -> Result<Response, ApiError> {
    let model = parse(&body)?;
    Ok(Json(state.manager.status(&model).await).into_response())
}

async fn download(State(state): State<ModelsState>, body: Bytes) -> Result<Response, ApiError> {
    let model = parse(&body)?;
    let started = state.manager.download(&model).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

async fn remove(State(state): State<ModelsState>, body: Bytes) -> Result<Response, ApiError> {
    let model = parse(&body)?;
    let status = state.manager.delete(&model).await?;
    Ok(Json(gonka_core::mlnode_api::DeleteReply {
        status: status.to_owned(),
        model,
    })
    .into_response())
}

async fn list(State(state): State<ModelsState>) -> Result<Json<ModelsList>, ApiError> {
    let mut models = state.manager.list().await;
    let dir = state.manager.cache().root().to_path_buf();
    let files = state.gguf_files.clone();
    let (ggufs, disk) = tokio::task::spawn_blocking(move || {
        (gguf_models(&dir, &files), space::disk_space(&dir).ok())
    })
    .await
    .map_err(|e| internal(format!("listing models failed: {e}")))?;
    models.extend(ggufs);
    Ok(Json(ModelsList {
        count: models.len(),
        models,
        cache_dir: state.manager.cache().root().to_string_lossy().into_owned(),
        disk,
    }))
}

async fn disk_space(
    State(state): State<ModelsState>,
) -> Result<Json<gonka_core::mlnode_api::DiskSpace>, ApiError> {
    let dir = state.manager.cache().root().to_path_buf();
    tokio::task::spawn_blocking(move || space::disk_space(&dir))
        .await
        .map_err(|e| internal(format!("disk space query failed: {e}")))?
        .map(Json)
        .map_err(|e| internal(format!("disk space query failed: {e}")))
}

/// `.gguf` files in the cache directory and the configured GGUF files, by name.
fn gguf_models(dir: &std::path::Path, files: &BTreeMap<String, PathBuf>) -> Vec<ModelListItem> {
    let mut found = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.to_ascii_lowercase().ends_with(".gguf") && entry.path().is_file() {
                found.insert(name[..name.len() - 5].to_owned(), entry.path());
            }
        }
    }
    for (model, path) in files {
        if path.is_file() {
            found.insert(model.clone(), path.clone());
        }
    }
    found
        .into_iter()
        .map(|(name, path)| ModelListItem {
            model: HfModel::new(name, None),
            status: HfModelStatus::Downloaded,
            size_bytes: space::size_of(&path, 0),
            path: path.to_string_lossy().into_owned(),
        })
        .collect()
}

fn internal(message: String) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message,
    }
}
