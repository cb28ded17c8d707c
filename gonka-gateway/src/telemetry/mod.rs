//! Logging and tracing set-up for the binary: `tracing` to stderr (text or JSON, filtered by
//! `RUST_LOG`, default `info`; `gonka_core::logging`), plus an optional OTLP trace exporter.

mod otlp;

use gonka_core::logging::{env_filter, stderr_layer, LogFormat};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the global subscriber. With `otlp_endpoint`, spans are also exported to that
/// OTLP/HTTP collector (the exporter task is spawned on the current tokio runtime).
///
/// # Errors
/// [`otlp::InvalidEndpoint`] when the endpoint is malformed.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<(), otlp::InvalidEndpoint> {
    let fmt = stderr_layer(format);
    let otlp = match otlp_endpoint {
        Some(endpoint) => {
            let (layer, export) = otlp::layer(endpoint, "gonka-gateway")?;
            tokio::spawn(export);
            Some(layer.with_filter(env_filter()))
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
