//! Errors of the Ollama routes in Ollama's shape, `{"error": "<message>"}`, with the status
//! Ollama uses (400 for bad input, 404 for an unknown model, 503 with `Retry-After` when no node
//! is free), and [`reshape_errors`]: the middleware that turns the OpenAI-shaped errors of the
//! shared machinery (API keys, proxy, engines) into that shape.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::GatewayError;

/// Largest error document read to reshape it; longer ones are answered with a generic message.
const ERROR_READ_LIMIT: usize = 64 * 1024;

/// An Ollama route's error answer: a status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OllamaError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// The `error` text.
    pub message: String,
    /// `Retry-After` seconds, sent with 429 and 503.
    pub retry_after: Option<u32>,
}

impl OllamaError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the request is malformed; `message` names the field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 for a model no node serves, worded as Ollama words it.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("model \"{model}\" not found: no node of the fleet serves it"),
        )
    }

    /// 502: the engine answered something that is not an OpenAI answer.
    pub fn bad_answer(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, what)
    }
}

impl From<GatewayError> for OllamaError {
    fn from(e: GatewayError) -> Self {
        Self {
            status: e.parts().0,
            message: e.to_string(),
            retry_after: e.retry_after(),
        }
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The message of an error document in any shape the gateway or an engine uses:
/// `{"error": {"message": ..}}` (OpenAI), `{"error": ".."}` (Ollama), `{"message": ..}` (vLLM's
/// `object: error`), `{"detail": ..}` (FastAPI).
pub fn message_of(document: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(document).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match value.get("error") {
        Some(serde_json::Value::String(s)) => return Some(s.clone()),
        Some(e @ serde_json::Value::Object(_)) => {
            if let Some(m) = e.get("message").and_then(text) {
                return Some(m);
            }
        }
        _ => {}
    }
    value
        .get("message")
        .and_then(text)
        .or_else(|| value.get("detail").and_then(text))
}

/// Middleware of the Ollama routes: an error answer (4xx/5xx) that is not in Ollama's shape yet
/// is rewritten to `{"error": "<its message>"}`, keeping its status and headers (`Retry-After`,
/// `Allow`, `x-request-id`).
pub async fn reshape_errors(request: Request, next: Next) -> Response {
    reshape(next.run(request).await).await
}

/// [`reshape_errors`] on one response.
pub async fn reshape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = match to_bytes(body, ERROR_READ_LIMIT).await {
        Ok(bytes) => message_of(&bytes).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        }),
        Err(_) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_found_in_every_error_shape() {
        let openai = br#"{"error":{"message":"no such model","type":"x","code":"y"}}"#;
        assert_eq!(message_of(openai).as_deref(), Some("no such model"));
        assert_eq!(message_of(br#"{"error":"bad"}"#).as_deref(), Some("bad"));
        let vllm = br#"{"object":"error","message":"too long","type":"BadRequestError"}"#;
        assert_eq!(message_of(vllm).as_deref(), Some("too long"));
        assert_eq!(message_of(br#"{"detail":"nope"}"#).as_deref(), Some("nope"));
        assert_eq!(message_of(b"not json"), None);
    }

    #[tokio::test]
    async fn an_openai_error_becomes_ollamas_with_status_and_retry_after() {
        let openai = GatewayError::NoCapacity {
            model: "m".into(),
            waited_ms: 5,
        }
        .into_response();
        let reshaped = reshape(openai).await;
        assert_eq!(reshaped.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reshaped.headers()[header::RETRY_AFTER], "2");
        let body = to_bytes(reshaped.into_body(), 1024).await.unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": "no ML node available for model `m` within 5 ms"})
        );
    }

    #[tokio::test]
    async fn success_and_ollama_errors_pass_unchanged() {
        let ok = (StatusCode::OK, "fine").into_response();
        let same = reshape(ok).await;
        assert_eq!(same.status(), StatusCode::OK);
        assert_eq!(&to_bytes(same.into_body(), 64).await.unwrap()[..], b"fine");
        let ours = OllamaError::bad_request("options.top_k must be an integer").into_response();
        let again = reshape(ours).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        let body = to_bytes(again.into_body(), 1024).await.unwrap();
        assert_eq!(
            &body[..],
            br#"{"error":"options.top_k must be an integer"}"#
        );
    }
}
