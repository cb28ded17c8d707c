//! OpenTelemetry spans built directly: when the HTTP spans are exported but no log records them
//! (an OTLP endpoint set, `RUST_LOG` not naming their target), building each as a `tracing` span
//! and bridging it costs about as much again as the span itself (the registry's span data, the
//! bridge's builder, a field visitor per attribute). This mode builds the same spans (name, kind,
//! attributes, status, parent) with the OpenTelemetry tracer of the global provider and keeps the
//! server span's context current while the request is served, so `tracing` spans that are still
//! bridged (other targets `RUST_LOG` enables) and outgoing calls become its children.

use std::borrow::Cow;
use std::future::Future;
use std::sync::RwLock;

use http::{HeaderMap, Method, Uri};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    FutureExt as _, SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The tracer spans are built with (taken from the global provider when the mode is chosen).
static TRACER: RwLock<Option<BoxedTracer>> = RwLock::new(None);

/// Takes the tracer of the global tracer provider for the spans of this mode.
pub(super) fn use_global_tracer() {
    let tracer = opentelemetry::global::tracer("gonka");
    if let Ok(mut slot) = TRACER.write() {
        *slot = Some(tracer);
    }
}

/// Starts `builder` under `parent` with the mode's tracer; `None` when none was taken.
fn start(builder: SpanBuilder, parent: &Context) -> Option<Context> {
    let tracer = TRACER.read().ok()?;
    let span = tracer.as_ref()?.build_with_context(builder, parent);
    Some(parent.with_span(span))
}

/// The method's name, without an allocation for the standard ones.
fn method_name(method: &Method) -> Cow<'static, str> {
    let name: &'static str = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return Cow::Owned(method.as_str().to_owned()),
    };
    Cow::Borrowed(name)
}

/// The `target` attribute the bridge gives every span.
fn target() -> KeyValue {
    KeyValue::new("target", super::TARGET)
}

/// Runs `answer` inside a server span of `request` (as `in_server_span` describes it) built
/// directly; without a tracer taken, runs it with no span.
pub(super) async fn in_server_span<B, F, Fut>(
    route: Option<&str>,
    request: http::Request<B>,
    answer: F,
) -> axum::response::Response
where
    F: FnOnce(http::Request<B>) -> Fut,
    Fut: Future<Output = axum::response::Response>,
{
    let method = request.method();
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.as_str().to_owned(),
    };
    let mut attributes = Vec::with_capacity(8);
    attributes.push(target());
    attributes.push(KeyValue::new("http.request.method", method_name(method)));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
    let (address, port) = super::host_and_port(request.headers());
    if let Some(address) = address {
        attributes.push(KeyValue::new("server.address", address.to_owned()));
    }
    if let Some(port) = port {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    let builder = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes);
    let parent = super::extract(request.headers());
    let Some(cx) = start(builder, &parent) else {
        return answer(request).await;
    };
    let response = answer(request).with_context(cx.clone()).await;
    // On a server, a 4xx is the client's error, not the span's.
    record_answer(&cx, response.status().as_u16(), 500);
    cx.span().end();
    response
}

/// The context of a new client span for a call to `uri`, child of the current `tracing` span
/// when one is bridged, else of the current OpenTelemetry context (the request's server span);
/// `None` when no tracer was taken.
pub(super) fn client_span(method: &Method, uri: &Uri) -> Option<Context> {
    let current = tracing::Span::current();
    let parent = if current.is_none() {
        Context::current()
    } else {
        current.context()
    };
    let mut attributes = Vec::with_capacity(6);
    attributes.push(target());
    attributes.push(KeyValue::new("http.request.method", method_name(method)));
    if let Some(host) = uri.host() {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
    }
    if let Some(port) = uri.port_u16() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    attributes.push(KeyValue::new("url.full", uri.to_string()));
    let builder = SpanBuilder::from_name(method_name(method))
        .with_kind(SpanKind::Client)
        .with_attributes(attributes);
    start(builder, &parent)
}

/// Writes the context of the span `cx` holds into `headers`.
pub(super) fn inject(cx: &Context, headers: &mut HeaderMap) {
    if super::w3c::global_is_w3c() {
        super::w3c::write(cx.span().span_context(), headers);
        return;
    }
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut super::HeaderInjector(headers))
    });
}

/// Records an answer's status on the client span `cx` holds (4xx and 5xx are errors).
pub(super) fn record_status(cx: &Context, status: u16) {
    record_answer(cx, status, 400);
}

/// Records `status` on the span `cx` holds, and from `error_from` up `error.type` and the error
/// status.
fn record_answer(cx: &Context, status: u16, error_from: u16) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= error_from {
        span.set_attribute(KeyValue::new("error.type", status.to_string()));
        span.set_status(Status::error(""));
    }
}

/// Records a call without an answer on the client span `cx` holds.
pub(super) fn record_error(cx: &Context, error_type: &'static str) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("error.type", error_type));
    span.set_status(Status::error(""));
}
