//! How a forwarded answer is framed, so that one a node breaks off still ends properly for the
//! client: the kind of answer ([`Framing`]: an SSE stream, an NDJSON stream or one whole
//! document), the split of a stream into whole events ([`Events`]: a partial event is held back
//! until its end arrives, so an error event never lands inside one) and the bytes that end a
//! broken stream ([`Framing::broken_end`]).

use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};

use crate::error::GatewayError;

/// Most bytes of one partial event held back; a longer "event" is passed on as it comes (a
/// stream that is not really made of events must not be buffered without bound).
pub(crate) const MAX_PARTIAL: usize = 1024 * 1024;

/// The kind of an upstream answer, from its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `text/event-stream`: OpenAI streaming; events end with a blank line.
    Sse,
    /// `application/x-ndjson` (Ollama's streaming): one JSON document per line.
    Ndjson,
    /// Anything else: one document (a non-streamed completion, an error body).
    Document,
}

impl Framing {
    /// The framing of an answer with these response headers.
    pub fn of(headers: &HeaderMap) -> Self {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map_or("", str::trim);
        let is = |name: &str| media.eq_ignore_ascii_case(name);
        if is("text/event-stream") {
            Self::Sse
        } else if is("application/x-ndjson") || is("application/ndjson") {
            Self::Ndjson
        } else {
            Self::Document
        }
    }

    /// Whether the answer is a stream of events (sent as it arrives, ended by
    /// [`broken_end`](Self::broken_end) when the node breaks it off).
    pub fn is_stream(self) -> bool {
        self != Self::Document
    }

    /// The bytes that end a stream broken off with `error`, after its last whole event: for
    /// SSE, an event carrying the OpenAI error body (`data: {"error": {...}}`, which the OpenAI
    /// SDKs raise as an API error) then `data: [DONE]` (as vLLM ends a stream that failed);
    /// for NDJSON, Ollama's error line `{"error": "<message>"}`. `None` for a document (its
    /// status and length are already sent: nothing can be added).
    pub fn broken_end(self, error: &GatewayError) -> Option<Bytes> {
        match self {
            Self::Sse => Some(Bytes::from(format!(
                "data: {}\n\ndata: [DONE]\n\n",
                error.body()
            ))),
            Self::Ndjson => Some(Bytes::from(format!(
                "{}\n",
                serde_json::json!({ "error": error.to_string() })
            ))),
            Self::Document => None,
        }
    }

    /// Length of the prefix of `data` that ends with a whole event (0 when none does).
    fn whole_prefix(self, data: &[u8]) -> usize {
        match self {
            Self::Document => data.len(),
            Self::Ndjson => data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
            // An event ends with a blank line: "\n\n", "\r\r" or "\r\n\r\n" (also "\n\r\n").
            Self::Sse => (1..data.len())
                .rev()
                .find(|&i| {
                    matches!((data[i - 1], data[i]), (b'\n', b'\n') | (b'\r', b'\r'))
                        || (data[i] == b'\n' && i >= 2 && data[i - 2..i] == *b"\n\r")
                })
                .map_or(0, |i| i + 1),
        }
    }
}

/// Splits a stream's bytes into whole events as they arrive.
#[derive(Debug)]
pub(crate) struct Events {
    framing: Framing,
    /// The start of an event whose end has not arrived yet.
    partial: BytesMut,
}

impl Events {
    /// A splitter for an answer framed as `framing` (a document passes through whole).
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            partial: BytesMut::new(),
        }
    }

    /// The framing split on.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The whole events among what was held back and `chunk` (possibly empty); the partial
    /// event after them is held back. A chunk that ends an event and follows nothing held back
    /// (the usual case: engines write whole events) is returned as is, without a copy.
    pub fn whole(&mut self, chunk: Bytes) -> Bytes {
        if self.partial.is_empty() && self.framing.whole_prefix(&chunk) == chunk.len() {
            return chunk;
        }
        // The held-back part has no event end; one can only end in the new bytes (or straddle
        // into them: a blank line is at most 4 bytes).
        let from = self.partial.len().saturating_sub(3);
        self.partial.extend_from_slice(&chunk);
        let end = match self.framing.whole_prefix(&self.partial[from..]) {
            0 => 0,
            n => from + n,
        };
        if end == 0 && self.partial.len() <= MAX_PARTIAL {
            return Bytes::new();
        }
        let end = if end == 0 { self.partial.len() } else { end };
        self.partial.split_to(end).freeze()
    }

    /// What is held back, taken (the stream ended cleanly: it leaves as it came).
    pub fn take_partial(&mut self) -> Option<Bytes> {
        (!self.partial.is_empty()).then(|| self.partial.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn the_framing_follows_the_content_type() {
        assert_eq!(
            Framing::of(&headers("text/event-stream; charset=utf-8")),
            Framing::Sse
        );
        assert_eq!(
            Framing::of(&headers("application/x-ndjson")),
            Framing::Ndjson
        );
        assert_eq!(Framing::of(&headers("application/json")), Framing::Document);
        assert_eq!(Framing::of(&HeaderMap::new()), Framing::Document);
        assert!(Framing::Sse.is_stream() && !Framing::Document.is_stream());
    }

    #[test]
    fn sse_events_are_passed_whole_and_a_partial_one_waits_for_its_end() {
        let mut e = Events::new(Framing::Sse);
        assert_eq!(e.whole(Bytes::from_static(b"data: 1\n\n")), "data: 1\n\n");
        assert_eq!(
            e.whole(Bytes::from_static(b"data: 2\n\ndata: 3")),
            "data: 2\n\n"
        );
        assert_eq!(e.whole(Bytes::from_static(b"x\n")), "");
        assert_eq!(
            e.whole(Bytes::from_static(b"\ndata: 4\r\n\r\n")),
            "data: 3x\n\ndata: 4\r\n\r\n"
        );
        assert_eq!(e.whole(Bytes::from_static(b"data: 5\r\r")), "data: 5\r\r");
        assert_eq!(e.whole(Bytes::from_static(b"data: 6\n")), "");
        assert_eq!(e.take_partial().unwrap(), "data: 6\n");
        assert!(e.take_partial().is_none());
    }

    #[test]
    fn an_overlong_partial_event_is_passed_on_rather_than_held() {
        let mut e = Events::new(Framing::Sse);
        let big = Bytes::from(vec![b'x'; MAX_PARTIAL + 1]);
        assert_eq!(e.whole(big).len(), MAX_PARTIAL + 1);
        assert!(e.take_partial().is_none());
    }

    #[test]
    fn ndjson_lines_and_documents_split_as_their_framing_says() {
        let mut e = Events::new(Framing::Ndjson);
        assert_eq!(
            e.whole(Bytes::from_static(b"{\"a\":1}\n{\"b\"")),
            "{\"a\":1}\n"
        );
        assert_eq!(e.whole(Bytes::from_static(b":2}\n")), "{\"b\":2}\n");
        let mut d = Events::new(Framing::Document);
        assert_eq!(d.whole(Bytes::from_static(b"{\"half")), "{\"half");
    }

    #[test]
    fn a_broken_stream_ends_with_the_error_in_its_own_framing() {
        let error = GatewayError::UpstreamBroke {
            node: "n1".into(),
            stage: "mid-stream",
            reason: "connection reset".into(),
        };
        let sse = Framing::Sse.broken_end(&error).unwrap();
        let text = std::str::from_utf8(&sse).unwrap();
        let (event, done) = text.split_once("\n\n").unwrap();
        let body: serde_json::Value =
            serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(body, error.body());
        assert_eq!(done, "data: [DONE]\n\n");
        let ndjson = Framing::Ndjson.broken_end(&error).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&ndjson).unwrap();
        assert_eq!(line["error"], error.to_string());
        assert!(ndjson.ends_with(b"\n"));
        assert!(Framing::Document.broken_end(&error).is_none());
    }
}
