//! Request bodies the simulator accepts (the subset of the OpenAI API it uses; other fields are
//! ignored as real engines do) and the numbers derived from them.

use serde::Deserialize;
use serde_json::Value;

use super::text::count_words;

/// `stream_options` of a streaming request.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    /// Send a final chunk with `usage`.
    #[serde(default)]
    pub include_usage: bool,
}

/// One chat message; `content` is a string or an array of parts.
#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    /// Role (`system`, `user`, `assistant`, ...). Required as in the OpenAI API.
    #[allow(dead_code)]
    pub role: String,
    /// Text or parts.
    #[serde(default)]
    pub content: Option<Value>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    /// Model named by the client.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation; must not be empty.
    pub messages: Vec<Message>,
    /// Stream as SSE.
    #[serde(default)]
    pub stream: bool,
    /// Cap on generated tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Newer name of the cap.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Seed of the output text.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequest {
    /// Model named by the client.
    #[serde(default)]
    pub model: Option<String>,
    /// A string or an array of strings / token ids.
    pub prompt: Value,
    /// Stream as SSE.
    #[serde(default)]
    pub stream: bool,
    /// Cap on generated tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Seed of the output text.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// Prompt tokens of a chat: words of every text part plus 4 per message for the template.
pub(crate) fn chat_prompt_tokens(messages: &[Message]) -> u32 {
    messages
        .iter()
        .map(|m| 4 + m.content.as_ref().map_or(0, value_words))
        .fold(0u32, u32::saturating_add)
}

/// Prompt tokens of a completion prompt (string, array of strings, or token ids).
pub(crate) fn completion_prompt_tokens(prompt: &Value) -> u32 {
    value_words(prompt).max(1)
}

fn value_words(value: &Value) -> u32 {
    match value {
        Value::String(s) => count_words(s),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Number(_) => 1,
                Value::Object(part) => part.get("text").map_or(0, value_words),
                other => value_words(other),
            })
            .fold(0u32, u32::saturating_add),
        _ => 0,
    }
}

/// Tokens to generate and the finish reason: the request's cap when it is below the configured
/// length (`"length"`), else the configured length (`"stop"`).
pub(crate) fn output_plan(cap: Option<u32>, configured: u32) -> (u32, &'static str) {
    match cap {
        Some(cap) if cap < configured => (cap, "length"),
        _ => (configured, "stop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_below_configured_length_finishes_with_length() {
        assert_eq!(output_plan(Some(3), 16), (3, "length"));
        assert_eq!(output_plan(Some(30), 16), (16, "stop"));
        assert_eq!(output_plan(None, 16), (16, "stop"));
    }

    #[test]
    fn prompt_tokens_count_words_of_strings_and_parts() {
        let messages: Vec<Message> = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": "hello there"},
            {"role": "user", "content": [{"type": "text", "text": "one two three"}]}
        ]))
        .unwrap();
        assert_eq!(chat_prompt_tokens(&messages), 4 + 2 + 4 + 3);
        assert_eq!(completion_prompt_tokens(&serde_json::json!([1, 2, 3])), 3);
    }
}
