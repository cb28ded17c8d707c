//! Model lifecycle across the fleet, through each agent's model endpoints
//! (`/api/v1/models/*`): `GET /dashboard/api/model-management` (per node: loaded models and the
//! models on its disk with their sizes), `POST /dashboard/api/pull` and
//! `POST /dashboard/api/delete` with `{"model", "node_id"}`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use gonka_core::mlnode_api::HfModel;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Fleet, FleetError};
use crate::mlnode_client::{MlNodeClient, MlNodeError};

/// Timeout of one agent call made for these routes.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Agents asked at once by `/dashboard/api/model-management`.
const INVENTORY_CONCURRENCY: usize = 32;

/// Body of pull and delete.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelOnNode {
    /// Hugging Face repository id, `org/name`.
    model: String,
    /// The node, as registered.
    node_id: String,
    /// Commit of the repository (default: the latest of `main`).
    #[serde(default)]
    hf_commit: Option<String>,
}

fn parse(body: &[u8]) -> Result<ModelOnNode, FleetError> {
    let parsed: ModelOnNode = serde_json::from_slice(body).map_err(|e| {
        FleetError::new(
            StatusCode::BAD_REQUEST,
            format!("body must be {{\"model\": \"org/name\", \"node_id\": \"...\"}}: {e}"),
        )
    })?;
    if parsed.model.trim().is_empty() {
        return Err(FleetError::new(
            StatusCode::BAD_REQUEST,
            "\"model\" is empty",
        ));
    }
    if parsed.node_id.trim().is_empty() {
        return Err(FleetError::new(
            StatusCode::BAD_REQUEST,
            "\"node_id\" is empty",
        ));
    }
    Ok(parsed)
}

impl Fleet {
    /// The management client of node `id`, or 404 naming it.
    pub(crate) fn agent(&self, id: &str) -> Result<MlNodeClient, FleetError> {
        match self.pool.record(id) {
            Some((record, _)) => Ok(self
                .client
                .at(&record.node.poc_url())
                .with_timeout(AGENT_TIMEOUT)),
            None => Err(FleetError::new(
                StatusCode::NOT_FOUND,
                format!("unknown node {id:?}"),
            )),
        }
    }

    /// Starts downloading `model` onto node `id` through its agent.
    pub(crate) async fn start_pull(
        &self,
        id: &str,
        model: &HfModel,
    ) -> Result<gonka_core::mlnode_api::DownloadStarted, FleetError> {
        let agent = self.agent(id)?;
        agent
            .models_download(model)
            .await
            .map_err(|e| agent_error(id, "pull", &model.hf_repo, &e))
    }
}

/// The agent's refusal as our answer: its 4xx status (the problem is the request's) or 502.
fn agent_error(node: &str, action: &str, model: &str, e: &MlNodeError) -> FleetError {
    let status = match e.http_status() {
        Some(s) if s.is_client_error() => {
            StatusCode::from_u16(s.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        _ => StatusCode::BAD_GATEWAY,
    };
    FleetError::new(
        status,
        format!("node {node:?} could not {action} model {model:?}: {e}"),
    )
}

pub(super) async fn model_management(State(fleet): State<Arc<Fleet>>) -> Json<Value> {
    let nodes = fleet.pool.fleet();
    let rows: Vec<Value> = futures::stream::iter(nodes)
        .map(|node| {
            let agent = fleet
                .client
                .at(&node.record.node.poc_url())
                .with_timeout(AGENT_TIMEOUT);
            async move {
                let loaded = node.loaded();
                let (disk, error) = match agent.models().await {
                    Ok(list) => (
                        list.models
                            .iter()
                            .map(|m| {
                                json!({
                                    "model": m.model.hf_repo,
                                    "hf_commit": m.model.hf_commit,
                                    "status": m.status,
                                    "size_bytes": m.size_bytes,
                                })
                            })
                            .collect::<Vec<_>>(),
                        None,
                    ),
                    Err(e) => (Vec::new(), Some(e.to_string())),
                };
                json!({
                    "node_id": node.record.node.id,
                    "loaded": loaded,
                    "disk": disk,
                    "error": error,
                })
            }
        })
        .buffered(INVENTORY_CONCURRENCY)
        .collect()
        .await;
    Json(json!({ "nodes": rows }))
}

pub(super) async fn pull(
    State(fleet): State<Arc<Fleet>>,
    body: Bytes,
) -> Result<Response, FleetError> {
    let request = parse(&body)?;
    let model = HfModel::new(request.model.clone(), request.hf_commit.clone());
    let started = fleet.start_pull(&request.node_id, &model).await?;
    tracing::info!(node = %request.node_id, model = %request.model, "model pull started");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": started.status,
            "task_id": started.task_id,
            "model": request.model,
            "node_id": request.node_id,
        })),
    )
        .into_response())
}

pub(super) async fn delete(
    State(fleet): State<Arc<Fleet>>,
    body: Bytes,
) -> Result<Json<Value>, FleetError> {
    let request = parse(&body)?;
    let agent = fleet.agent(&request.node_id)?;
    let model = HfModel::new(request.model.clone(), request.hf_commit.clone());
    let reply = agent
        .models_delete(&model)
        .await
        .map_err(|e| agent_error(&request.node_id, "delete", &request.model, &e))?;
    tracing::info!(node = %request.node_id, model = %request.model, status = %reply.status, "model deleted");
    Ok(Json(json!({
        "status": reply.status,
        "model": request.model,
        "node_id": request.node_id,
    })))
}
