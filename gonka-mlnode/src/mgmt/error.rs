//! Error responses of the management API: `{"detail": "...", "error": "..."}` (`detail` is
//! upstream's key, `error` ours), status decided here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::mlnode_api::ErrorReply;

use crate::agent::AgentError;

/// An error answered by the management API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message naming the problem.
    pub message: String,
}

impl ApiError {
    /// `400` with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        let status = match e {
            AgentError::Invalid(_) => StatusCode::BAD_REQUEST,
            AgentError::Conflict(_) => StatusCode::CONFLICT,
            AgentError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorReply::new(self.message))).into_response()
    }
}
