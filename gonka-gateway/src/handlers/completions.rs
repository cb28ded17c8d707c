//! `POST /v1/chat/completions` and `POST /v1/completions`: proxied to a chosen ML node.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;
use crate::server::AppState;

/// Reads the body (up to the limit) and forwards it to `path` on a chosen node.
pub(crate) async fn forward(
    state: &AppState,
    path: &str,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match to_bytes(body, state.body_limit).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                return GatewayError::PayloadTooLarge {
                    limit: state.body_limit,
                }
                .into_response();
            }
            return GatewayError::BadRequest(format!("cannot read request body: {e}"))
                .into_response();
        }
    };
    state.proxy.forward(path, &headers, bytes).await
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
