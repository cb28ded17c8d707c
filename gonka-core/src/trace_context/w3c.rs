//! W3C `traceparent`/`tracestate` read and written without the global propagator's generic
//! path, when that propagator is the W3C one: its generic work (a `Context` built to carry the
//! parent, a `format!` of the ids, a `String` per header) is skipped on every request.
//!
//! Only the canonical form (`00-` + 32 + `-` + 16 + `-` + 2 lowercase hex digits) is read here;
//! any other `traceparent` goes through the propagator as before, so odd inputs keep its exact
//! handling. For canonical input the result is the propagator's, which the tests check against
//! `opentelemetry_sdk`'s `TraceContextPropagator` (ids, flags, remote, `tracestate`, rejects).

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `00-` + trace id + `-` + span id + `-` + flags.
const CANONICAL_LEN: usize = 55;

/// Whether the global propagator reads and writes exactly the W3C trace-context headers (the
/// one the binaries install), so [`parse`] and [`write`] may stand in for it.
pub(super) fn global_is_w3c() -> bool {
    opentelemetry::global::get_text_map_propagator(|p| {
        let mut fields = p.fields();
        fields.next() == Some("traceparent")
            && fields.next() == Some("tracestate")
            && fields.next().is_none()
    })
}

/// What [`parse`] made of a request's headers.
#[derive(Debug, PartialEq)]
pub(super) enum Parsed {
    /// No `traceparent`, or a canonical one: the remote parent it gives (`None`: none, as the
    /// propagator would reject it).
    Known(Option<SpanContext>),
    /// A `traceparent` not in the canonical form: ask the propagator.
    Other,
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The value of `digits` (lowercase hex, at most 32 of them).
fn hex(digits: &[u8]) -> Option<u128> {
    digits
        .iter()
        .try_fold(0u128, |acc, &b| Some(acc << 4 | u128::from(hex_digit(b)?)))
}

/// The remote parent the W3C headers in `headers` give, as the W3C propagator reads them.
pub(super) fn parse(headers: &HeaderMap) -> Parsed {
    let Some(value) = headers.get(&TRACEPARENT) else {
        return Parsed::Known(None);
    };
    let b = value.as_bytes();
    if b.len() != CANONICAL_LEN || &b[..3] != b"00-" || b[35] != b'-' || b[52] != b'-' {
        return Parsed::Other;
    }
    let (Some(trace), Some(span), Some(opts)) = (hex(&b[3..35]), hex(&b[36..52]), hex(&b[53..]))
    else {
        return Parsed::Other;
    };
    // Version 00 defines only the sampled flag (the propagator rejects other values above 2).
    if opts > 2 {
        return Parsed::Known(None);
    }
    let (trace, span) = (TraceId::from(trace), SpanId::from(span as u64));
    if trace == TraceId::INVALID || span == SpanId::INVALID {
        return Parsed::Known(None);
    }
    let flags = TraceFlags::new(opts as u8) & TraceFlags::SAMPLED;
    let state = headers
        .get(&TRACESTATE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.parse::<TraceState>().unwrap_or_default())
        .unwrap_or_default();
    Parsed::Known(Some(SpanContext::new(trace, span, flags, true, state)))
}

/// Writes `cx` as `traceparent` and `tracestate` (also when empty), replacing what `headers`
/// had, as the W3C propagator injects it; nothing for an invalid context.
pub(super) fn write(cx: &SpanContext, headers: &mut HeaderMap) {
    if !cx.is_valid() {
        return;
    }
    let mut b = [0u8; CANONICAL_LEN];
    b[..3].copy_from_slice(b"00-");
    let ids = hex::encode_to_slice(cx.trace_id().to_bytes(), &mut b[3..35])
        .and_then(|()| hex::encode_to_slice(cx.span_id().to_bytes(), &mut b[36..52]));
    if ids.is_err() {
        return;
    }
    b[35] = b'-';
    b[52] = b'-';
    b[53] = b'0';
    b[54] = if cx.is_sampled() { b'1' } else { b'0' };
    if let Ok(value) = HeaderValue::from_bytes(&b) {
        headers.insert(TRACEPARENT, value);
    }
    let state = cx.trace_state().header();
    let state = if state.is_empty() {
        Ok(HeaderValue::from_static(""))
    } else {
        HeaderValue::from_str(&state)
    };
    if let Ok(value) = state {
        headers.insert(TRACESTATE, value);
    }
}

#[cfg(all(test, feature = "telemetry"))]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry::Context;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use proptest::prelude::*;

    fn headers(traceparent: &str, tracestate: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(traceparent) {
            h.insert(TRACEPARENT, v);
        }
        if let Some(s) = tracestate.and_then(|s| HeaderValue::from_str(s).ok()) {
            h.insert(TRACESTATE, s);
        }
        h
    }

    /// The propagator's reading: the remote span context, if it found a valid one.
    fn theirs(h: &HeaderMap) -> Option<SpanContext> {
        let cx = TraceContextPropagator::new().extract(&super::super::HeaderExtractor(h));
        cx.has_active_span()
            .then(|| cx.span().span_context().clone())
    }

    fn assert_reads_alike(h: &HeaderMap) {
        match parse(h) {
            Parsed::Known(ours) => assert_eq!(ours, theirs(h), "{h:?}"),
            Parsed::Other => {}
        }
    }

    #[test]
    fn canonical_headers_read_as_the_propagator_reads_them() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "00f067aa0ba902b7";
        for flags in ["00", "01", "02", "03", "ff", "0f"] {
            for state in [
                None,
                Some(""),
                Some("vendor=1,other=two"),
                Some("not a state"),
            ] {
                assert_reads_alike(&headers(&format!("00-{id}-{span}-{flags}"), state));
            }
        }
        assert_reads_alike(&headers(&format!("00-{}-{span}-01", "0".repeat(32)), None));
        assert_reads_alike(&headers(&format!("00-{id}-{}-01", "0".repeat(16)), None));
        assert_eq!(parse(&HeaderMap::new()), Parsed::Known(None));
        assert!(matches!(
            parse(&headers(&format!("00-{id}-{span}-01"), None)),
            Parsed::Known(Some(_))
        ));
        // Not canonical: left to the propagator.
        for odd in [
            format!("01-{id}-{span}-01"),
            format!("00-{}-{span}-01", id.to_uppercase()),
            format!(" 00-{id}-{span}-01"),
            format!("00-{id}-{span}-01-extra"),
            format!("00-{id}-{span}-0A"),
        ] {
            assert_eq!(parse(&headers(&odd, None)), Parsed::Other, "{odd}");
        }
    }

    fn written(cx: &SpanContext) -> (HeaderMap, HeaderMap) {
        let mut ours = HeaderMap::new();
        write(cx, &mut ours);
        let mut theirs = HeaderMap::new();
        TraceContextPropagator::new().inject_context(
            &Context::new().with_remote_span_context(cx.clone()),
            &mut super::super::HeaderInjector(&mut theirs),
        );
        (ours, theirs)
    }

    proptest! {
        #[test]
        fn any_canonical_traceparent_reads_alike(
            trace in any::<u128>(),
            span in any::<u64>(),
            flags in prop_oneof![0u8..4, any::<u8>()],
            state in prop::option::of("[a-z0-9=,@ ]{0,30}"),
        ) {
            let tp = format!("00-{trace:032x}-{span:016x}-{flags:02x}");
            assert_reads_alike(&headers(&tp, state.as_deref()));
        }

        #[test]
        fn any_traceparent_is_read_alike_or_left_to_the_propagator(tp in "[0-9a-fA-F -]{0,60}") {
            assert_reads_alike(&headers(&tp, None));
        }

        #[test]
        fn any_context_is_written_as_the_propagator_writes_it(
            trace in any::<u128>(),
            span in any::<u64>(),
            flags in any::<u8>(),
            state in prop::option::of("[a-z]{1,8}=[a-z0-9]{1,8}"),
        ) {
            let state = state.and_then(|s| s.parse::<TraceState>().ok()).unwrap_or_default();
            let cx = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::new(flags),
                flags % 2 == 0,
                state,
            );
            let (ours, theirs) = written(&cx);
            prop_assert_eq!(ours, theirs);
        }
    }
}
