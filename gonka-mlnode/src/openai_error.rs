//! `400 invalid_request_error` in the OpenAI error shape of `gonka_core::server::openai_error`,
//! for the simulator's request checks.

use axum::http::StatusCode;
use axum::response::Response;
use gonka_core::server::openai_error;

/// `400` with type `invalid_request_error` and code `invalid_request`.
pub(crate) fn bad_request(message: impl AsRef<str>) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
        message.as_ref(),
    )
}
