//! W3C trace context over HTTP (feature `trace-context`): the server span every listener opens
//! ([`server_span`], an axum middleware), and client spans for outgoing calls ([`client_span`],
//! [`inject`], [`record_status`], [`record_error`]), with the HTTP semantic-convention attributes
//! and span status of OpenTelemetry.
//!
//! Spans are `tracing` spans bridged to OpenTelemetry by `tracing-opentelemetry`; the context is
//! read and written through OpenTelemetry's global propagator. The binaries install the W3C
//! `TraceContextPropagator` and the bridge (`gonka_core::telemetry`, also when export is off, so a
//! request's trace id is passed on); an embedder that sets up neither gets plain `tracing` spans and
//! no header changes.

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

mod lean;

/// Sets whether the HTTP spans are skipped and the trace context passed on directly (off by
/// default). Turn it on only when no layer records the spans (nothing exported, the log filter
/// below `info`): the headers passed on are then those the spans would have produced, without
/// the cost of a bridged span per request and per outgoing call. An outgoing call made from a
/// task spawned by a request handler is then a root of a new trace.
pub fn set_propagation_only(on: bool) {
    lean::set(on);
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
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes `span`'s trace context into `headers` as `traceparent` (and `tracestate` when there is
/// one), replacing what was there. Writes nothing when no propagator is installed. In
/// propagation-only mode ([`set_propagation_only`]) `span` is ignored and the context written is
/// a new child of the current request's.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if lean::on() {
        lean::inject(headers);
        return;
    }
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
    if lean::on() {
        let cx = lean::server_context(request.headers());
        return lean::scope(cx, answer(request)).await;
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
/// `url.full`; record the outcome with [`record_status`] or [`record_error`], and put its context
/// on the request with [`inject`]. A disabled span in propagation-only mode
/// ([`set_propagation_only`]).
pub fn client_span(method: &Method, uri: &Uri) -> Span {
    if lean::on() {
        return Span::none();
    }
    tracing::info_span!(
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
        "gen_ai.request.model" = Empty,
    )
}

/// Records a client call's answer on its span: `http.response.status_code`, and for a 4xx or
/// 5xx also `error.type` and the error status (a client span treats both as errors).
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.record("error.type", status.to_string().as_str());
        span.record("otel.status_code", "ERROR");
    }
}

/// Records a client call that got no answer (connection refused, reset, timeout): `error.type`
/// (e.g. `connect`, `timeout`, `transport`) and the error status.
pub fn record_error(span: &Span, error_type: &'static str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "ERROR");
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
    let result = tracing::Instrument::instrument(client.execute(request), span.clone()).await;
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
