//! `POST /v1/embeddings` as OpenAI answers it: one unit vector per input, derived from the
//! input's words (the same input always gives the same vector; inputs sharing words point in
//! similar directions), as floats or, with `encoding_format: "base64"` (the openai SDK's
//! default), as base64 of little-endian `f32`s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use super::Simulator;
use crate::openai_error::bad_request;

/// Length of every vector.
pub const DIMENSIONS: usize = 16;

#[derive(serde::Deserialize)]
struct EmbeddingsRequest {
    model: Option<String>,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    if let Some(r) = super::handlers::asleep(&sim) {
        return r;
    }
    let request: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid embeddings request: {e}")),
    };
    let inputs: Vec<String> = match &request.input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => texts.push(s.clone()),
                    // Token ids: one "word" per id.
                    Value::Array(ids) => texts.push(
                        ids.iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    Value::Number(n) => texts.push(n.to_string()),
                    _ => return bad_request("`input` items must be strings or token ids"),
                }
            }
            texts
        }
        _ => return bad_request("`input` must be a string or a non-empty list"),
    };
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return bad_request(format!(
                "`encoding_format` must be \"float\" or \"base64\", not {other:?}"
            ))
        }
    };
    let mut tokens = 0usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            tokens += text.split_whitespace().count();
            let vector = embed(text);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let model = request.model.unwrap_or_else(|| sim.config().model.clone());
    Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// The unit vector of `text`: each word adds a pseudo-random direction derived from its hash.
fn embed(text: &str) -> Vec<f32> {
    let mut v = [0f32; DIMENSIONS];
    for word in text.split_whitespace() {
        let mut h = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        for x in &mut v {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            // Top 24 bits as a value in [-1, 1).
            *x += ((h >> 40) as f32 / (1u64 << 23) as f32) - 1.0;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let a = embed("hello world");
        assert_eq!(a.len(), DIMENSIONS);
        assert_eq!(a, embed("hello world"));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_ne!(a, embed("something else"));
        assert_eq!(embed("").iter().map(|x| x * x).sum::<f32>(), 1.0);
    }
}
