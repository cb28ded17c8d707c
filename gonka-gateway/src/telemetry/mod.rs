//! Logging and tracing set-up for the binary: `tracing` to stderr (text or JSON, `RUST_LOG`).

use gonka_admin::cli::LogFormat;

/// Installs the global subscriber. `otlp_endpoint` asks for an OpenTelemetry OTLP exporter.
///
/// # Errors
/// A message when an OTLP endpoint is given but this build has no OTLP exporter.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<(), String> {
    if let Some(endpoint) = otlp_endpoint {
        return Err(format!(
            "--otlp-endpoint {endpoint}: this build has no OpenTelemetry exporter"
        ));
    }
    gonka_admin::cli::init_logging(format);
    Ok(())
}
