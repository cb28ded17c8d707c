//! `POST /v1/chat/completions` and `POST /v1/completions`: proxied to a chosen ML node.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::GatewayError;
use crate::server::AppState;

/// Reads the body (up to the limit) and forwards it to `path` on a chosen node.
pub(crate) async fn forward(
    state: &AppState,
    path: &str,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read_body(body, state.body_limit).await {
        Ok(bytes) => state.proxy.forward(path, &headers, bytes).await,
        Err(e) => e.into_response(),
    }
}

/// The request body, up to `limit` bytes.
///
/// # Errors
/// `PayloadTooLarge` over the limit, `BadRequest` when the body cannot be read.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            GatewayError::PayloadTooLarge { limit }
        } else {
            GatewayError::BadRequest(format!("cannot read request body: {e}"))
        }
    })
}

/// Chat completions, streaming or not.
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(&state, "/v1/chat/completions", headers, body).await
}

/// Text completions, streaming or not.
pub async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    forward(&state, "/v1/completions", headers, body).await
}
