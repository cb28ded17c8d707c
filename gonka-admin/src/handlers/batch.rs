//! `POST /admin/v1/nodes/batch`: 201 all stored, 206 some stored, 400 none stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::{validate_batch, BatchError, Error, NodeConfig};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;

/// The 206 body: the stored nodes and one error per rejected node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialBatch {
    /// Stored node configs, in request order.
    pub nodes: Vec<NodeConfig>,
    /// Rejected nodes (index, id, reason), in request order.
    pub errors: Vec<BatchError>,
}

/// Validates every element, stores the valid ones in one registry call, and answers
/// 201 + array (all stored), 206 `{"nodes", "errors"}` (some stored) or 400 `{"errors"}` (none).
/// A body that is not a non-empty array answers 400 `{"error"}`.
pub async fn batch(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (valid, mut errors) = validate_batch(&body, &s.options.governance)
        .map_err(|e| ApiError::BadRequest(e.message))?;
    if valid.is_empty() {
        return Err(ApiError::BatchRejected(errors));
    }
    let (positions, configs): (Vec<(usize, String)>, Vec<NodeConfig>) = valid
        .into_iter()
        .map(|(index, c)| ((index, c.id.clone()), c))
        .unzip();
    let results = s.registry.upsert_batch(configs).await?;
    let mut nodes = Vec::with_capacity(results.len());
    for ((index, id), result) in positions.into_iter().zip(results) {
        match result {
            Ok(record) => nodes.push(record.node),
            Err(Error::Unavailable(e)) => return Err(Error::Unavailable(e).into()),
            Err(e @ (Error::Conflict(_) | Error::Invalid(_))) => {
                errors.push(BatchError::new(index, id, e.field_errors()));
            }
            Err(e) => errors.push(BatchError {
                index,
                id,
                error: e.to_string(),
                fields: Vec::new(),
            }),
        }
    }
    errors.sort_by_key(|e| e.index);
    tracing::info!(
        stored = nodes.len(),
        rejected = errors.len(),
        "batch processed"
    );
    if nodes.is_empty() {
        return Err(ApiError::BatchRejected(errors));
    }
    if errors.is_empty() {
        return Ok((StatusCode::CREATED, Json(nodes)).into_response());
    }
    let partial = PartialBatch { nodes, errors };
    Ok((StatusCode::PARTIAL_CONTENT, Json(partial)).into_response())
}
