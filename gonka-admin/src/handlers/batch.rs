//! `POST /admin/v1/nodes/batch`: 201 all stored, 206 some stored, 400 none stored.

use std::fmt;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::{validate_batch, BatchError, BatchValidator, Error, GovernanceModels, NodeConfig};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{malformed, JsonBytes};
use crate::openapi::{BatchBadRequest, ErrorBody};
use crate::state::AppState;

/// The 206 body: the stored nodes and one error per rejected node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartialBatch {
    /// Stored node configs, in request order.
    pub nodes: Vec<NodeConfig>,
    /// Rejected nodes (index, id, reason), in request order.
    pub errors: Vec<BatchError>,
}

#[utoipa::path(post, path = "/admin/v1/nodes/batch", tag = "nodes", operation_id = "batch_nodes",
    request_body(content = Vec<NodeConfig>, description = "A non-empty array of nodes", example = json!([{"id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080, "models": {"Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}}, "max_concurrent": 500}])),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Every node stored", body = Vec<NodeConfig>),
        (status = 206, description = "Some nodes stored; `errors` names the rejected ones", body = PartialBatch),
        (status = 400, description = "Not a non-empty JSON array (`error`), or every node rejected (`errors`)", body = BatchBadRequest),
        (status = 413, description = "Body larger than the configured limit", body = ErrorBody),
        (status = 415, description = "Body not sent with `Content-Type: application/json`", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
        (status = 503, description = "Registry unavailable, or too many large bodies at once (with `Retry-After`)", body = ErrorBody),
    ),
)]
/// Validates every element, stores the valid ones in one registry call, and answers
/// 201 + array (all stored), 206 `{"nodes", "errors"}` (some stored) or 400 `{"errors"}` (none).
/// A body that is not a non-empty array answers 400 `{"error"}`.
///
/// The body is validated element by element as it is parsed (one element's JSON at a time, never
/// the whole document as a `Value`) and dropped before the registry is called, so a large batch
/// is held about once, as typed nodes.
pub async fn batch(
    State(s): State<AppState>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let (valid, mut errors) = parse_batch(&body, &s.options.governance)?;
    drop(body);
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

/// Parses and validates a batch body: an array is validated element by element while parsed;
/// anything else is parsed whole for [`validate_batch`]'s message about its shape.
#[allow(clippy::type_complexity)]
fn parse_batch(
    body: &[u8],
    governance: &GovernanceModels,
) -> Result<(Vec<(usize, NodeConfig)>, Vec<BatchError>), ApiError> {
    let shape = |e: gonka_core::FieldError| ApiError::BadRequest(e.message);
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
        return validate_batch(&value, governance).map_err(shape);
    }
    let mut validator = BatchValidator::new(governance);
    let mut de = serde_json::Deserializer::from_slice(body);
    Elements(&mut validator)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| malformed(&e))?;
    validator.finish().map_err(shape)
}

/// Feeds each element of a JSON array to a [`BatchValidator`] as soon as it is parsed.
struct Elements<'v, 'g>(&'v mut BatchValidator<'g>);

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of nodes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            self.0.push(&item);
        }
        Ok(())
    }
}
