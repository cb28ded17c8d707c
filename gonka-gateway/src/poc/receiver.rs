//! The PoC callback listener (`--poc-listen`, default :9100): `POST
//! /v2/poc-batches/{model}/generated` stores artifacts durably per (epoch, node, nonce);
//! `/validated` delivers an ML node's verdict to the verification waiting for it
//! ([`super::callbacks`]); `/health`.
//!
//! A `/validated` is refused, with nothing changed and the round unaffected, when its body is
//! malformed (400), when no verification is pending for it (404, or 409 when its round is over:
//! validated, or a later round started),
//! when it names another queued job (409), or when it reports nonces that were not asked for
//! (422).
//!
//! Accepted only while the round's generate or wind-down phase lasts (503 otherwise), for the
//! current round's block hash and height and this participant's key, from a node of the round
//! (400 otherwise: a disabled node is not in the round). An encoding other than
//! `{"dtype": "f16", "k_dim": 12, "endian": "le"}`, or a vector that is not base64 of exactly
//! `k_dim` × 2 bytes → 400 for the whole body (nothing stored or counted). A repeated nonce is skipped, so a retried callback never counts twice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::poc::encoding::{decode_b64, K_DIM, VECTOR_BYTES};
use gonka_core::poc::wire::{GeneratedPayload, ValidatedPayload};
use serde_json::json;

use super::callbacks::CallbackRejection;
use super::phases::Phase;
use super::service::PocService;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The callback's JSON body as `T`: oversize (413) or unreadable bodies keep their status, a
/// body that is not a `what` callback is a 400 naming the problem (answered with [`error`]).
fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, (StatusCode, String)> {
    let body = body.map_err(|rejection| (rejection.status(), rejection.body_text()))?;
    serde_json::from_slice(&body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid {what} body: {e}")))
}

/// Length of the base64 text of one artifact vector ([`VECTOR_BYTES`] bytes, padded).
const VECTOR_B64_LEN: usize = VECTOR_BYTES.div_ceil(3) * 4;

/// The largest callback body accepted (an ML node sends at most 10,000 artifacts, ≈ 0.6 MB).
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024 * 1024;

/// The callback routes over `service`.
pub fn receiver_router(service: Arc<PocService>) -> Router {
    Router::new()
        .route("/health", get(crate::handlers::health::health))
        .route("/v2/poc-batches/{model}/generated", post(generated))
        .route("/v2/poc-batches/{model}/validated", post(validated))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CALLBACK_BYTES))
        .with_state(service)
}

async fn validated(
    State(service): State<Arc<PocService>>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload: ValidatedPayload = match parse_body(body, "validated") {
        Ok(p) => p,
        Err((status, message)) => return error(status, message),
    };
    // The path segment is escaped twice (upstream's PathEscape(PathEscape(model))); the router
    // undid one level.
    let Some(model) = path_unescape(&model) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("model {model:?} in the callback path is not a valid escaped model id"),
        );
    };
    let height = payload.block_height;
    match service.config.callbacks.deliver(&model, payload) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(rejection @ CallbackRejection::NotPending(_)) if service.round_is_over(height) => {
            error(
                StatusCode::CONFLICT,
                format!("the PoC round at height {height} is over: {rejection}"),
            )
        }
        Err(rejection) => error(
            StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST),
            rejection.to_string(),
        ),
    }
}

/// Undoes one level of `%XX` escaping (`None` for a malformed escape or non-UTF-8 result).
fn path_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn generated(
    State(service): State<Arc<PocService>>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload: GeneratedPayload = match parse_body(body, "generated") {
        Ok(p) => p,
        Err((status, message)) => return error(status, message),
    };
    let now = service.config.clock.now();
    if !matches!(now.phase, Phase::Generate | Phase::WindDown) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "PoC artifacts are accepted only in the generate and wind-down phases; epoch {} is in {:?}",
                now.epoch, now.phase
            ),
        );
    }
    let Some(round) = service.round(now.epoch) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no PoC round was started for epoch {}", now.epoch),
        );
    };
    if payload.block_hash != round.info.block_hash
        || payload.block_height != round.info.poc_start_block_height
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "stale round: block {} at height {} is not the current round (height {})",
                payload.block_hash, payload.block_height, round.info.poc_start_block_height
            ),
        );
    }
    if payload.public_key != service.config.public_key {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "public_key {} is not this participant's",
                payload.public_key
            ),
        );
    }
    if !round.members.contains_key(&payload.node_id) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "node_id {} is not an ML node of this round (unknown or disabled)",
                payload.node_id
            ),
        );
    }
    let encoding = &payload.encoding;
    if (
        encoding.dtype.as_str(),
        encoding.k_dim,
        encoding.endian.as_str(),
    ) != ("f16", K_DIM, "le")
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported artifact encoding {{dtype: {:?}, k_dim: {}, endian: {:?}}}; expected \
                 {{dtype: \"f16\", k_dim: {K_DIM}, endian: \"le\"}}",
                encoding.dtype, encoding.k_dim, encoding.endian
            ),
        );
    }
    let mut rows = Vec::with_capacity(payload.artifacts.len());
    for a in &payload.artifacts {
        // The exact base64 length of VECTOR_BYTES, checked before decoding anything larger.
        let vector = if a.vector_b64.len() == VECTOR_B64_LEN {
            decode_b64(&a.vector_b64).ok()
        } else {
            None
        };
        match vector {
            Some(v) if v.len() == VECTOR_BYTES => rows.push((a.nonce, v)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "artifact of nonce {}: vector_b64 must be standard base64 of exactly \
                         {VECTOR_BYTES} bytes ({K_DIM} little-endian f16 values, \
                         {VECTOR_B64_LEN} characters); got {} characters",
                        a.nonce,
                        a.vector_b64.len()
                    ),
                )
            }
        }
    }
    match service
        .config
        .store
        .insert(now.epoch, payload.node_id, &rows)
        .await
    {
        Ok(added) => {
            tracing::debug!(
                epoch = now.epoch,
                node_id = payload.node_id,
                %model,
                received = rows.len(),
                added,
                "PoC artifacts stored"
            );
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store PoC artifacts");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// The participants route for the public API: `GET /v1/epochs/{epoch}/participants` with
/// `current` (the latest validated epoch) or an epoch number.
pub fn participants_router(service: Arc<PocService>) -> Router {
    Router::new()
        .route("/v1/epochs/{epoch}/participants", get(participants))
        .with_state(service)
}

async fn participants(
    State(service): State<Arc<PocService>>,
    Path(epoch): Path<String>,
) -> Response {
    let result = if epoch == "current" {
        service.latest_result()
    } else {
        match epoch.parse::<u64>() {
            Ok(e) if e >= 1 => service.result(e),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("epoch must be `current` or a number ≥ 1, got {epoch:?}"),
                )
            }
        }
    };
    match result {
        Some(r) => Json(service.participants(&r)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no validated PoC result for epoch {epoch} yet"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::path_unescape;

    #[test]
    fn callback_model_ids_lose_one_level_of_escaping() {
        assert_eq!(
            path_unescape("Qwen%2FQwen3-32B-FP8").as_deref(),
            Some("Qwen/Qwen3-32B-FP8")
        );
        assert_eq!(path_unescape("plain").as_deref(), Some("plain"));
        assert_eq!(path_unescape("bad%2"), None);
        assert_eq!(path_unescape("bad%zz"), None);
    }
}
