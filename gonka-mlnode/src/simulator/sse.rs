//! The streaming answer: one SSE event per token, pre-rendered envelope, one buffer per event.

use std::io;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use tokio::sync::OwnedSemaphorePermit;

use super::text::TokenStream;
use super::InFlightGuard;

/// Which OpenAI object the stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `chat.completion.chunk` with `delta.content`.
    Chat,
    /// `text_completion` with `text`.
    Completion,
}

/// Token counts reported in `usage`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Prompt tokens.
    pub prompt: u32,
    /// Generated tokens.
    pub completion: u32,
}

/// Everything one streamed answer needs.
#[derive(Debug)]
pub(crate) struct StreamPlan {
    /// Object kind.
    pub kind: Kind,
    /// Response id.
    pub id: String,
    /// Model echoed in every chunk.
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    /// Text seed.
    pub seed: u64,
    /// Tokens to send.
    pub tokens: u32,
    /// `finish_reason` of the last chunk.
    pub finish_reason: &'static str,
    /// Usage numbers.
    pub usage: Usage,
    /// Whether to send the usage chunk.
    pub include_usage: bool,
    /// Abort the stream after this many tokens.
    pub crash_after: Option<u32>,
    /// Delay before the first token.
    pub ttft: Duration,
    /// Delay between tokens.
    pub itl: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Role,
    Tokens,
    Finish,
    Usage,
    Done,
    End,
}

struct State {
    plan: StreamPlan,
    envelope: String,
    tokens: TokenStream,
    sent: u32,
    phase: Phase,
    _guard: InFlightGuard,
    _permit: Option<OwnedSemaphorePermit>,
}

/// The SSE byte stream of `plan`. `guard` and `permit` are held until the stream ends or is
/// dropped (client gone), so in-flight counts and concurrency slots are always released.
pub(crate) fn sse_stream(
    plan: StreamPlan,
    guard: InFlightGuard,
    permit: Option<OwnedSemaphorePermit>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let object = match plan.kind {
        Kind::Chat => "chat.completion.chunk",
        Kind::Completion => "text_completion",
    };
    let model = serde_json::to_string(&plan.model).unwrap_or_else(|_| "\"\"".to_owned());
    let envelope = format!(
        "data: {{\"id\":\"{}\",\"object\":\"{object}\",\"created\":{},\"model\":{model},\"choices\":[",
        plan.id, plan.created
    );
    let state = State {
        tokens: TokenStream::new(plan.seed),
        phase: if plan.kind == Kind::Chat {
            Phase::Role
        } else {
            Phase::Tokens
        },
        plan,
        envelope,
        sent: 0,
        _guard: guard,
        _permit: permit,
    };
    futures::stream::unfold(state, |mut st| async move {
        let item = st.next_event().await?;
        Some((item, st))
    })
}

impl State {
    async fn next_event(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.phase {
                Phase::Role => {
                    self.phase = Phase::Tokens;
                    return Some(Ok(self.event(
                        r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#,
                        "",
                    )));
                }
                Phase::Tokens => {
                    // A crash strikes where the next token (or the finish) would come.
                    let crash_now = Some(self.sent) == self.plan.crash_after;
                    if self.sent >= self.plan.tokens && !crash_now {
                        self.phase = Phase::Finish;
                        continue;
                    }
                    let delay = if self.sent == 0 {
                        self.plan.ttft
                    } else {
                        self.plan.itl
                    };
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if crash_now {
                        self.phase = Phase::End;
                        return Some(Err(io::Error::other("simulated engine crash mid-stream")));
                    }
                    self.sent += 1;
                    let (space, word) = self.tokens.next_token();
                    let (open, close) = match self.plan.kind {
                        Kind::Chat => (
                            r#"{"index":0,"delta":{"content":""#,
                            r#""},"finish_reason":null}"#,
                        ),
                        Kind::Completion => (
                            r#"{"index":0,"text":""#,
                            r#"","logprobs":null,"finish_reason":null}"#,
                        ),
                    };
                    return Some(Ok(self.token_event(open, space, word, close)));
                }
                Phase::Finish => {
                    self.phase = Phase::Usage;
                    let body = match self.plan.kind {
                        Kind::Chat => format!(
                            r#"{{"index":0,"delta":{{}},"finish_reason":"{}"}}"#,
                            self.plan.finish_reason
                        ),
                        Kind::Completion => format!(
                            r#"{{"index":0,"text":"","logprobs":null,"finish_reason":"{}"}}"#,
                            self.plan.finish_reason
                        ),
                    };
                    return Some(Ok(self.event(&body, "")));
                }
                Phase::Usage => {
                    self.phase = Phase::Done;
                    if !self.plan.include_usage {
                        continue;
                    }
                    let u = self.plan.usage;
                    let usage = format!(
                        r#","usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}}"#,
                        u.prompt,
                        u.completion,
                        u.prompt.saturating_add(u.completion)
                    );
                    return Some(Ok(self.event("", &usage)));
                }
                Phase::Done => {
                    self.phase = Phase::End;
                    return Some(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
                }
                Phase::End => return None,
            }
        }
    }

    /// `envelope + choice + "]" + extra + "}\n\n"`.
    fn event(&self, choice: &str, extra: &str) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.envelope.len() + choice.len() + extra.len() + 8);
        buf.put_slice(self.envelope.as_bytes());
        buf.put_slice(choice.as_bytes());
        buf.put_slice(b"]");
        buf.put_slice(extra.as_bytes());
        buf.put_slice(b"}\n\n");
        buf.freeze()
    }

    fn token_event(&self, open: &str, space: bool, word: &str, close: &str) -> Bytes {
        let mut buf = BytesMut::with_capacity(
            self.envelope.len() + open.len() + word.len() + close.len() + 8,
        );
        buf.put_slice(self.envelope.as_bytes());
        buf.put_slice(open.as_bytes());
        if space {
            buf.put_slice(b" ");
        }
        buf.put_slice(word.as_bytes());
        buf.put_slice(close.as_bytes());
        buf.put_slice(b"]}\n\n");
        buf.freeze()
    }
}
