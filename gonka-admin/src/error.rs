//! The one place where errors become HTTP responses: [`ApiError`] and its `IntoResponse`.
//!
//! Every error body is JSON with an `error` string; validation failures add `fields` (the
//! individual problems) and batch rejections carry `errors` (one entry per rejected node).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::{BatchError, Error, FieldError};
use serde_json::json;

/// An error answered by the admin API. Handlers return `Result<_, ApiError>` and use `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A registry or validation error from gonka-core.
    #[error(transparent)]
    Core(#[from] Error),
    /// The request is malformed (bad JSON, wrong shape); the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON according to its `Content-Type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the configured limit (bytes).
    #[error("request body too large: the limit is {limit} bytes")]
    PayloadTooLarge {
        /// The configured body limit in bytes.
        limit: usize,
    },
    /// Missing or wrong bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// A request a web page could have sent: foreign `Origin` or unexpected `Host`.
    #[error("{0}")]
    Forbidden(String),
    /// No route matches the path.
    #[error("no such endpoint: {method} {path}")]
    NoRoute {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The path exists but not with this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// Too many large request bodies at once (503 with `Retry-After`); the message says so.
    #[error("{0}")]
    Overloaded(String),
    /// The call conflicts with the resource's current state (409), e.g. an illegal state-machine
    /// transition or a name that is taken; the message names both sides.
    #[error("{0}")]
    Conflict(String),
    /// Every node of a batch was rejected (400 `{"errors": [...]}`).
    #[error("all nodes failed validation")]
    BatchRejected(Vec<BatchError>),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Core(e) => core_status(e),
            ApiError::BadRequest(_) | ApiError::BatchRejected(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    /// A validation failure on one field, answered 400 with `fields`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Core(Error::Invalid(vec![FieldError::new(field, message)]))
    }
}

fn core_status(e: &Error) -> StatusCode {
    match e {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid(_) | Error::Conflict(_) => StatusCode::BAD_REQUEST,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Busy(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Core(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
                json!({"error": e.to_string(), "fields": e.field_errors()})
            }
            ApiError::BatchRejected(errors) => json!({"errors": errors}),
            other => json!({"error": other.to_string()}),
        };
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "admin request failed");
        }
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Overloaded(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_their_status() {
        let cases = [
            (Error::NotFound { id: "n".into() }, 404),
            (Error::Invalid(vec![FieldError::new("id", "bad")]), 400),
            (Error::Conflict(FieldError::new("poc_port", "dup")), 400),
            (Error::unavailable(std::io::Error::other("disk")), 503),
            (Error::Busy("x".into()), 409),
            (Error::Engine("x".into()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status().as_u16(), status);
        }
    }

    #[test]
    fn limits_and_routes_have_their_status() {
        assert_eq!(ApiError::PayloadTooLarge { limit: 1 }.status(), 413);
        assert_eq!(ApiError::Unauthorized("x".into()).status(), 401);
        assert_eq!(ApiError::Forbidden("x".into()).status(), 403);
        assert_eq!(ApiError::UnsupportedMediaType("x".into()).status(), 415);
        let no_route = ApiError::NoRoute {
            method: "GET".into(),
            path: "/x".into(),
        };
        assert_eq!(no_route.status(), 404);
        assert_eq!(no_route.to_string(), "no such endpoint: GET /x");
    }
}
