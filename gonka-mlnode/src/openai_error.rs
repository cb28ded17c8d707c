//! The OpenAI error shape `{"error": {"message", "type", "code"}}` used on every inference
//! endpoint (simulator and proxy).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A response with `status` and body `{"error": {"message", "type", "code", "param": null}}`.
pub fn openai_error(
    status: StatusCode,
    message: impl Into<String>,
    kind: &str,
    code: &str,
) -> Response {
    let body = serde_json::json!({
        "error": {
            "message": message.into(),
            "type": kind,
            "param": null,
            "code": code,
        }
    });
    (status, Json(body)).into_response()
}

/// `400` with type `invalid_request_error`.
pub fn bad_request(message: impl Into<String>) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        "invalid_request",
    )
}
