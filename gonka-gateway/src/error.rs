//! The errors of the gateway and their one mapping to HTTP: the OpenAI error shape
//! `{"error": {"message", "type", "code"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors the gateway answers clients with, or fails to start with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The request body is not what the endpoint accepts.
    #[error("{0}")]
    BadRequest(String),
    /// No or a wrong API key.
    #[error("{0}")]
    Unauthorized(String),
    /// No registered node declares the model (nor any fallback).
    #[error("the model `{0}` does not exist or no node serves it")]
    ModelNotFound(String),
    /// No node became free within the queue timeout.
    #[error("no ML node available for model `{model}` within {waited_ms} ms")]
    NoCapacity {
        /// Requested model.
        model: String,
        /// How long the request waited.
        waited_ms: u128,
    },
    /// The holding queue is full.
    #[error("too many requests waiting for model `{0}`; retry later")]
    QueueFull(String),
    /// Every try failed before the first byte.
    #[error("upstream ML node failed: {0}")]
    Upstream(String),
    /// The upstream did not answer in time.
    #[error("upstream ML node timed out: {0}")]
    Timeout(String),
    /// The gateway is shutting down.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// Startup or I/O failure (bind, registry).
    #[error("{0}")]
    Startup(String),
}

impl GatewayError {
    /// HTTP status, OpenAI `type` and `code` of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            GatewayError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
            ),
            GatewayError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
            ),
            GatewayError::ModelNotFound(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
            ),
            GatewayError::NoCapacity { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "no_capacity",
            ),
            GatewayError::QueueFull(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "queue_full",
            ),
            GatewayError::Upstream(_) => {
                (StatusCode::BAD_GATEWAY, "server_error", "upstream_error")
            }
            GatewayError::Timeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "server_error",
                "upstream_timeout",
            ),
            GatewayError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "shutting_down",
            ),
            GatewayError::Startup(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
            ),
        }
    }
}

pub use gonka_core::server::openai_error;

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        openai_error(status, kind, code, &self.to_string())
    }
}
