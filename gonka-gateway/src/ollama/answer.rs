//! Ollama's answer objects built from OpenAI answers: the pieces of a stream (`done: false`),
//! the last object with `done_reason`, token counts and durations (nanoseconds, as Ollama
//! reports them), the whole answer of a non-streamed request, and the immediate answer to a
//! "load the model" request.

use std::time::Duration;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use super::error::OllamaError;
use super::request::Shape;

/// Whom an answer is for: its shape, the model as the client named it, and when the request
/// arrived (the start of `total_duration`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Chat (`message`) or generate (`response`).
    pub shape: Shape,
    /// The model the client asked for.
    pub model: String,
    /// When the request arrived.
    pub started: Instant,
}

/// What an OpenAI answer says besides its text: how it ended and its token counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ending {
    /// OpenAI's `finish_reason` (`stop`, `length`, `tool_calls`, ...), when sent.
    pub finish_reason: Option<String>,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u64>,
}

impl Ending {
    /// Reads `finish_reason` of the first choice and `usage` from an OpenAI answer or chunk,
    /// keeping what is already known when the chunk lacks them.
    pub fn read(&mut self, answer: &Value) {
        if let Some(reason) = answer
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            self.finish_reason = Some(reason.to_owned());
        }
        if let Some(usage) = answer.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        }
    }
}

/// The text parts of an OpenAI choice (a whole `message`, a stream's `delta`, or a completion's
/// `text`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Text {
    /// Generated text.
    pub content: String,
    /// A reasoning model's thinking (`reasoning_content`), Ollama's `thinking`.
    pub thinking: String,
    /// Tool calls in Ollama's shape (`function.arguments` an object).
    pub tool_calls: Vec<Value>,
}

impl Text {
    /// The text of the first choice of an OpenAI answer: `message` (a whole chat answer),
    /// `delta` (a chat chunk; tool calls are handled by the stream), or `text` (completions).
    pub fn of_choice(answer: &Value) -> Self {
        let Some(choice) = answer.pointer("/choices/0") else {
            return Self::default();
        };
        if let Some(text) = choice.get("text").and_then(Value::as_str) {
            return Self {
                content: text.to_owned(),
                ..Self::default()
            };
        }
        let m = choice.get("message").or_else(|| choice.get("delta"));
        let field = |name: &str| {
            m.and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let thinking = match field("reasoning_content") {
            t if t.is_empty() => field("reasoning"),
            t => t,
        };
        let tool_calls = choice
            .pointer("/message/tool_calls")
            .and_then(Value::as_array)
            .map(|calls| calls.iter().map(ollama_tool_call).collect())
            .unwrap_or_default();
        Self {
            content: field("content"),
            thinking,
            tool_calls,
        }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty() && self.thinking.is_empty() && self.tool_calls.is_empty()
    }
}

/// An OpenAI tool call (`function.arguments` a JSON string) in Ollama's shape (an object;
/// arguments that are not a JSON object are kept under `"arguments"`).
pub fn ollama_tool_call(call: &Value) -> Value {
    let name = call
        .pointer("/function/name")
        .cloned()
        .unwrap_or(Value::Null);
    let arguments = match call.pointer("/function/arguments") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ if s.trim().is_empty() => json!({}),
            _ => json!({ "arguments": s }),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    };
    json!({"function": {"name": name, "arguments": arguments}})
}

/// Now as RFC 3339 (Ollama's `created_at`).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Reply {
    /// An answer object with `text`, `done: false` (a stream's piece).
    pub fn piece(&self, text: &Text) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("model".into(), json!(self.model));
        out.insert("created_at".into(), json!(now_rfc3339()));
        match self.shape {
            Shape::Chat => {
                let mut message = Map::new();
                message.insert("role".into(), json!("assistant"));
                message.insert("content".into(), json!(text.content));
                if !text.thinking.is_empty() {
                    message.insert("thinking".into(), json!(text.thinking));
                }
                if !text.tool_calls.is_empty() {
                    message.insert("tool_calls".into(), json!(text.tool_calls));
                }
                out.insert("message".into(), Value::Object(message));
            }
            Shape::Generate => {
                out.insert("response".into(), json!(text.content));
                if !text.thinking.is_empty() {
                    out.insert("thinking".into(), json!(text.thinking));
                }
            }
        }
        out.insert("done".into(), json!(false));
        out
    }

    /// The last answer object: `text` (empty for a stream, whose text went in pieces),
    /// `done: true`, `done_reason`, token counts and durations. `first_token` is when the
    /// first text arrived (splits `prompt_eval_duration` from `eval_duration`).
    pub fn last(&self, text: &Text, ending: &Ending, first_token: Option<Instant>) -> Value {
        let mut out = self.piece(text);
        let now = Instant::now();
        let first = first_token.unwrap_or(now);
        let done_reason = match ending.finish_reason.as_deref() {
            Some("length") => "length",
            _ => "stop",
        };
        out.insert("done".into(), json!(true));
        out.insert("done_reason".into(), json!(done_reason));
        out.insert(
            "total_duration".into(),
            json!(nanos(now.duration_since(self.started))),
        );
        out.insert("load_duration".into(), json!(0));
        if let Some(n) = ending.prompt_tokens {
            out.insert("prompt_eval_count".into(), json!(n));
        }
        out.insert(
            "prompt_eval_duration".into(),
            json!(nanos(first.duration_since(self.started))),
        );
        if let Some(n) = ending.completion_tokens {
            out.insert("eval_count".into(), json!(n));
        }
        out.insert(
            "eval_duration".into(),
            json!(nanos(now.duration_since(first))),
        );
        Value::Object(out)
    }

    /// The whole answer of a non-streamed request from the OpenAI `document`.
    ///
    /// # Errors
    /// 502 when the document is not an OpenAI completion.
    pub fn of_document(&self, document: &[u8]) -> Result<Value, OllamaError> {
        let answer: Value = serde_json::from_slice(document).map_err(|e| {
            OllamaError::bad_answer(format!("the engine's answer is not JSON: {e}"))
        })?;
        if answer.pointer("/choices/0").is_none() {
            return Err(OllamaError::bad_answer(
                "the engine's answer has no choices",
            ));
        }
        let mut ending = Ending::default();
        ending.read(&answer);
        // A whole answer: the time to its first token is not known; all of it counts as eval.
        Ok(self.last(&Text::of_choice(&answer), &ending, Some(self.started)))
    }

    /// The answer to a request with nothing to generate: Ollama loads the model and says
    /// `done_reason: "load"`.
    pub fn load(&self) -> Value {
        let mut out = self.piece(&Text::default());
        out.insert("done".into(), json!(true));
        out.insert("done_reason".into(), json!("load"));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(shape: Shape) -> Reply {
        Reply {
            shape,
            model: "m".into(),
            started: Instant::now(),
        }
    }

    #[test]
    fn a_chat_document_becomes_ollamas_last_message() {
        let doc = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#;
        let v = reply(Shape::Chat).of_document(doc).unwrap();
        assert_eq!(v["model"], "m");
        assert_eq!(v["message"], json!({"role": "assistant", "content": "Hi!"}));
        assert_eq!(v["done"], true);
        assert_eq!(v["done_reason"], "length");
        assert_eq!(v["prompt_eval_count"], 7);
        assert_eq!(v["eval_count"], 2);
        assert!(v["total_duration"].is_u64());
        assert!(time::OffsetDateTime::parse(v["created_at"].as_str().unwrap(), &Rfc3339).is_ok());
    }

    #[test]
    fn a_completion_document_becomes_a_response() {
        let doc = br#"{"choices":[{"index":0,"text":"42","finish_reason":"stop"}]}"#;
        let v = reply(Shape::Generate).of_document(doc).unwrap();
        assert_eq!(v["response"], "42");
        assert_eq!(v["done_reason"], "stop");
        assert!(v.get("message").is_none());
        assert!(v.get("eval_count").is_none());
    }

    #[test]
    fn tool_calls_get_object_arguments() {
        let doc = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}"#;
        let v = reply(Shape::Chat).of_document(doc).unwrap();
        assert_eq!(
            v["message"]["tool_calls"],
            json!([{"function": {"name": "f", "arguments": {"a": 1}}}])
        );
        assert_eq!(v["message"]["content"], "");
        assert_eq!(v["done_reason"], "stop");
    }

    #[test]
    fn what_is_not_a_completion_is_a_502() {
        let e = reply(Shape::Chat).of_document(b"<html>").unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_GATEWAY);
        let e = reply(Shape::Chat).of_document(b"{}").unwrap_err();
        assert!(e.message.contains("no choices"));
    }

    #[test]
    fn a_load_answer_is_done_with_reason_load() {
        let v = reply(Shape::Generate).load();
        assert_eq!(v["done_reason"], "load");
        assert_eq!(v["response"], "");
    }
}
