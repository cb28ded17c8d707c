//! A fast mock OpenAI worker for the load harness: answers `POST /v1/chat/completions` (JSON, or
//! SSE when the body asks for `"stream": true`, with a usage event before `[DONE]` when it also
//! asks `stream_options.include_usage`) after a fixed latency, and the ML-node management
//! calls the gateway's health checker and broker make (`/health`, `/api/v1/state`,
//! `/api/v1/gpu/devices`, `/api/v1/inference/up`), so one port serves as both inference and
//! management endpoint. It is deliberately lean (plain hyper, no router, precomputed bodies) so
//! that it is the ceiling of the comparison, not the bottleneck.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

/// How the mock worker answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// Model name reported by `/v1/models` and `/api/v1/state` and echoed in completions.
    pub model: String,
    /// Delay before the response head of every completion (the worker's "compute time").
    pub latency: Duration,
    /// Content chunks in a streamed answer (each one SSE event); the JSON answer holds the same
    /// text in one message.
    pub tokens: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            model: crate::MODEL.to_owned(),
            latency: Duration::from_millis(1),
            tokens: 8,
        }
    }
}

/// Bodies computed once at start, shared by every connection.
#[derive(Debug)]
struct Canned {
    config: MockConfig,
    answers: crate::canned::Answers,
}

impl Canned {
    fn new(config: MockConfig) -> Self {
        let answers = crate::canned::Answers::new(&config.model, config.tokens, "mock", None);
        Self { config, answers }
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(body: Bytes) -> Response<Body> {
    full(StatusCode::OK, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}});
    full(status, "application/json", Bytes::from(body.to_string()))
}

/// How a request asks to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// One JSON document (with `usage`, as every engine sends it).
    Document,
    /// SSE events; `usage`: a usage event before `[DONE]` (`stream_options.include_usage`).
    Stream { usage: bool },
}

/// What a request body asks for. Only `stream` and `stream_options.include_usage` matter; the
/// worker does not check the rest of the request.
fn wanted(body: &[u8]) -> Result<Wanted, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
    let stream = value
        .get("stream")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let usage = value
        .pointer("/stream_options/include_usage")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    Ok(if stream {
        Wanted::Stream { usage }
    } else {
        Wanted::Document
    })
}

async fn handle(canned: Arc<Canned>, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (method, path.as_str()) {
        (Method::POST, "/v1/chat/completions" | "/v1/completions") => {
            let body = match request.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")),
            };
            let wanted = match wanted(&body) {
                Ok(w) => w,
                Err(message) => return error(StatusCode::BAD_REQUEST, &message),
            };
            if !canned.config.latency.is_zero() {
                tokio::time::sleep(canned.config.latency).await;
            }
            if let Wanted::Stream { usage } = wanted {
                let mut chunks = canned.answers.chunks.clone();
                if usage {
                    // Before the closing `[DONE]`, as vLLM and llama.cpp send it.
                    let at = chunks.len().saturating_sub(1);
                    chunks.insert(at, canned.answers.usage_chunk.clone());
                }
                let frames = chunks
                    .into_iter()
                    .map(|c| Ok::<_, Infallible>(Frame::data(c)));
                let mut response = Response::new(StreamBody::new(stream::iter(frames)).boxed());
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                response
            } else {
                json(canned.answers.completion.clone())
            }
        }
        (Method::GET, "/health" | "/livez" | "/readyz") => {
            json(Bytes::from_static(br#"{"status":"ok"}"#))
        }
        (Method::GET, "/api/v1/state") => json(canned.answers.state.clone()),
        (Method::GET, "/v1/models") => json(canned.answers.models.clone()),
        (Method::GET, "/api/v1/gpu/devices") => {
            json(Bytes::from_static(br#"{"devices":[],"count":0}"#))
        }
        (Method::POST, "/api/v1/inference/up") => json(Bytes::from_static(br#"{"status":"OK"}"#)),
        (Method::GET | Method::POST, _) => error(
            StatusCode::NOT_FOUND,
            &format!("no route for {path} on the mock worker"),
        ),
        (method, _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("method {method} not allowed on the mock worker"),
        ),
    }
}

/// Serves the mock worker on `listener` until `shutdown` completes; connections still open then
/// are dropped.
///
/// # Errors
/// Only when accepting on the listener fails for good (not for a failed connection).
pub async fn serve(
    listener: TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let canned = Arc::new(Canned::new(config));
    crate::serve::serve(
        listener,
        move |req| handle(Arc::clone(&canned), req),
        shutdown,
    )
    .await
}
