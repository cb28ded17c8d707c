//! An OpenAI SSE stream turned into Ollama's NDJSON lines as it arrives: one line per piece of
//! text (`done: false`), the tool calls once complete, then the last line with `done: true`,
//! `done_reason`, token counts and durations. An error event (the proxy's, when a node breaks a
//! stream off, or the engine's) becomes Ollama's `{"error": "..."}` line and ends the stream.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::answer::{ollama_tool_call, Ending, Reply, Text};

/// Longest SSE line kept while waiting for its end; a longer one ends the stream with an error.
const LINE_LIMIT: usize = 4 * 1024 * 1024;

/// A tool call being streamed (OpenAI sends its name, then its arguments in pieces).
#[derive(Debug, Default)]
struct PartialCall {
    name: String,
    arguments: String,
}

/// The translation state of one stream.
#[derive(Debug)]
pub struct SseToNdjson {
    reply: Reply,
    pending: BytesMut,
    ending: Ending,
    calls: BTreeMap<u64, PartialCall>,
    first_token: Option<Instant>,
    ended: bool,
}

impl SseToNdjson {
    /// A translator for the answer to `reply`.
    pub fn new(reply: Reply) -> Self {
        Self {
            reply,
            pending: BytesMut::new(),
            ending: Ending::default(),
            calls: BTreeMap::new(),
            first_token: None,
            ended: false,
        }
    }

    /// Whether the stream's last line (or an error line) was written.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The NDJSON lines for the SSE bytes `chunk` (possibly none: partial lines wait for the
    /// next chunk).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        if self.ended {
            return Bytes::new();
        }
        self.pending.extend_from_slice(chunk);
        // Each turn consumes one line; bounded by the bytes received.
        while let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
            let line = self.pending.split_to(at + 1);
            self.line(&line[..at], &mut out);
            if self.ended {
                self.pending.clear();
                break;
            }
        }
        if self.pending.len() > LINE_LIMIT {
            self.pending.clear();
            self.error("the engine sent an SSE line over 4 MiB", &mut out);
        }
        Bytes::from(out)
    }

    /// The lines that end the stream when the upstream body ends: its last line, unless an
    /// error or `[DONE]` ended it already.
    pub fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        if !self.ended {
            let rest = std::mem::take(&mut self.pending);
            if !rest.is_empty() {
                self.line(&rest, &mut out);
            }
            if !self.ended {
                self.done(&mut out);
            }
        }
        Bytes::from(out)
    }

    /// The line that ends the stream when the upstream body fails (`reason` says how).
    pub fn fail(&mut self, reason: &str) -> Bytes {
        let mut out = Vec::new();
        if !self.ended {
            self.error(&format!("the answer broke off: {reason}"), &mut out);
        }
        Bytes::from(out)
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            // Comments, `event:`, `id:` and the blank lines between events.
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done(out);
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            self.error("the engine sent an event that is not JSON", out);
            return;
        };
        if let Some(error) = event.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| error.as_str())
                .unwrap_or("the engine reported an error");
            self.error(message, out);
            return;
        }
        self.ending.read(&event);
        self.collect_calls(&event);
        let text = Text::of_choice(&event);
        if !text.is_empty() {
            self.first_token.get_or_insert_with(Instant::now);
            write(out, &Value::Object(self.reply.piece(&text)));
        }
    }

    /// Adds a chunk's tool call pieces (`delta.tool_calls[].index`, `function.name`,
    /// `function.arguments`) to the calls being built.
    fn collect_calls(&mut self, event: &Value) {
        let Some(calls) = event
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
        else {
            return;
        };
        for (position, call) in calls.iter().enumerate() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let entry = self.calls.entry(index).or_default();
            if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                entry.name.push_str(name);
            }
            if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                entry.arguments.push_str(args);
            }
        }
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        if !self.calls.is_empty() {
            let calls: Vec<Value> = std::mem::take(&mut self.calls)
                .into_values()
                .map(|c| {
                    ollama_tool_call(
                        &json!({"function": {"name": c.name, "arguments": c.arguments}}),
                    )
                })
                .collect();
            let text = Text {
                tool_calls: calls,
                ..Text::default()
            };
            write(out, &Value::Object(self.reply.piece(&text)));
        }
        let last = self
            .reply
            .last(&Text::default(), &self.ending, self.first_token);
        write(out, &last);
        self.ended = true;
    }

    fn error(&mut self, message: &str, out: &mut Vec<u8>) {
        write(out, &json!({ "error": message }));
        self.ended = true;
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(value.to_string().as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ollama::request::Shape;
    use proptest::prelude::*;

    fn translator(shape: Shape) -> SseToNdjson {
        SseToNdjson::new(Reply {
            shape,
            model: "m".into(),
            started: Instant::now(),
        })
    }

    fn lines(bytes: &[u8]) -> Vec<Value> {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    const CHAT: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn a_chat_stream_becomes_message_lines_then_done() {
        let mut t = translator(Shape::Chat);
        let mut out = t.push(CHAT.as_bytes()).to_vec();
        out.extend_from_slice(&t.finish());
        let lines = lines(&out);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[0]["message"],
            json!({"role": "assistant", "content": "Hel"})
        );
        assert_eq!(lines[0]["done"], false);
        assert_eq!(lines[1]["message"]["content"], "lo");
        let last = &lines[2];
        assert_eq!(last["done"], true);
        assert_eq!(last["done_reason"], "stop");
        assert_eq!(last["message"]["content"], "");
        assert_eq!(last["prompt_eval_count"], 5);
        assert_eq!(last["eval_count"], 2);
        assert!(last["total_duration"].as_u64().is_some());
        assert!(last["eval_duration"].as_u64().is_some());
    }

    #[test]
    fn a_completion_stream_becomes_response_lines() {
        let mut t = translator(Shape::Generate);
        let sse = "data: {\"choices\":[{\"index\":0,\"text\":\"4\",\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"text\":\"2\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
        let lines = lines(&t.push(sse.as_bytes()));
        assert_eq!(lines[0]["response"], "4");
        assert_eq!(lines[1]["response"], "2");
        assert_eq!(lines[2]["done_reason"], "length");
        assert!(t.ended());
        assert!(t.finish().is_empty());
    }

    #[test]
    fn an_error_event_becomes_an_error_line_and_ends_the_stream() {
        let mut t = translator(Shape::Chat);
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"upstream ML node failed: node n1 failed mid-stream: reset\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n";
        let lines = lines(&t.push(sse.as_bytes()));
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            json!({"error": "upstream ML node failed: node n1 failed mid-stream: reset"})
        );
        assert!(t.finish().is_empty());
    }

    #[test]
    fn streamed_tool_calls_are_sent_whole_before_the_last_line() {
        let mut t = translator(Shape::Chat);
        let sse = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Oslo\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        let mut out = t.push(sse.as_bytes()).to_vec();
        out.extend_from_slice(&t.finish());
        let lines = lines(&out);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0]["message"]["tool_calls"],
            json!([{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
        );
        assert_eq!(lines[1]["done"], true);
    }

    #[test]
    fn a_failed_body_ends_with_an_error_line() {
        let mut t = translator(Shape::Chat);
        let lines = lines(&t.fail("connection reset"));
        assert_eq!(
            lines,
            vec![json!({"error": "the answer broke off: connection reset"})]
        );
        assert!(t.fail("again").is_empty());
    }

    proptest! {
        /// However the SSE bytes are cut into chunks, the lines are the same.
        #[test]
        fn chunking_does_not_change_the_lines(cuts in proptest::collection::vec(0..CHAT.len(), 0..12)) {
            let mut whole = translator(Shape::Chat);
            let mut expected = whole.push(CHAT.as_bytes()).to_vec();
            expected.extend_from_slice(&whole.finish());
            let mut cuts = cuts;
            cuts.sort_unstable();
            cuts.dedup();
            let mut t = translator(Shape::Chat);
            let mut got = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([CHAT.len()]) {
                got.extend_from_slice(&t.push(&CHAT.as_bytes()[from..cut]));
                from = cut;
            }
            got.extend_from_slice(&t.finish());
            let strip = |b: &[u8]| -> Vec<Value> {
                lines(b).into_iter().map(|mut v| {
                    for k in ["created_at", "total_duration", "prompt_eval_duration", "eval_duration"] {
                        v.as_object_mut().unwrap().remove(k);
                    }
                    v
                }).collect()
            };
            prop_assert_eq!(strip(&got), strip(&expected));
        }

        /// Arbitrary bytes never panic and never produce a line that is not JSON.
        #[test]
        fn arbitrary_bytes_give_json_lines(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut t = translator(Shape::Generate);
            let mut out = t.push(&bytes).to_vec();
            out.extend_from_slice(&t.finish());
            for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                prop_assert!(serde_json::from_slice::<Value>(line).is_ok());
            }
            prop_assert!(t.ended());
        }
    }
}
