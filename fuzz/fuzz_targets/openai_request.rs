//! Fuzz target: arbitrary bytes → the gateway's OpenAI request parsing
//! (`gonka_gateway::proxy::request::parse` and `with_model`).
//!
//! The first byte picks routing-hint headers, the rest is the body. Properties: neither function
//! panics; an accepted request names a non-empty model; rewriting the model of an accepted body
//! gives a body that parses again with exactly the new model and the same stream flag.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use gonka_gateway::proxy::request::{
    parse, with_model, HEADER_ENGINE, HEADER_GPU_TYPE, HEADER_MIN_VRAM_MB, HEADER_PRIORITY,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // Header values are taken from the body's first bytes so that odd values get tried too.
    let hint = String::from_utf8_lossy(&rest[..rest.len().min(8)]).into_owned();
    let mut headers = HeaderMap::new();
    for (bit, name) in [HEADER_GPU_TYPE, HEADER_MIN_VRAM_MB, HEADER_ENGINE, HEADER_PRIORITY]
        .into_iter()
        .enumerate()
    {
        if flags & (1 << bit) != 0 {
            if let Ok(v) = HeaderValue::from_str(&hint) {
                headers.insert(name, v);
            }
        }
    }
    let body = Bytes::copy_from_slice(rest);
    let Ok(parsed) = parse(&headers, &body) else {
        return;
    };
    assert!(!parsed.info.model.trim().is_empty(), "accepted without a model");
    if let Ok(rewritten) = with_model(&body, "fuzz/model") {
        let again = parse(&headers, &rewritten).expect("a rewritten body parses");
        assert_eq!(again.info.model, "fuzz/model");
        assert_eq!(again.stream, parsed.stream);
    }
});
