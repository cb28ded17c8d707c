//! `gonka-admin`: serves the admin API over a durable registry (`gonka-admin [serve] ...`), or
//! manages the nodes of a running one (`gonka-admin nodes ...`). See `--help`.

use std::process::ExitCode;

mod cli;

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("nodes") => return cli::nodes::main(argv).await,
        Some("serve") => {
            argv.remove(1);
        }
        _ => {}
    }
    let args = cli::parse(<cli::Args as clap::CommandFactory>::command(), argv)
        .unwrap_or_else(|e| e.exit());
    // Dropped when main returns: flushes the spans still queued.
    let telemetry = match gonka_core::telemetry::init(args.log_format, "gonka-admin", None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gonka-admin: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The cheapest way to make the HTTP spans that keeps what is recorded of them (built with the
    // OpenTelemetry SDK directly when only the OTLP exporter records them).
    gonka_core::trace_context::set_span_mode(telemetry.span_mode());
    gonka_core::server::raise_fd_limit();
    let mut config = args.server_config();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        match gonka_core::server::tls::TlsFiles::load(cert, key) {
            Ok(tls) => {
                // Installed before anything listens: a SIGHUP from now on reloads.
                #[cfg(unix)]
                tokio::spawn(tls.clone().reload_on_sighup());
                config.tls = Some(tls);
            }
            Err(e) => {
                tracing::error!(error = %e, "gonka-admin cannot start");
                return ExitCode::FAILURE;
            }
        }
    }
    // Refused settings (an empty token, no token beyond loopback) stop before anything listens.
    if let Err(e) = config.check(args.listen) {
        tracing::error!(error = %e, "gonka-admin cannot start");
        return ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match gonka_admin::run_server(config, listener, gonka_core::server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gonka-admin failed");
            ExitCode::FAILURE
        }
    }
}
