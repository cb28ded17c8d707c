//! `POST /api/embed` (and the older `POST /api/embeddings`): through the proxy to the
//! `/v1/embeddings` route of a node serving the model. A node whose engine has no such route
//! answers 404 or 405; that becomes a 501 saying no node of the model offers embeddings.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::{message_of, reshape, OllamaError};
use super::fields::{self, wrong};
use super::relay::resolve_model;
use crate::server::AppState;

const DOCUMENT_LIMIT: usize = 64 * 1024 * 1024;

/// Which Ollama embeddings route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/api/embed`: `input` (text or list), answers `embeddings` (a list of vectors).
    Embed,
    /// `/api/embeddings`: `prompt`, answers one `embedding`.
    Embeddings,
}

/// `POST /api/embed`.
pub async fn embed(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    run(&state, headers, body, Route::Embed).await
}

/// `POST /api/embeddings` (Ollama's older route).
pub async fn embeddings(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    run(&state, headers, body, Route::Embeddings).await
}

/// The OpenAI embeddings request for an Ollama one: `(model, body)`.
fn translate(
    map: &Map<String, Value>,
    route: Route,
) -> Result<(String, Map<String, Value>), OllamaError> {
    let model = fields::model(map)?;
    let input = match route {
        Route::Embed => match fields::get(map, "input") {
            Some(Value::String(s)) => json!([s]),
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err(wrong(&format!("input[{i}]"), "a string", item));
                    }
                }
                Value::Array(items.clone())
            }
            Some(other) => {
                return Err(wrong(
                    "input",
                    "a string or a non-empty list of strings",
                    other,
                ))
            }
            None => return Err(OllamaError::bad_request("input is required")),
        },
        Route::Embeddings => {
            let prompt = fields::string(map, "prompt", "prompt")?
                .ok_or_else(|| OllamaError::bad_request("prompt is required"))?;
            json!([prompt])
        }
    };
    fields::boolean(map, "truncate", "truncate")?;
    super::options::keep_alive(map)?;
    // Sampling options mean nothing here; they are still checked, as Ollama does.
    super::options::apply(map.get("options"), &mut Map::new())?;
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("input".into(), input);
    body.insert("encoding_format".into(), json!("float"));
    if let Some(d) = fields::integer(map, "dimensions", "dimensions")? {
        if d < 1 {
            return Err(OllamaError::bad_request(format!(
                "invalid dimensions: must be 1 or more, got {d}"
            )));
        }
        body.insert("dimensions".into(), json!(d));
    }
    Ok((model, body))
}

async fn run(state: &AppState, mut headers: HeaderMap, body: Body, route: Route) -> Response {
    let started = Instant::now();
    let body = match super::relay::read_body(state, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (model, mut openai) = match fields::object(&body).and_then(|m| translate(&m, route)) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    openai.insert(
        "model".into(),
        json!(resolve_model(state.proxy.pool(), &model)),
    );
    let Ok(bytes) = serde_json::to_vec(&Value::Object(openai)) else {
        return OllamaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the request",
        )
        .into_response();
    };
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let endpoint = match route {
        Route::Embed => "/api/embed",
        Route::Embeddings => "/api/embeddings",
    };
    let response = state
        .proxy
        .forward_as(
            gonka_core::traces::TraceApi::Ollama,
            endpoint,
            "/v1/embeddings",
            &headers,
            Bytes::from(bytes),
        )
        .await;
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
        let document = to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        let unknown_model = serde_json::from_slice::<Value>(&document)
            .ok()
            .and_then(|v| v.pointer("/error/code").cloned())
            == Some(json!("model_not_found"));
        if unknown_model {
            let message = message_of(&document).unwrap_or_default();
            return OllamaError::new(StatusCode::NOT_FOUND, message).into_response();
        }
        return OllamaError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("no node serving \"{model}\" offers embeddings: its engine has no /v1/embeddings route"),
        )
        .into_response();
    }
    if !status.is_success() {
        return reshape(response).await;
    }
    let (parts, body) = response.into_parts();
    let mut answer = answer_of(body, &model, route, started).await;
    crate::proxy::copy_routing_headers(&parts.headers, answer.headers_mut());
    answer
}

/// The embeddings answer from the proxy's successful `body`.
async fn answer_of(body: Body, model: &str, route: Route, started: Instant) -> Response {
    let document = match to_bytes(body, DOCUMENT_LIMIT).await {
        Ok(d) => d,
        Err(e) => {
            return OllamaError::bad_answer(format!("cannot read the engine's answer: {e}"))
                .into_response()
        }
    };
    match answer(model, &document, route, started) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Ollama's answer from OpenAI's embeddings `document`.
fn answer(
    model: &str,
    document: &[u8],
    route: Route,
    started: Instant,
) -> Result<Value, OllamaError> {
    let v: Value = serde_json::from_slice(document)
        .map_err(|e| OllamaError::bad_answer(format!("the engine's answer is not JSON: {e}")))?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| OllamaError::bad_answer("the engine's embeddings answer has no data"))?;
    let mut vectors: Vec<(u64, Value)> = Vec::with_capacity(data.len());
    for (i, item) in data.iter().enumerate() {
        let embedding = item
            .get("embedding")
            .filter(|e| e.is_array())
            .ok_or_else(|| OllamaError::bad_answer("an embedding is not a list of floats"))?;
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(i as u64);
        vectors.push((index, embedding.clone()));
    }
    vectors.sort_by_key(|(i, _)| *i);
    if route == Route::Embeddings {
        let first = vectors
            .into_iter()
            .next()
            .map(|(_, e)| e)
            .unwrap_or(json!([]));
        return Ok(json!({ "embedding": first }));
    }
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut out = json!({
        "model": model,
        "embeddings": vectors.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        "total_duration": nanos,
        "load_duration": 0,
    });
    if let Some(n) = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64) {
        out["prompt_eval_count"] = json!(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(v: Value, route: Route) -> Result<(String, Map<String, Value>), OllamaError> {
        translate(v.as_object().unwrap(), route)
    }

    #[test]
    fn input_becomes_an_openai_list_of_floats_request() {
        let (model, body) = tr(
            json!({"model": "e", "input": "hello", "dimensions": 8}),
            Route::Embed,
        )
        .unwrap();
        assert_eq!(model, "e");
        assert_eq!(
            Value::Object(body),
            json!({"model": "e", "input": ["hello"], "encoding_format": "float", "dimensions": 8})
        );
        let (_, body) = tr(json!({"model": "e", "prompt": "x"}), Route::Embeddings).unwrap();
        assert_eq!(body["input"], json!(["x"]));
    }

    #[test]
    fn bad_input_is_named() {
        for (body, field) in [
            (json!({"model": "e"}), "input"),
            (json!({"model": "e", "input": []}), "input"),
            (json!({"model": "e", "input": ["a", 1]}), "input[1]"),
            (
                json!({"model": "e", "input": "a", "dimensions": 0}),
                "dimensions",
            ),
            (
                json!({"model": "e", "input": "a", "truncate": "no"}),
                "truncate",
            ),
        ] {
            let e = tr(body, Route::Embed).unwrap_err();
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
    }

    #[test]
    fn vectors_come_back_in_input_order() {
        let doc = br#"{"object":"list","data":[{"index":1,"embedding":[0.5]},{"index":0,"embedding":[0.25]}],"usage":{"prompt_tokens":3}}"#;
        let v = answer("e", doc, Route::Embed, Instant::now()).unwrap();
        assert_eq!(v["embeddings"], json!([[0.25], [0.5]]));
        assert_eq!(v["prompt_eval_count"], 3);
        let v = answer("e", doc, Route::Embeddings, Instant::now()).unwrap();
        assert_eq!(v, json!({"embedding": [0.25]}));
        assert!(answer("e", b"{}", Route::Embed, Instant::now()).is_err());
    }
}
