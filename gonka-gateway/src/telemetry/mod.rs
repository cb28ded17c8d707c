//! Logging and tracing set-up for the binary: `tracing` to stderr (text or JSON, filtered by
//! `RUST_LOG`, default `info`), plus an optional OTLP trace exporter.

pub mod otlp;

use gonka_admin::cli::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber. With `otlp_endpoint`, spans are also exported to that
/// OTLP/HTTP collector (the exporter task is spawned on the current tokio runtime).
///
/// # Errors
/// A message when the endpoint is malformed.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<(), String> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt.json().with_filter(filter()).boxed(),
        _ => fmt.with_filter(filter()).boxed(),
    };
    let otlp = match otlp_endpoint {
        Some(endpoint) => {
            let (layer, export) = otlp::layer(endpoint, "gonka-gateway")?;
            tokio::spawn(export);
            Some(layer.with_filter(filter()))
        }
        None => None,
    };
    // Already initialised (e.g. in tests) is fine.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otlp)
        .try_init();
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(())
}
