//! What the bench servers share: the precomputed bodies of a fake ML node (chat completion as
//! JSON and as SSE events, `/api/v1/state`, `/v1/models`), and the shutdown signal of their
//! binaries. Used by the mock worker ([`crate::mock_worker`]) and the `fake-fleet` binary.

use bytes::Bytes;

/// The binaries' shutdown signal (ctrl-c or SIGTERM).
pub use gonka_core::server::shutdown_signal;

/// Bodies computed once, cloned (cheaply) into every response.
#[derive(Debug, Clone)]
pub struct Answers {
    /// Non-streaming chat completion.
    pub completion: Bytes,
    /// Streamed chat completion: the role event, one event per token, the stop event, `[DONE]`.
    pub chunks: Vec<Bytes>,
    /// The usage event an engine sends before `[DONE]` when the request asks
    /// `stream_options.include_usage` (no choices, the same `usage` as [`Self::completion`]).
    pub usage_chunk: Bytes,
    /// `GET /api/v1/state`: INFERENCE with `model` loaded, queue empty, engine healthy.
    pub state: Bytes,
    /// `GET /v1/models`: `model` alone.
    pub models: Bytes,
}

impl Answers {
    /// The answers of a node serving `model`, `tokens` tokens per completion (`tok0 tok1 ...`),
    /// naming itself `engine` (in the state and as the models' owner). With `node`, completions
    /// carry it as `system_fingerprint` and in their id (`chatcmpl-<node>`), so a test can tell
    /// which node answered; without, the id is `chatcmpl-mock`.
    pub fn new(model: &str, tokens: usize, engine: &str, node: Option<&str>) -> Self {
        let words: Vec<String> = (0..tokens).map(|i| format!("tok{i} ")).collect();
        let id = format!("chatcmpl-{}", node.unwrap_or("mock"));
        let fingerprint = |mut value: serde_json::Value| {
            if let (Some(node), Some(object)) = (node, value.as_object_mut()) {
                object.insert("system_fingerprint".into(), node.into());
            }
            value
        };
        let completion = fingerprint(serde_json::json!({
            "id": id,
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": words.concat()},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
        }));
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            let event = fingerprint(serde_json::json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            }));
            Bytes::from(format!("data: {event}\n\n"))
        };
        let mut chunks = vec![chunk(serde_json::json!({"role": "assistant"}), None)];
        chunks.extend(
            words
                .iter()
                .map(|w| chunk(serde_json::json!({"content": w}), None)),
        );
        chunks.push(chunk(serde_json::json!({}), Some("stop")));
        let usage_chunk = {
            let event = fingerprint(serde_json::json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
            }));
            Bytes::from(format!("data: {event}\n\n"))
        };
        chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let state = serde_json::json!({
            "state": "INFERENCE",
            "loaded_model": model,
            "engine": engine,
            "queue_depth": 0,
            "inference_healthy": true
        });
        let models = serde_json::json!({
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 0, "owned_by": engine}]
        });
        Self {
            completion: Bytes::from(completion.to_string()),
            chunks,
            usage_chunk,
            state: Bytes::from(state.to_string()),
            models: Bytes::from(models.to_string()),
        }
    }
}
