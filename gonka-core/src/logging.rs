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
RUST_LOG=warn,gonka_gateway=debug or RUST_LOG=gonka_mlnode::engine=trace."
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

/// The filter of `RUST_LOG`, or `info` when it is unset or invalid.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
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
