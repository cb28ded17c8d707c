//! `POST /tokenize` as vLLM answers it: `{count, max_model_len, tokens}` for a `prompt` or the
//! chat `messages`. The simulator's "tokens" are words (ids derived from each word), counted
//! exactly as its completions count `usage.prompt_tokens`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::request::Message;
use super::Simulator;
use crate::openai_error::bad_request;

/// Vocabulary size of the made-up ids (Qwen's).
const VOCAB: u64 = 151_643;
/// Ids around a chat message: start, role, newline ... end (4 per message, as the completion
/// handlers count the chat template).
const IM_START: u64 = 151_644;
const IM_END: u64 = 151_645;
const NEWLINE: u64 = 198;

#[derive(serde::Deserialize)]
struct TokenizeRequest {
    #[serde(default)]
    prompt: Option<Value>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
}

/// `POST /tokenize`.
pub(crate) async fn tokenize(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let request: TokenizeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid tokenize request: {e}")),
    };
    let tokens = match (request.prompt, request.messages) {
        (Some(prompt), None) => value_ids(&prompt),
        (None, Some(messages)) => messages
            .iter()
            .flat_map(|m| {
                let mut ids = vec![IM_START, word_id(&m.role), NEWLINE];
                ids.extend(m.content.as_ref().map(value_ids).unwrap_or_default());
                ids.push(IM_END);
                ids
            })
            .collect(),
        _ => return bad_request("give either `prompt` or `messages`"),
    };
    Json(json!({
        "count": tokens.len(),
        "max_model_len": sim.config().max_model_len,
        "tokens": tokens,
    }))
    .into_response()
}

/// One id per word of a string (token ids kept as they are; text parts of a list).
fn value_ids(value: &Value) -> Vec<u64> {
    match value {
        Value::String(s) => s.split_whitespace().map(word_id).collect(),
        Value::Number(n) => n.as_u64().into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .flat_map(|item| match item {
                Value::Object(part) => part.get("text").map(value_ids).unwrap_or_default(),
                other => value_ids(other),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A stable id for `word` (FNV-1a folded into the vocabulary).
fn word_id(word: &str) -> u64 {
    let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % VOCAB
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::request::{chat_prompt_tokens, completion_prompt_tokens};

    #[test]
    fn counts_match_the_prompt_tokens_completions_report() {
        let prompt = json!("How many r are in strawberry?");
        assert_eq!(
            value_ids(&prompt).len() as u32,
            completion_prompt_tokens(&prompt)
        );
        let messages: Vec<Message> =
            serde_json::from_value(json!([{"role": "user", "content": "hi there"}])).unwrap();
        let ids: usize = messages
            .iter()
            .map(|m| 4 + m.content.as_ref().map_or(0, |c| value_ids(c).len()))
            .sum();
        assert_eq!(ids as u32, chat_prompt_tokens(&messages));
    }

    #[test]
    fn the_same_word_gets_the_same_id_below_the_vocabulary() {
        assert_eq!(word_id("strawberry"), word_id("strawberry"));
        assert_ne!(word_id("strawberry"), word_id("raspberry"));
        assert!(word_id("x") < VOCAB);
    }
}
