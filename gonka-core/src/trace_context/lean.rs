//! Propagation without spans: when no layer records the HTTP spans (no export, and a log filter
//! below `info`), building a `tracing` span bridged to OpenTelemetry per request and per
//! outgoing call only serves to pass the trace context on. This mode passes it on directly: the
//! server side derives its span context from the request's `traceparent`/`tracestate` and keeps
//! it for the request's task; an outgoing call gets a child of it. The ids and flags are those
//! the bridge would produce under the binaries' non-exporting sampler (parent-based, off for
//! roots): a sampled parent gives sampled children of its trace, an unsampled one unsampled
//! children of its trace, no parent a new unsampled trace; `tracestate` goes along.

use std::future::Future;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;

tokio::task_local! {
    /// The server span context of the request this task serves.
    static CURRENT: SpanContext;
}

fn new_span_id() -> SpanId {
    loop {
        let id = SpanId::from_bytes(rand::random::<[u8; 8]>());
        if id != SpanId::INVALID {
            return id;
        }
    }
}

fn new_trace_id() -> TraceId {
    loop {
        let id = TraceId::from_bytes(rand::random::<[u8; 16]>());
        if id != TraceId::INVALID {
            return id;
        }
    }
}

/// The context of a new span under `parent`, as a parent-based sampler that is off for roots
/// decides it.
pub(super) fn child_of(parent: Option<&SpanContext>) -> SpanContext {
    let span_id = new_span_id();
    match parent.filter(|p| p.is_valid()) {
        Some(p) => {
            let flags = if p.is_sampled() {
                p.trace_flags().with_sampled(true)
            } else {
                TraceFlags::default()
            };
            SpanContext::new(p.trace_id(), span_id, flags, false, p.trace_state().clone())
        }
        None => SpanContext::new(
            new_trace_id(),
            span_id,
            TraceFlags::default(),
            false,
            TraceState::default(),
        ),
    }
}

/// The server span context of a request with `headers`.
pub(super) fn server_context(headers: &http::HeaderMap) -> SpanContext {
    let read_directly = if super::w3c::global_is_w3c() {
        match super::w3c::parse(headers) {
            super::w3c::Parsed::Known(parent) => Some(parent),
            super::w3c::Parsed::Other => None,
        }
    } else {
        None
    };
    match read_directly {
        Some(Some(parent)) => child_of(Some(&parent)),
        // No parent in the headers: the propagator's answer is the current context.
        Some(None) => child_of_context(&Context::current()),
        None => child_of_context(&super::extract(headers)),
    }
}

/// A new span context under the span `cx` holds, or a new root when it holds none.
fn child_of_context(cx: &Context) -> SpanContext {
    if cx.has_active_span() {
        child_of(Some(cx.span().span_context()))
    } else {
        child_of(None)
    }
}

/// Runs `fut` (a request's handling) with `cx` as its server span context.
pub(super) async fn scope<F: Future>(cx: SpanContext, fut: F) -> F::Output {
    CURRENT.scope(cx, fut).await
}

/// Writes the context of a new client span (child of the current request's, or a new root
/// outside any request) into `headers`.
pub(super) fn inject(headers: &mut http::HeaderMap) {
    let sc = CURRENT
        .try_with(|parent| child_of(Some(parent)))
        .unwrap_or_else(|_| child_of(None));
    if super::w3c::global_is_w3c() {
        super::w3c::write(&sc, headers);
        return;
    }
    let cx = Context::new().with_remote_span_context(sc);
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut super::HeaderInjector(headers))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(flags: TraceFlags, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
            SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
            flags,
            true,
            state.parse().unwrap_or_default(),
        )
    }

    #[test]
    fn a_sampled_parent_gives_a_sampled_child_of_its_trace_with_its_state() {
        let parent = remote(TraceFlags::SAMPLED, "vendor=1");
        let child = child_of(Some(&parent));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert!(child.is_sampled());
        assert!(!child.is_remote());
        assert_eq!(child.trace_state().header(), "vendor=1");
    }

    #[test]
    fn an_unsampled_parent_gives_an_unsampled_child_of_its_trace() {
        let parent = remote(TraceFlags::default(), "");
        let child = child_of(Some(&parent));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert!(!child.is_sampled());
        assert!(child.is_valid());
    }

    #[test]
    fn no_parent_starts_a_new_unsampled_trace() {
        let a = child_of(None);
        let b = child_of(None);
        assert!(a.is_valid() && b.is_valid());
        assert!(!a.is_sampled());
        assert_ne!(a.trace_id(), b.trace_id());
        let invalid = SpanContext::empty_context();
        assert!(child_of(Some(&invalid)).is_valid());
    }
}
