//! The HTTP spans of `SpanMode::Direct` (built with the OpenTelemetry tracer) are those of
//! `SpanMode::Tracing` (built as `tracing` spans and bridged by tracing-opentelemetry): the same
//! names, kinds, attributes, status, parents and trace, and the same `traceparent` passed on.
//! Both are exported here through the SDK to an in-memory exporter written for this test.
//! One test: the span mode, the global tracer provider and the subscriber are process-wide.
#![cfg(feature = "telemetry")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use gonka_core::trace_context::{self, SpanMode};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Keeps every exported span.
#[derive(Clone, Debug, Default)]
struct Memory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Memory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Memory {
    fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// What a span says, without its own ids and times.
#[derive(Debug, PartialEq)]
struct Seen {
    name: String,
    kind: String,
    attributes: Vec<(String, String)>,
    status: Status,
    parent_is_remote: bool,
}

fn seen(span: &SpanData) -> Seen {
    let mut attributes: Vec<(String, String)> = span
        .attributes
        .iter()
        .map(|KeyValue { key, value, .. }| (key.to_string(), value.to_string()))
        .collect();
    attributes.sort();
    Seen {
        name: span.name.to_string(),
        kind: format!("{:?}", span.span_kind),
        attributes,
        status: span.status.clone(),
        parent_is_remote: span.parent_span_is_remote,
    }
}

/// One outgoing call to a node in a client span, answered `outcome`; pushes the `traceparent` it
/// carried to `sent`.
async fn call(outcome: Result<u16, &'static str>, sent: &Mutex<Vec<String>>) {
    let uri: Uri = "http://10.0.0.7:5000/v1/chat/completions".parse().unwrap();
    let span = trace_context::client_span(&Method::POST, &uri);
    let mut headers = HeaderMap::new();
    trace_context::inject(&span, &mut headers);
    span.instrument(async {}).await;
    match outcome {
        Ok(status) => trace_context::record_status(&span, status),
        Err(kind) => trace_context::record_error(&span, kind),
    }
    let traceparent = headers.get("traceparent").cloned();
    sent.lock().unwrap().push(
        traceparent
            .map(|v: HeaderValue| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
    );
}

/// One request served in a server span; inside it two outgoing calls: one answered 503, and one
/// that got no answer, made inside a bridged `tracing` span of the handler's. Returns the
/// `traceparent` each call carried.
async fn serve_one() -> Vec<String> {
    let request = Request::post("/v1/chat/completions")
        .header("host", "gw.example:8080")
        .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
        .body(())
        .unwrap();
    let sent = Mutex::new(Vec::new());
    let answer = trace_context::in_server_span(Some("/v1/chat/completions"), request, |_| async {
        call(Ok(503), &sent).await;
        let inner = tracing::info_span!(target: trace_context::TARGET, "handler_work");
        tracing::Instrument::instrument(call(Err("connect"), &sent), inner).await;
        let mut response = axum::response::Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    })
    .await;
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    sent.into_inner().unwrap()
}

#[tokio::test]
async fn direct_spans_are_the_bridged_spans() {
    let memory = Memory::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let bridge = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("gonka"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(trace_context::TARGET, LevelFilter::TRACE));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(bridge)).unwrap();

    let mut by_mode = Vec::new();
    for mode in [SpanMode::Tracing, SpanMode::Direct] {
        trace_context::set_span_mode(mode);
        assert_eq!(trace_context::span_mode(), mode);
        let sent = serve_one().await;
        provider.force_flush().unwrap();
        let spans = memory.take();
        assert_eq!(spans.len(), 4, "{mode:?}: {spans:#?}");
        let server = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Server)
            .expect("a server span");
        let clients: Vec<&SpanData> = spans
            .iter()
            .filter(|s| s.span_kind == SpanKind::Client)
            .collect();
        assert_eq!(clients.len(), 2, "{mode:?}");
        let inner = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Internal)
            .expect("the handler's span");
        // The trace and the parents: the caller's span <- server span <- first call, and
        // server span <- the handler's span <- second call.
        for span in &spans {
            assert_eq!(span.span_context.trace_id().to_string(), TRACE, "{mode:?}");
        }
        assert_eq!(server.parent_span_id.to_string(), CLIENT_SPAN, "{mode:?}");
        let server_id = server.span_context.span_id();
        assert_eq!(inner.parent_span_id, server_id, "{mode:?}");
        let parents = [server_id, inner.span_context.span_id()];
        for ((client, traceparent), parent) in clients.iter().zip(&sent).zip(parents) {
            assert_eq!(client.parent_span_id, parent, "{mode:?}");
            assert_eq!(
                traceparent,
                &format!("00-{TRACE}-{}-01", client.span_context.span_id()),
                "{mode:?}: the call carries its client span"
            );
        }
        let mut described: Vec<Seen> = spans.iter().map(seen).collect();
        described.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        by_mode.push(described);
    }
    assert_eq!(by_mode[0], by_mode[1], "bridged, then direct");
    // What they both say, spelled out once.
    let server = by_mode[1]
        .iter()
        .find(|s| s.kind == "Server")
        .expect("a server span");
    assert_eq!(server.name, "POST /v1/chat/completions");
    assert!(server.parent_is_remote);
    assert_eq!(server.status, Status::error(""));
    let keys: Vec<&str> = server.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "error.type",
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "server.address",
            "server.port",
            "target",
            "url.path"
        ]
    );
    let errors: Vec<&Seen> = by_mode[1].iter().filter(|s| s.kind == "Client").collect();
    assert!(errors
        .iter()
        .all(|c| c.name == "POST" && c.status == Status::error("")));
    for error_type in ["503", "connect"] {
        assert!(
            errors.iter().any(|c| c
                .attributes
                .contains(&("error.type".into(), error_type.into()))),
            "{errors:#?}"
        );
    }

    // Without HTTP spans, the calls still carry a child of the caller's trace.
    trace_context::set_span_mode(SpanMode::PropagationOnly);
    let sent = serve_one().await;
    provider.force_flush().unwrap();
    let left: Vec<SpanKind> = memory.take().into_iter().map(|s| s.span_kind).collect();
    assert_eq!(left, [SpanKind::Internal], "only the handler's own span");
    assert!(sent
        .iter()
        .all(|tp| tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-01")));
}
