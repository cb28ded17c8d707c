//! Logging set-up for binaries (feature `logging`): `tracing` to stderr as text or JSON lines,
//! filtered by `RUST_LOG` (default `info`).

use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The `Logging:` paragraph of every binary's `--help`, as a string literal (for `concat!`
/// with a binary's own text); [`LOG_HELP`] is the same text as a constant.
#[macro_export]
macro_rules! log_help {
    () => {
        "Logging: to stderr, one line per event (--log-format text|json); colours only when stderr \
is a terminal. RUST_LOG sets the filter in tracing's EnvFilter syntax, default `info`, e.g. \
RUST_LOG=warn,gonka_gateway=debug or RUST_LOG=gonka_mlnode::engine=trace. The per-request spans \
(targets gonka_request and gonka_http) give log lines their request's context only when named, e.g. \
RUST_LOG=info,gonka_request=info."
    };
}

/// The `Logging:` paragraph of every binary's `--help` ([`log_help!`]).
pub const LOG_HELP: &str = log_help!();

/// Output format of the logs (`--log-format text|json` in every binary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Target of the per-request spans of the binaries (the gateway's `request` span with its
/// method, URI and request id, and its `upstream` span per try). Left out of the logs unless
/// `RUST_LOG` names it (see [`env_filter`]).
pub const REQUEST_SPAN_TARGET: &str = "gonka_request";

/// Target of the HTTP server and client spans of `gonka_core::trace_context` (the spans
/// OpenTelemetry exports). Left out of the logs unless `RUST_LOG` names it (see [`env_filter`]).
pub const HTTP_SPAN_TARGET: &str = "gonka_http";

/// The filter of `RUST_LOG`, or `info` when it is unset or invalid; see [`filter_for`].
pub fn env_filter() -> EnvFilter {
    filter_for(std::env::var("RUST_LOG").ok().as_deref())
}

/// The log filter of the `RUST_LOG` value `spec` (`info` when `None`, empty or invalid), with the
/// per-request span targets ([`REQUEST_SPAN_TARGET`], [`HTTP_SPAN_TARGET`]) at `warn` unless
/// `spec` names them. Those spans are a few per request; recording them for the logs cost ~1/3
/// of the gateway's CPU per request at the default `info` (benches/load/NOTES.md), and they add
/// to a log line only the context of a request that logged something. Name them to have it,
/// e.g. `RUST_LOG=info,gonka_request=info`.
pub fn filter_for(spec: Option<&str>) -> EnvFilter {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    let mut filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in [REQUEST_SPAN_TARGET, HTTP_SPAN_TARGET] {
        if !names_target(spec, target) {
            if let Ok(directive) = format!("{target}=warn").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

/// Whether the `RUST_LOG` value `spec` has a directive for `target` (or a module under it).
pub fn names_target(spec: &str, target: &str) -> bool {
    spec.split(',').any(|directive| {
        let name = directive.trim().split(['=', '[']).next().unwrap_or("");
        name == target || name.starts_with(&format!("{target}::"))
    })
}

/// The stderr layer in `format`, filtered by [`env_filter`], for composing with other layers
/// (e.g. a trace exporter) on a `tracing_subscriber::registry()`.
pub fn stderr_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(env_filter())
            .boxed(),
        LogFormat::Json => fmt.json().with_filter(env_filter()).boxed(),
    }
}

/// Installs [`stderr_layer`] as the global subscriber. Does nothing if a subscriber is already
/// installed (e.g. by a test).
pub fn init(format: LogFormat) {
    let _ = tracing_subscriber::registry()
        .with(stderr_layer(format))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether an `info` span of `target` is enabled under `filter`.
    fn info_span_enabled(filter: EnvFilter, target: &'static str) -> bool {
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(filter),
        );
        tracing::subscriber::with_default(subscriber, || match target {
            REQUEST_SPAN_TARGET => !tracing::info_span!(target: "gonka_request", "r").is_disabled(),
            HTTP_SPAN_TARGET => !tracing::info_span!(target: "gonka_http", "h").is_disabled(),
            _ => !tracing::info_span!("other").is_disabled(),
        })
    }

    #[test]
    fn per_request_spans_are_left_out_unless_named() {
        for spec in [
            None,
            Some(""),
            Some("info"),
            Some("debug,hyper=warn"),
            Some("not a filter["),
        ] {
            assert!(
                !info_span_enabled(filter_for(spec), REQUEST_SPAN_TARGET),
                "{spec:?}"
            );
            assert!(
                !info_span_enabled(filter_for(spec), HTTP_SPAN_TARGET),
                "{spec:?}"
            );
            assert!(info_span_enabled(filter_for(spec), "other"), "{spec:?}");
        }
        assert!(info_span_enabled(
            filter_for(Some("info,gonka_request=info")),
            REQUEST_SPAN_TARGET
        ));
        assert!(!info_span_enabled(
            filter_for(Some("info,gonka_request=info")),
            HTTP_SPAN_TARGET
        ));
        assert!(info_span_enabled(
            filter_for(Some("warn,gonka_http=info")),
            HTTP_SPAN_TARGET
        ));
    }

    #[test]
    fn names_target_reads_directives() {
        assert!(names_target("info,gonka_http=debug", "gonka_http"));
        assert!(names_target("gonka_http", "gonka_http"));
        assert!(names_target("gonka_http[span]=info", "gonka_http"));
        assert!(!names_target("info,gonka_httpx=debug", "gonka_http"));
        assert!(!names_target("info", "gonka_http"));
    }
}
