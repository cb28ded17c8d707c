//! Optional API keys on the public API: `Authorization: Bearer sk-...`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;

/// Accepted keys; empty means every request is allowed.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(pub Arc<HashSet<String>>);

/// Middleware: 401 in OpenAI shape unless the bearer token is one of the keys (when keys are set).
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Response {
    if keys.0.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(key) if keys.0.contains(key) => next.run(request).await,
        Some(_) => GatewayError::Unauthorized("incorrect API key provided".into()).into_response(),
        None => GatewayError::Unauthorized(
            "missing API key: send it as `Authorization: Bearer sk-...`".into(),
        )
        .into_response(),
    }
}
