//! OpenTelemetry for the binaries (feature `otel`): one [`init`] for the gateway, the ML node and
//! the admin API, W3C trace context in and out, and HTTP spans named and attributed as the
//! OpenTelemetry semantic conventions say.
//!
//! - **Export** is off unless an endpoint is set: `--otlp-endpoint URL` (a base URL, `/v1/traces`
//!   is appended), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL). `OTEL_SDK_DISABLED=true` turns it off. Spans go
//!   over OTLP/HTTP (protobuf) through a batch processor on its own thread: a request never waits
//!   for the exporter, and spans beyond the queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048) are dropped.
//!   The exporter and processor read the other standard variables: `OTEL_EXPORTER_OTLP_HEADERS`,
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_SCHEDULE_DELAY`, ...; the provider reads
//!   `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`) and
//!   `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_SERVICE_NAME` overrides the binary's name.
//! - **Propagation**: [`server_span`] continues the trace of an incoming `traceparent` /
//!   `tracestate`; [`inject_current`] writes the current span's context into an outgoing
//!   request's headers. Without export nothing is injected, and the callers pass the client's
//!   `traceparent` on unchanged, so an engine still sees the client's trace id.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::logging::{env_filter, stderr_layer, LogFormat};

/// Whether spans are exported (set once by [`init`]).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The W3C trace-context headers, which callers pass on when nothing is exported.
pub const TRACE_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("OTLP endpoint {0:?} must be an http:// or https:// URL")]
    Endpoint(String),
    /// The exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// The installed telemetry; [`shutdown`](Self::shutdown) (or dropping it) flushes the spans
/// still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    endpoint: Option<String>,
}

impl Telemetry {
    /// The URL spans are exported to, when exporting.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Flushes queued spans and stops the exporter (bounded by the exporter's timeout).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                tracing::warn!(error = %e, "flushing spans at shutdown failed");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where spans go: `flag` (a base URL) wins over `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
/// is) and `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL); `None` when export is off.
fn traces_endpoint(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, TelemetryError> {
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled {
        return Ok(None);
    }
    let base = |b: &str| format!("{}/v1/traces", b.trim_end_matches('/'));
    let url = match flag.filter(|f| !f.is_empty()) {
        Some(f) => base(f),
        None => match (
            env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.is_empty()),
            env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty()),
        ) {
            (Some(traces), _) => traces,
            (None, Some(b)) => base(&b),
            (None, None) => return Ok(None),
        },
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(TelemetryError::Endpoint(url));
    }
    Ok(Some(url))
}

/// Installs the global subscriber: logs to stderr in `format` (filtered by `RUST_LOG`), plus
/// span export over OTLP/HTTP when an endpoint is set (see the module docs), with the W3C
/// trace-context propagator. `service` names the binary unless `OTEL_SERVICE_NAME` is set.
/// A subscriber already installed (e.g. by a test) is left as is.
///
/// # Errors
/// [`TelemetryError`] when the endpoint is not a URL or the exporter cannot be built.
pub fn init(
    service: &'static str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let endpoint = traces_endpoint(otlp_endpoint, |k| std::env::var(k).ok())?;
    let Some(url) = endpoint else {
        crate::logging::init(format);
        return Ok(Telemetry {
            provider: None,
            endpoint: None,
        });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| service.to_owned());
    let resource = Resource::builder()
        .with_service_name(name)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("gonka");
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(env_filter());
    let installed = tracing_subscriber::registry()
        .with(stderr_layer(format))
        .with(otel)
        .try_init()
        .is_ok();
    if installed {
        EXPORTING.store(true, Ordering::Release);
        tracing::info!(endpoint = %url, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry {
        provider: Some(provider),
        endpoint: Some(url),
    })
}

/// Whether spans are exported (so contexts are injected) in this process.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Acquire)
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

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

/// The server span of one HTTP request, for `tower_http::trace::TraceLayer::make_span_with`:
/// named `{method} {route}` (the matched route, else the method alone), kind server, with
/// `http.request.method`, `url.path`, `http.route`, `request_id`, and `http.response.status_code`
/// / `otel.status_code` filled in by [`record_response`]. When exporting, its parent is the
/// trace context of the request's `traceparent` / `tracestate`.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %method,
        url.path = %request.uri().path(),
        http.route = route.unwrap_or(""),
        request_id = %request_id,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
    );
    if exporting() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// Records `status` on a server or client `span`: `http.response.status_code`, and for a 5xx
/// (server spans) span status error with `error.type` the status code.
pub fn record_status(span: &Span, status: StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.as_str());
    }
}

/// [`record_status`] in the shape of `TraceLayer::on_response`.
pub fn record_response<B>(
    response: &axum::http::Response<B>,
    _latency: std::time::Duration,
    span: &Span,
) {
    record_status(span, response.status());
}

/// `router` with a server span per request ([`server_span`], [`record_response`]) through
/// tower-http's `TraceLayer`: requests continue their client's trace, 5xx mark the span failed.
pub fn traced(router: axum::Router) -> axum::Router {
    router.layer(
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(server_span::<axum::body::Body>)
            .on_response(record_response::<axum::body::Body>),
    )
}

/// A client span for a call to `server` (a node id or host) at `method` `path`: kind client,
/// `http.request.method`, `url.path`, `server.address`; record its answer with
/// [`record_status`] and a transport failure with [`record_error`].
pub fn client_span(method: &str, path: &str, server: &str) -> Span {
    tracing::info_span!(
        "upstream",
        otel.name = %method,
        otel.kind = "client",
        http.request.method = %method,
        url.path = %path,
        server.address = %server,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
    )
}

/// Marks `span` failed by a transport error of kind `kind` (e.g. `connect`, `timeout`).
pub fn record_error(span: &Span, kind: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind);
}

/// Writes the trace context of `span` into `headers` (`traceparent`, `tracestate`), replacing
/// any there, when spans are exported; does nothing otherwise (the caller's pass-through of the
/// client's headers then carries the trace on).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !exporting() {
        return;
    }
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

/// The current span's trace-context headers for an outgoing request (empty, without
/// allocating, when spans are not exported): `reqwest::RequestBuilder::headers(trace_headers())`.
pub fn trace_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
}

/// [`inject`] with the current span.
pub fn inject_current(headers: &mut HeaderMap) {
    inject(&Span::current(), headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_endpoint_comes_from_the_flag_then_the_standard_variables() {
        assert_eq!(traces_endpoint(None, env(&[])).unwrap(), None);
        assert_eq!(
            traces_endpoint(Some("http://c:4318/"), env(&[]))
                .unwrap()
                .unwrap(),
            "http://c:4318/v1/traces"
        );
        let both = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"),
        ];
        assert_eq!(
            traces_endpoint(None, env(&both)).unwrap().unwrap(),
            "http://t:4318/custom"
        );
        assert_eq!(
            traces_endpoint(None, env(&both[..1])).unwrap().unwrap(),
            "http://base:4318/v1/traces"
        );
        assert_eq!(
            traces_endpoint(Some("http://flag:1"), env(&both))
                .unwrap()
                .unwrap(),
            "http://flag:1/v1/traces"
        );
        let off = [("OTEL_SDK_DISABLED", "true"), both[0]];
        assert_eq!(
            traces_endpoint(Some("http://flag:1"), env(&off)).unwrap(),
            None
        );
        assert!(traces_endpoint(Some("collector:4318"), env(&[])).is_err());
    }

    /// Spans recorded through the same layer [`init`] installs, into an in-memory exporter.
    fn record(f: impl FnOnce()) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let _ = provider.force_flush();
        exporter.get_finished_spans().unwrap()
    }

    #[test]
    fn server_spans_follow_the_http_conventions_and_5xx_is_an_error() {
        let spans = record(|| {
            let request = Request::post("/v1/chat/completions?x=1").body(()).unwrap();
            let span = server_span(&request);
            record_status(&span, StatusCode::BAD_GATEWAY);
            let ok = client_span("POST", "/v1/chat/completions", "node-7");
            record_status(&ok, StatusCode::OK);
            let refused = client_span("POST", "/v1/completions", "node-8");
            record_error(&refused, "connect");
        });
        assert_eq!(spans.len(), 3);
        let by_name = |kind: opentelemetry::trace::SpanKind, addr: Option<&str>| {
            spans
                .iter()
                .find(|s| {
                    s.span_kind == kind
                        && addr.is_none_or(|a| {
                            s.attributes.iter().any(|kv| {
                                kv.key.as_str() == "server.address" && kv.value.as_str() == a
                            })
                        })
                })
                .unwrap()
        };
        let attr = |s: &opentelemetry_sdk::trace::SpanData, k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.as_str().into_owned())
        };
        let server = by_name(opentelemetry::trace::SpanKind::Server, None);
        assert_eq!(server.name, "POST");
        assert_eq!(attr(server, "http.request.method").as_deref(), Some("POST"));
        assert_eq!(
            attr(server, "url.path").as_deref(),
            Some("/v1/chat/completions")
        );
        assert_eq!(
            attr(server, "http.response.status_code").as_deref(),
            Some("502")
        );
        assert_eq!(attr(server, "error.type").as_deref(), Some("502"));
        assert!(matches!(
            server.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        let ok = by_name(opentelemetry::trace::SpanKind::Client, Some("node-7"));
        assert_eq!(ok.status, opentelemetry::trace::Status::Unset);
        let refused = by_name(opentelemetry::trace::SpanKind::Client, Some("node-8"));
        assert_eq!(attr(refused, "error.type").as_deref(), Some("connect"));
        assert!(matches!(
            refused.status,
            opentelemetry::trace::Status::Error { .. }
        ));
    }

    #[test]
    fn nothing_is_injected_when_not_exporting() {
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        assert!(headers.is_empty());
    }
}
