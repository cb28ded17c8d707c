//! W3C trace context over HTTP (feature `trace-context`): the server span every listener opens
//! ([`server_span`], an axum middleware), and client spans for outgoing calls ([`client_span`],
//! [`inject`], [`record_status`], [`record_error`]), with the HTTP semantic-convention attributes
//! and span status of OpenTelemetry.
//!
//! By default ([`SpanMode::Tracing`]) spans are `tracing` spans bridged to OpenTelemetry by
//! `tracing-opentelemetry`; the context is read and written through OpenTelemetry's global
//! propagator. The binaries install the W3C `TraceContextPropagator` and the bridge
//! (`gonka_core::telemetry`, also when export is off, so a request's trace id is passed on) and
//! choose the cheapest mode that keeps what is recorded ([`set_span_mode`]); an embedder that sets
//! up neither gets plain `tracing` spans and no header changes.

use std::sync::atomic::{AtomicU8, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::Context;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

mod direct;
mod lean;
mod w3c;

/// How the HTTP server and client spans are made (one setting for the whole process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanMode {
    /// `tracing` spans, bridged to OpenTelemetry when the bridge is installed: every layer (the
    /// logs, the exporter) sees them. The default.
    #[default]
    Tracing,
    /// OpenTelemetry spans built directly with the tracer of OpenTelemetry's global tracer
    /// provider (taken when this mode is set): the same names, kinds, attributes, status and
    /// parents as the bridged spans, built without the bridge's per-span work (the gateway with
    /// OTLP export measured 0.86× the CPU per request of bridged spans), but invisible to
    /// `tracing` layers. For when only the exporter records the HTTP spans (the log filter leaves them
    /// out). The server span's context is current while a request is served, so bridged spans and
    /// outgoing calls under it are its children.
    Direct,
    /// No spans: when nothing records them (no export, the log filter leaves them out). The
    /// headers passed on are those the spans would have produced under the binaries'
    /// non-exporting sampler. An outgoing call made from a task spawned by a request handler is
    /// then a root of a new trace.
    PropagationOnly,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets how the HTTP spans are made from now on ([`SpanMode`]); for [`SpanMode::Direct`], takes
/// the tracer of the global tracer provider, so set that provider first.
pub fn set_span_mode(mode: SpanMode) {
    if mode == SpanMode::Direct {
        direct::use_global_tracer();
    }
    let code = match mode {
        SpanMode::Tracing => 0,
        SpanMode::Direct => 1,
        SpanMode::PropagationOnly => 2,
    };
    MODE.store(code, Ordering::Relaxed);
}

/// How the HTTP spans are made now ([`set_span_mode`]).
pub fn span_mode() -> SpanMode {
    match MODE.load(Ordering::Relaxed) {
        1 => SpanMode::Direct,
        2 => SpanMode::PropagationOnly,
        _ => SpanMode::Tracing,
    }
}

/// Sets whether the HTTP spans are skipped and the trace context passed on directly:
/// [`SpanMode::PropagationOnly`] when `on`, else [`SpanMode::Tracing`].
pub fn set_propagation_only(on: bool) {
    set_span_mode(if on {
        SpanMode::PropagationOnly
    } else {
        SpanMode::Tracing
    });
}

/// The `tracing` target of the HTTP server and client spans (the binaries export spans of this
/// target even when `RUST_LOG` would filter them out, so propagation never depends on log levels).
pub const TARGET: &str = "gonka_http";

/// Reads W3C headers out of an [`http::HeaderMap`] for the propagator.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes W3C headers into an [`http::HeaderMap`] for the propagator.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context `traceparent`/`tracestate` in `headers` carry (an empty context when absent,
/// malformed, or no propagator is installed).
pub fn extract(headers: &HeaderMap) -> Context {
    if w3c::global_is_w3c() {
        if let w3c::Parsed::Known(parent) = w3c::parse(headers) {
            use opentelemetry::trace::TraceContextExt as _;
            let current = Context::current();
            return match parent {
                Some(parent) => current.with_remote_span_context(parent),
                None => current,
            };
        }
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// One outgoing HTTP call's client span, as the current [`SpanMode`] makes it ([`client_span`]).
/// The span ends when this is dropped.
#[derive(Debug)]
pub struct ClientSpan(ClientInner);

#[derive(Debug)]
enum ClientInner {
    /// A `tracing` span (bridged when the bridge is installed).
    Tracing(Span),
    /// An OpenTelemetry span built directly, in the context that holds it.
    Direct(Context),
    /// No span, the context passed on directly ([`SpanMode::PropagationOnly`]).
    PropagationOnly,
    /// No span and nothing passed on ([`SpanMode::Direct`] without a tracer).
    None,
}

impl ClientSpan {
    /// The `tracing` span, in [`SpanMode::Tracing`].
    pub fn tracing_span(&self) -> Option<&Span> {
        match &self.0 {
            ClientInner::Tracing(span) => Some(span),
            _ => None,
        }
    }

    /// Runs `call` (the call this span is for) inside the span, so what it logs or spans is
    /// under it.
    pub async fn instrument<F: std::future::Future>(&self, call: F) -> F::Output {
        use opentelemetry::trace::FutureExt as _;
        match &self.0 {
            ClientInner::Tracing(span) => tracing::Instrument::instrument(call, span.clone()).await,
            ClientInner::Direct(cx) => call.with_context(cx.clone()).await,
            ClientInner::PropagationOnly | ClientInner::None => call.await,
        }
    }
}

impl Drop for ClientSpan {
    fn drop(&mut self) {
        if let ClientInner::Direct(cx) = &self.0 {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span().end();
        }
    }
}

/// Writes `span`'s trace context into `headers` as `traceparent` (and `tracestate` when there is
/// one), replacing what was there. Writes nothing when no propagator is installed. In
/// [`SpanMode::PropagationOnly`] the context written is a new child of the current request's.
pub fn inject(span: &ClientSpan, headers: &mut HeaderMap) {
    match &span.0 {
        ClientInner::Tracing(span) => inject_span(span, headers),
        ClientInner::Direct(cx) => direct::inject(cx, headers),
        ClientInner::PropagationOnly => lean::inject(headers),
        ClientInner::None => {}
    }
}

/// Writes the trace context of the `tracing` span `span` into `headers`, as [`inject`] does.
fn inject_span(span: &Span, headers: &mut HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// `server.address` and `server.port` from a `Host` header (`host[:port]`).
fn host_and_port(headers: &HeaderMap) -> (Option<&str>, Option<u16>) {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return (None, None);
    };
    match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
            Ok(port) => (Some(h), Some(port)),
            Err(_) => (Some(host), None),
        },
        _ => (Some(host), None),
    }
}

/// axum middleware: runs the request inside a server span (`otel.kind = server`) named
/// `METHOD route` whose parent is the trace context of the request's `traceparent`/`tracestate`,
/// with `http.request.method`, `http.route`, `url.path`, `server.address`, `server.port` and,
/// once answered, `http.response.status_code`; a 5xx answer sets `error.type` and the span
/// status to error (a 4xx does not: on a server it is the client's error). Add it with
/// `Router::layer(axum::middleware::from_fn(server_span))` so the matched route is known.
pub async fn server_span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    in_server_span(route.as_deref(), request, |request| next.run(request)).await
}

/// What [`server_span`] does, for a service that routes `request` itself (no axum `MatchedPath`):
/// runs `answer(request)` inside the server span of `request`, named after its method and
/// `route` (the route pattern that matched, `None` when none did), and records the answer's
/// status on it.
pub async fn in_server_span<B, F, Fut>(
    route: Option<&str>,
    request: http::Request<B>,
    answer: F,
) -> Response
where
    F: FnOnce(http::Request<B>) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match span_mode() {
        SpanMode::Tracing => {}
        SpanMode::Direct => return direct::in_server_span(route, request, answer).await,
        SpanMode::PropagationOnly => {
            let cx = lean::server_context(request.headers());
            return lean::scope(cx, answer(request)).await;
        }
    }
    let method = request.method().as_str();
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let (address, port) = host_and_port(request.headers());
    let span = tracing::info_span!(
        target: TARGET,
        "http_server",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        "http.request.method" = method,
        "http.route" = route,
        "url.path" = request.uri().path(),
        "server.address" = address,
        "server.port" = port.map(i64::from),
        "http.response.status_code" = Empty,
        "error.type" = Empty,
    );
    let parent = extract(request.headers());
    // Fails only when the span is disabled or no bridge is installed: then there is nothing to link.
    let _ = span.set_parent(parent);
    let response = tracing::Instrument::instrument(answer(request), span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("error.type", status.to_string().as_str());
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// A client span (`otel.kind = client`, named after the method) for one outgoing HTTP call to
/// `uri`, child of the current span: `http.request.method`, `server.address`, `server.port`,
/// `url.full`; record the outcome with [`record_status`] or [`record_error`], put its context
/// on the request with [`inject`], and run the call in it with [`ClientSpan::instrument`]. No
/// span in [`SpanMode::PropagationOnly`].
pub fn client_span(method: &Method, uri: &Uri) -> ClientSpan {
    ClientSpan(match span_mode() {
        SpanMode::PropagationOnly => ClientInner::PropagationOnly,
        SpanMode::Direct => match direct::client_span(method, uri) {
            Some(cx) => ClientInner::Direct(cx),
            None => ClientInner::None,
        },
        SpanMode::Tracing => ClientInner::Tracing(tracing::info_span!(
            target: TARGET,
            "http_client",
            otel.name = method.as_str(),
            otel.kind = "client",
            otel.status_code = Empty,
            "http.request.method" = method.as_str(),
            "server.address" = uri.host(),
            "server.port" = uri.port_u16().map(i64::from),
            "url.full" = %uri,
            "http.response.status_code" = Empty,
            "error.type" = Empty,
        )),
    })
}

/// Records a client call's answer on its span: `http.response.status_code`, and for a 4xx or
/// 5xx also `error.type` and the error status (a client span treats both as errors).
pub fn record_status(span: &ClientSpan, status: u16) {
    match &span.0 {
        ClientInner::Tracing(span) => {
            span.record("http.response.status_code", i64::from(status));
            if status >= 400 {
                span.record("error.type", status.to_string().as_str());
                span.record("otel.status_code", "ERROR");
            }
        }
        ClientInner::Direct(cx) => direct::record_status(cx, status),
        ClientInner::PropagationOnly | ClientInner::None => {}
    }
}

/// Records a client call that got no answer (connection refused, reset, timeout): `error.type`
/// (e.g. `connect`, `timeout`, `transport`) and the error status.
pub fn record_error(span: &ClientSpan, error_type: &'static str) {
    match &span.0 {
        ClientInner::Tracing(span) => {
            span.record("error.type", error_type);
            span.record("otel.status_code", "ERROR");
        }
        ClientInner::Direct(cx) => direct::record_error(cx, error_type),
        ClientInner::PropagationOnly | ClientInner::None => {}
    }
}

/// Sends a `reqwest` request inside a [`client_span`]: the span's context is injected as
/// `traceparent`/`tracestate` (replacing any the builder had), and the answer's status, or the
/// transport error, is recorded on it.
///
/// # Errors
/// As [`reqwest::RequestBuilder::send`].
pub async fn send(builder: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = builder.build_split();
    let mut request = request?;
    let uri: Uri = request.url().as_str().parse().unwrap_or_default();
    let span = client_span(request.method(), &uri);
    inject(&span, request.headers_mut());
    let result = span.instrument(client.execute(request)).await;
    match &result {
        Ok(response) => record_status(&span, response.status().as_u16()),
        Err(e) if e.is_timeout() => record_error(&span, "timeout"),
        Err(e) if e.is_connect() => record_error(&span, "connect"),
        Err(_) => record_error(&span, "transport"),
    }
    result
}

/// [`send`] as a method: `builder.send_traced().await` instead of `builder.send().await`.
pub trait SendTraced {
    /// Sends as [`send`] does.
    fn send_traced(
        self,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send;
}

impl SendTraced for reqwest::RequestBuilder {
    fn send_traced(
        self,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send {
        send(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_splits_into_address_and_port() {
        let mut h = HeaderMap::new();
        assert_eq!(host_and_port(&h), (None, None));
        h.insert(HOST, HeaderValue::from_static("example.org:8080"));
        assert_eq!(host_and_port(&h), (Some("example.org"), Some(8080)));
        h.insert(HOST, HeaderValue::from_static("example.org"));
        assert_eq!(host_and_port(&h), (Some("example.org"), None));
        h.insert(HOST, HeaderValue::from_static("[::1]:9"));
        assert_eq!(host_and_port(&h), (Some("[::1]"), Some(9)));
    }
}
