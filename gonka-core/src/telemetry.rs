//! The binaries' logging and OpenTelemetry set-up (feature `telemetry`): logs to stderr
//! ([`crate::logging`]), the W3C trace-context propagator, and, when an OTLP endpoint is set,
//! spans exported over OTLP/HTTP (protobuf) by the SDK's batch span processor.
//!
//! The exporter is this module's own (`otlp_http`): it encodes a batch straight into the
//! protobuf bytes of the export request (`otlp_encode`, checked against opentelemetry-proto's
//! conversion) instead of building the request's message structs first, which took most of the
//! export thread's time.
//!
//! Settings are OpenTelemetry's standard environment variables, read by the SDK and the exporter:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; `/v1/traces` is appended),
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (full URL), `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`,
//! `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`),
//! `OTEL_BSP_*` (batch size, queue size, schedule delay) and `OTEL_SDK_DISABLED=true` (no export).
//! A binary's `--otlp-endpoint` flag, when given, overrides the endpoint variables.
//!
//! Export is off unless an endpoint is set. Spans are queued to the batch processor's own thread;
//! when its queue is full they are dropped, never waited for. Without export the propagator and the
//! bridge are still installed with a `parentbased_always_off` sampler, so the trace id (and sampled
//! flag) of an incoming `traceparent` is passed on to the calls a request makes.

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::logging::{env_filter, stderr_layer, LogFormat};
use crate::trace_context::{SpanMode, TARGET};

mod otlp_encode;
mod otlp_http;

/// The `Tracing:` paragraph of every binary's `--help` (a literal, for `concat!`; also
/// [`OTEL_HELP`]).
#[macro_export]
macro_rules! otel_help {
    () => {
        "Tracing: OpenTelemetry spans are exported over OTLP/HTTP (protobuf) only when an endpoint \
is set: OTEL_EXPORTER_OTLP_ENDPOINT (base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (full URL), \
with OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER \
and OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on), OTEL_BSP_* and OTEL_SDK_DISABLED=true. \
W3C traceparent/tracestate headers of requests are passed on to the calls they cause, also \
without export."
    };
}

/// The `Tracing:` paragraph of every binary's `--help` ([`otel_help!`]).
pub const OTEL_HELP: &str = otel_help!();

/// Why telemetry could not be set up.
#[derive(Debug)]
pub struct TelemetryError(String);

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot set up OTLP trace export: {}", self.0)
    }
}

impl std::error::Error for TelemetryError {}

/// Holds the tracer provider; dropping it (or [`Telemetry::shutdown`]) exports the spans still
/// queued (a blocking flush bounded by the exporter's timeout) and stops the batch processor. Keep
/// it until the binary's servers have stopped.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
    /// Whether the log filter may record the HTTP spans (`RUST_LOG` names their target at `info`
    /// or finer).
    http_spans_logged: bool,
}

impl Telemetry {
    /// Whether spans are exported (an endpoint is set and `OTEL_SDK_DISABLED` is not `true`).
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Whether some layer records the HTTP spans: they are exported, or the log filter
    /// (`RUST_LOG`) may enable `info` spans. When not, a binary may pass the trace context on
    /// without building them ([`crate::trace_context::set_propagation_only`]).
    pub fn http_spans_recorded(&self) -> bool {
        self.exporting || self.http_spans_logged
    }

    /// The cheapest [`SpanMode`] that keeps what is recorded of the HTTP spans: no spans when
    /// nothing records them, spans built directly when only the exporter does, `tracing` spans
    /// when the logs may record them.
    pub fn span_mode(&self) -> SpanMode {
        if !self.http_spans_recorded() {
            SpanMode::PropagationOnly
        } else if self.exporting && !self.http_spans_logged {
            SpanMode::Direct
        } else {
            SpanMode::Tracing
        }
    }

    /// Flushes and stops, as dropping does.
    pub fn shutdown(self) {}
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if self.exporting {
            if let Err(e) = self.provider.shutdown() {
                tracing::warn!(error = %e, "flushing traces at shutdown failed");
            }
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// `OTEL_SERVICE_NAME`, else `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else `default`.
fn service_name(default: &str) -> String {
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
        if !name.is_empty() {
            return name;
        }
    }
    std::env::var("OTEL_RESOURCE_ATTRIBUTES")
        .ok()
        .and_then(|attrs| {
            attrs.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "service.name").then(|| v.trim().to_owned())
            })
        })
        .unwrap_or_else(|| default.to_owned())
}

/// Installs the global subscriber (logs to stderr in `format`, filtered by `RUST_LOG`), the W3C
/// propagator and the OpenTelemetry bridge; exports spans when `otlp_endpoint` (a base URL, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) or the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables give an
/// endpoint, under the service name `OTEL_SERVICE_NAME` or `default_service`. Needs no tokio
/// runtime (the batch processor has its own thread). Does not replace a subscriber already
/// installed (e.g. by a test).
///
/// # Errors
/// [`TelemetryError`] when the exporter cannot be built (e.g. a malformed endpoint).
pub fn init(
    format: LogFormat,
    default_service: &str,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint_set = otlp_endpoint.is_some_and(|e| !e.is_empty())
        || env_set("OTEL_EXPORTER_OTLP_ENDPOINT")
        || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let exporting = endpoint_set && !disabled;
    let provider = if exporting {
        let settings =
            otlp_http::ExportSettings::resolve(otlp_endpoint, |name| std::env::var(name).ok())?;
        let exporter = otlp_http::OtlpHttpExporter::new(settings)?;
        let resource = Resource::builder()
            .with_service_name(service_name(default_service))
            .build();
        // The SDK reads OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_* itself.
        SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build()
    } else {
        SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .build()
    };
    if exporting {
        // Also for the spans built without the bridge (`SpanMode::Direct`).
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    let tracer = provider.tracer("gonka");
    // The HTTP spans always reach the bridge (propagation must not depend on RUST_LOG); other
    // spans only when exporting and RUST_LOG enables them.
    // A target filter (not a filter function): callsites of other targets are never of
    // interest to this layer, so their macros stay cheap instead of asking it every time.
    let http_spans = Targets::new().with_target(TARGET, LevelFilter::TRACE);
    let otel_filter = if exporting {
        FilterExt::boxed(http_spans.or(env_filter()))
    } else {
        FilterExt::boxed(http_spans)
    };
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        // No busy/idle time attributes: an `Instant::now` per poll of every span, and not
        // part of the HTTP semantic conventions.
        .with_tracked_inactivity(false)
        .with_filter(otel_filter);
    let _ = tracing_subscriber::registry()
        .with(stderr_layer(format))
        .with(otel)
        .try_init();
    if exporting {
        tracing::info!(
            service = %service_name(default_service),
            "exporting traces over OTLP/HTTP"
        );
    }
    // The logs record the HTTP spans only when RUST_LOG names their target (see
    // `logging::filter_for`) at a level that lets their `info` spans through.
    let rust_log = std::env::var("RUST_LOG").unwrap_or_default();
    let quiet_log = !crate::logging::names_target(&rust_log, TARGET)
        || env_filter()
            .max_level_hint()
            .is_some_and(|level| level < LevelFilter::INFO);
    Ok(Telemetry {
        provider,
        exporting,
        http_spans_logged: !quiet_log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_mode_keeps_what_is_recorded_at_the_least_cost() {
        // A provider without an exporter: dropping it flushes nothing.
        let mode = |exporting, http_spans_logged| {
            Telemetry {
                provider: SdkTracerProvider::builder().build(),
                exporting,
                http_spans_logged,
            }
            .span_mode()
        };
        assert_eq!(mode(false, false), SpanMode::PropagationOnly);
        assert_eq!(mode(true, false), SpanMode::Direct);
        assert_eq!(mode(false, true), SpanMode::Tracing);
        assert_eq!(mode(true, true), SpanMode::Tracing);
    }

    #[test]
    fn the_logs_leave_out_the_http_spans_by_the_target_they_have() {
        assert_eq!(
            crate::trace_context::TARGET,
            crate::logging::HTTP_SPAN_TARGET
        );
    }
}
