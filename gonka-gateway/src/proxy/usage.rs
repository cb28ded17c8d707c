//! The token counts of an answer, from the OpenAI `usage` object the engines send: in a
//! non-streamed answer's document, and in a stream's last usage event (vLLM and llama.cpp send
//! one when the client asks `stream_options.include_usage`). Cheap: a stream's events are only
//! parsed when they hold a `"usage": {` object, and nothing is buffered beyond the whole events
//! the proxy already passes on.

use serde::Deserialize;

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// `(prompt, completion)` tokens of one answer.
pub(crate) type Tokens = (u64, u64);

/// The `usage` of a JSON document, when it has one.
pub(crate) fn of_document(document: &[u8]) -> Option<Tokens> {
    if !has_usage_object(document) {
        return None;
    }
    let parsed: WithUsage = serde_json::from_slice(document).ok()?;
    parsed.usage.map(|u| (u.prompt_tokens, u.completion_tokens))
}

/// The `usage` of the last event of `events` (whole SSE events or NDJSON lines) that carries one.
pub(crate) fn of_events(events: &[u8]) -> Option<Tokens> {
    if !has_usage_object(events) {
        return None;
    }
    // From the end: the last usage event is the one that counts.
    events
        .rsplit(|&b| b == b'\n')
        .filter(|line| has_usage_object(line))
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let json = line.strip_prefix(b"data:").unwrap_or(line);
            of_document(json.trim_ascii())
        })
        .next()
}

/// Whether `data` holds `"usage"` followed by `:` and an object (not `null`).
fn has_usage_object(data: &[u8]) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    let mut rest = data;
    // Bounded: each turn moves past one occurrence of the key.
    while let Some(at) = memchr::memmem::find(rest, KEY) {
        rest = &rest[at + KEY.len()..];
        let after = rest.trim_ascii_start();
        if let Some(value) = after.strip_prefix(b":") {
            if value.trim_ascii_start().first() == Some(&b'{') {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_usage_is_counted() {
        let doc = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#;
        assert_eq!(of_document(doc), Some((12, 7)));
        assert_eq!(of_document(br#"{"usage": null}"#), None);
        assert_eq!(of_document(br#"{"choices":[]}"#), None);
        assert_eq!(of_document(b"not json \"usage\": {"), None);
    }

    #[test]
    fn the_last_usage_event_of_a_stream_is_counted() {
        let events = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n\
            data: [DONE]\n\n";
        assert_eq!(of_events(events), Some((3, 2)));
        assert_eq!(of_events(b"data: {\"choices\":[]}\n\n"), None);
    }
}
