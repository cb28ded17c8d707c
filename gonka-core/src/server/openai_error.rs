//! The OpenAI error shape `{"error": {"message", "type", "param", "code"}}` of every inference
//! endpoint (the gateway, the ML node's proxy and simulator).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The body `{"error": {"message", "type", "param": null, "code"}}`.
pub fn openai_error_body(kind: &str, code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "message": message,
            "type": kind,
            "param": null,
            "code": code,
        }
    })
}

/// A JSON response with `status` and the body of [`openai_error_body`] (`kind` is OpenAI's
/// `type`, e.g. `invalid_request_error`; `code` e.g. `model_not_found`).
pub fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (status, Json(openai_error_body(kind, code, message))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_openais_fields_and_the_status_is_kept() {
        let body = openai_error_body("invalid_request_error", "model_not_found", "no such model");
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "message": "no such model",
                "type": "invalid_request_error",
                "param": null,
                "code": "model_not_found",
            }})
        );
        let response = openai_error(StatusCode::NOT_FOUND, "a", "b", "c");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
