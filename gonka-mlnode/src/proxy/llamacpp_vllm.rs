//! vLLM's `POST /tokenize`, `POST /detokenize` and `GET /v1/models` answered by a llama.cpp
//! engine.
//!
//! Upstream's network node counts prompt tokens with vLLM's `/tokenize` (`{model, prompt}` or
//! `{model, messages}` → `{count, max_model_len, tokens}`); `llama-server` has the same path with
//! other words (`{content}` → `{tokens}`, chat templates through `/apply-template`, the context
//! size in `/props`), and its `/v1/models` entries lack vLLM's `max_model_len` and `root`. On a
//! llama.cpp node the proxy translates, so the network node reads the answer it expects whichever
//! engine serves.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::trace_context::SendTraced;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::openai_error::bad_request;
use gonka_core::server::openai_error;

/// vLLM's tokenize request: a completion `prompt` or chat `messages`.
#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Value>>,
    /// vLLM's default: true for a prompt, false for messages (the template adds them).
    #[serde(default)]
    add_special_tokens: Option<bool>,
    #[serde(default)]
    return_token_strs: bool,
}

/// vLLM's detokenize request.
#[derive(Debug, Deserialize)]
struct DetokenizeRequest {
    tokens: Vec<i64>,
}

/// One POST to the engine; its JSON answer, or the proxy's 502 naming the engine's failure.
async fn engine_json(
    client: &reqwest::Client,
    base_url: &str,
    path: &str,
    body: &Value,
) -> Result<Value, Response> {
    let failed = |why: String| {
        tracing::warn!(path, error = %why, "llama.cpp tokenizer call failed");
        openai_error(
            StatusCode::BAD_GATEWAY,
            "server_error",
            "engine_error",
            &format!("inference engine {path} failed: {why}"),
        )
    };
    let response = client
        .post(format!("{base_url}{path}"))
        .json(body)
        .send_traced()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !status.is_success() {
        return Err(failed(format!("{status}: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| failed(format!("not JSON ({e}): {text}")))
}

/// The context size llama-server runs with (`/props` → `default_generation_settings.n_ctx`).
async fn context_size(client: &reqwest::Client, base_url: &str) -> Option<u64> {
    let props: Value = client
        .get(format!("{base_url}/props"))
        .send_traced()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    props["default_generation_settings"]["n_ctx"].as_u64()
}

/// `POST /tokenize` in vLLM's words on the llama-server at `base_url`.
pub(super) async fn tokenize(client: &reqwest::Client, base_url: &str, body: &Bytes) -> Response {
    let request: TokenizeRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid tokenize request: {e}")),
    };
    let (content, add_special) = match (request.prompt, request.messages) {
        (Some(prompt), None) => (prompt, request.add_special_tokens.unwrap_or(true)),
        (None, Some(messages)) => {
            let templated = match engine_json(
                client,
                base_url,
                "/apply-template",
                &json!({ "messages": messages }),
            )
            .await
            {
                Ok(v) => v,
                Err(response) => return response,
            };
            let Some(prompt) = templated["prompt"].as_str() else {
                return bad_request("the engine's chat template gave no prompt for these messages");
            };
            (
                prompt.to_owned(),
                request.add_special_tokens.unwrap_or(false),
            )
        }
        _ => return bad_request("give either `prompt` or `messages`"),
    };
    let answer = match engine_json(
        client,
        base_url,
        "/tokenize",
        &json!({
            "content": content,
            "add_special": add_special,
            "with_pieces": request.return_token_strs,
        }),
    )
    .await
    {
        Ok(v) => v,
        Err(response) => return response,
    };
    let entries = answer["tokens"].as_array().cloned().unwrap_or_default();
    // With pieces each entry is `{id, piece}`, otherwise the id itself.
    let tokens: Vec<Value> = entries
        .iter()
        .map(|t| t.get("id").cloned().unwrap_or_else(|| t.clone()))
        .collect();
    let token_strs = request.return_token_strs.then(|| {
        entries
            .iter()
            .map(|t| t.get("piece").cloned().unwrap_or(Value::Null))
            .collect::<Vec<_>>()
    });
    Json(json!({
        "count": tokens.len(),
        "max_model_len": context_size(client, base_url).await,
        "tokens": tokens,
        "token_strs": token_strs,
    }))
    .into_response()
}

/// `POST /detokenize` in vLLM's words (`{model, tokens}` → `{prompt}`).
pub(super) async fn detokenize(client: &reqwest::Client, base_url: &str, body: &Bytes) -> Response {
    let request: DetokenizeRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid detokenize request: {e}")),
    };
    match engine_json(
        client,
        base_url,
        "/detokenize",
        &json!({ "tokens": request.tokens }),
    )
    .await
    {
        Ok(answer) => Json(json!({ "prompt": answer["content"] })).into_response(),
        Err(response) => response,
    }
}

/// `GET /v1/models` with vLLM's fields added to llama-server's entries: `root` (the id),
/// `parent` (`null`) and `max_model_len` (the context size, llama.cpp's `meta.n_ctx`); the rest
/// of llama-server's answer is kept.
pub(super) async fn models(client: &reqwest::Client, base_url: &str) -> Response {
    let failed = |why: String| {
        tracing::warn!(error = %why, "llama.cpp /v1/models failed");
        openai_error(
            StatusCode::BAD_GATEWAY,
            "server_error",
            "engine_error",
            &format!("inference engine /v1/models failed: {why}"),
        )
    };
    let response = match client
        .get(format!("{base_url}/v1/models"))
        .send_traced()
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(e.without_url().to_string()),
    };
    let status = response.status();
    let mut answer: Value = match response.json().await {
        Ok(v) => v,
        Err(e) => return failed(format!("{status}: not JSON ({})", e.without_url())),
    };
    if !status.is_success() {
        return failed(format!("{status}: {answer}"));
    }
    if let Some(entries) = answer["data"].as_array_mut() {
        for entry in entries {
            with_vllm_fields(entry);
        }
    }
    Json(answer).into_response()
}

/// Adds vLLM's `root`, `parent` and `max_model_len` to one llama-server model entry.
fn with_vllm_fields(entry: &mut Value) {
    let n_ctx = entry["meta"]["n_ctx"].clone();
    let id = entry["id"].clone();
    if let Some(fields) = entry.as_object_mut() {
        fields.entry("root").or_insert(id);
        fields.entry("parent").or_insert(Value::Null);
        if n_ctx.is_u64() {
            fields.entry("max_model_len").or_insert(n_ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_llamacpp_model_entry_gains_vllms_fields_and_keeps_its_own() {
        let mut entry = json!({
            "id": "Qwen/Qwen3-32B-FP8",
            "object": "model",
            "owned_by": "llamacpp",
            "meta": {"n_ctx": 4096, "n_ctx_train": 4096},
        });
        with_vllm_fields(&mut entry);
        assert_eq!(entry["root"], "Qwen/Qwen3-32B-FP8");
        assert_eq!(entry["max_model_len"], 4096);
        assert!(entry["parent"].is_null());
        assert_eq!(entry["owned_by"], "llamacpp");
        assert_eq!(entry["meta"]["n_ctx_train"], 4096);
    }

    #[test]
    fn an_entry_without_a_context_size_gets_no_made_up_one() {
        let mut entry = json!({"id": "m"});
        with_vllm_fields(&mut entry);
        assert!(entry.get("max_model_len").is_none());
    }
}
