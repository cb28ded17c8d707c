//! JSON answers for unknown routes and wrong methods.

use axum::http::{Method, Uri};

use crate::error::ApiError;

/// Any unknown path → 404 `{"error": "no such endpoint: GET /x"}`.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// A known path with another method → 405 `{"error": "method ... is not allowed on ..."}`.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
