//! The one path of `/api/chat` and `/api/generate` through the gateway: the translated request
//! goes through the same [`crate::proxy::Proxy`] as `/v1` (scheduler, holding queue, retries,
//! fallbacks, metrics), and its answer comes back in Ollama's shape: an SSE stream as NDJSON
//! lines, a document as one object (or one line when the client asked for a stream), an error
//! as `{"error": "..."}` with its status.

use std::convert::Infallible;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::answer::Reply;
use super::error::{reshape, OllamaError};
use super::ndjson::SseToNdjson;
use super::request::Translated;
use crate::pool::NodePool;
use crate::server::AppState;

/// Content type of Ollama's streams.
pub const NDJSON: &str = "application/x-ndjson";

/// Largest non-streamed answer read to translate it.
const DOCUMENT_LIMIT: usize = 64 * 1024 * 1024;

/// The model to route `model` to: itself, or without Ollama's default tag `:latest` when only
/// that name is served (clients add the tag to names that have none).
pub fn resolve_model(pool: &NodePool, model: &str) -> String {
    match model.strip_suffix(":latest") {
        Some(base) if !pool.declares(model) && pool.declares(base) => base.to_owned(),
        _ => model.to_owned(),
    }
}

/// The request body, up to the gateway's body limit (as `/v1` reads it).
///
/// # Errors
/// 413 over the limit, 400 when the body cannot be read.
pub async fn read_body(state: &AppState, body: Body) -> Result<Bytes, OllamaError> {
    crate::handlers::completions::read_body(body, state.body_limit)
        .await
        .map_err(OllamaError::from)
}

/// One Ollama request end to end: reads the body (within the gateway's limit), translates the
/// JSON object with `translate`, relays it and answers in Ollama's shape; a body that cannot be
/// read or translated is answered with its error (413, or 400 naming the field).
pub async fn handle(
    state: &AppState,
    headers: HeaderMap,
    body: Body,
    translate: fn(&serde_json::Map<String, Value>) -> Result<Translated, OllamaError>,
) -> Response {
    let started = Instant::now();
    let body = match read_body(state, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match super::fields::object(&body).and_then(|map| translate(&map)) {
        Ok(t) => relay(state, headers, t, started).await,
        Err(e) => e.into_response(),
    }
}

/// Sends `t` through the proxy and answers in Ollama's shape; `started` is when the request
/// arrived (Ollama's `total_duration` counts from there).
pub async fn relay(
    state: &AppState,
    mut headers: HeaderMap,
    mut t: Translated,
    started: Instant,
) -> Response {
    let reply = Reply {
        shape: t.shape,
        model: t.model.clone(),
        started,
    };
    let routed = resolve_model(state.proxy.pool(), &t.model);
    if t.load_only {
        // Nothing to generate: Ollama only loads the model. Nothing is routed.
        if !state.proxy.pool().declares(&routed) {
            return OllamaError::model_not_found(&t.model).into_response();
        }
        return one_answer(t.stream, &reply.load());
    }
    t.body.insert("model".into(), Value::String(routed));
    if let Some(num_ctx) = t.routing.num_ctx {
        // The proxy's context protection routes by it and strips it (crate::context).
        t.body.insert("num_ctx".into(), Value::from(num_ctx));
    }
    let accept = if t.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    let body = match serde_json::to_vec(&Value::Object(t.body)) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            return OllamaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the request: {e}"),
            )
            .into_response()
        }
    };
    let endpoint = match t.shape {
        super::request::Shape::Chat => "/api/chat",
        super::request::Shape::Generate => "/api/generate",
    };
    let response = state
        .proxy
        .forward_as(
            gonka_core::traces::TraceApi::Ollama,
            endpoint,
            t.path,
            &headers,
            body,
        )
        .await;
    translate(response, reply, t.stream).await
}

/// The proxy's `response` in Ollama's shape, still naming where it went
/// ([`crate::proxy::copy_routing_headers`]).
async fn translate(response: Response, reply: Reply, stream: bool) -> Response {
    if !response.status().is_success() {
        return reshape(response).await;
    }
    let routing = response.headers().clone();
    let mut answer = translate_success(response, reply, stream).await;
    crate::proxy::copy_routing_headers(&routing, answer.headers_mut());
    answer
}

async fn translate_success(response: Response, reply: Reply, stream: bool) -> Response {
    let sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if sse {
        return ndjson_stream(response.into_body(), reply);
    }
    let document = match to_bytes(response.into_body(), DOCUMENT_LIMIT).await {
        Ok(d) => d,
        Err(e) => {
            return OllamaError::bad_answer(format!("cannot read the engine's answer: {e}"))
                .into_response()
        }
    };
    match reply.of_document(&document) {
        Ok(answer) => one_answer(stream, &answer),
        Err(e) => e.into_response(),
    }
}

/// `answer` as a JSON document, or as the one line of an NDJSON stream.
fn one_answer(stream: bool, answer: &Value) -> Response {
    if stream {
        let mut line = answer.to_string();
        line.push('\n');
        ([(header::CONTENT_TYPE, NDJSON)], line).into_response()
    } else {
        axum::Json(answer).into_response()
    }
}

/// The SSE `body` as NDJSON lines, translated as it arrives. The upstream body is read to its
/// end even after the last line (so the proxy sees the answer complete and frees the node's
/// slot as a success); the client leaving drops it (the proxy cancels).
fn ndjson_stream(body: Body, reply: Reply) -> Response {
    let upstream = body.into_data_stream();
    let lines = futures::stream::unfold(
        (upstream, SseToNdjson::new(reply), false),
        |(mut upstream, mut translator, finished)| async move {
            if finished {
                return None;
            }
            let (bytes, finished) = match upstream.next().await {
                Some(Ok(chunk)) => (translator.push(&chunk), false),
                Some(Err(e)) => (translator.fail(&e.to_string()), true),
                None => (translator.finish(), true),
            };
            Some((
                Ok::<Bytes, Infallible>(bytes),
                (upstream, translator, finished),
            ))
        },
    )
    .filter(|chunk| std::future::ready(chunk.as_ref().is_ok_and(|b| !b.is_empty())));
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response()
}
