//! `gonka-mlnode`: parses flags, binds the two listeners and runs the agent until SIGINT/SIGTERM.

use std::process::ExitCode;

use tokio::net::TcpListener;

mod cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::parse_env().unwrap_or_else(|e| e.exit());
    if let Some(command) = &cli.command {
        return match command.run() {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gonka-mlnode: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Dropped when main returns: flushes the spans still queued.
    let telemetry = match gonka_core::telemetry::init(cli.log_format, "gonka-mlnode", None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gonka-mlnode: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The cheapest way to make the HTTP spans that keeps what is recorded of them (built with the
    // OpenTelemetry SDK directly when only the OTLP exporter records them).
    gonka_core::trace_context::set_span_mode(telemetry.span_mode());
    gonka_core::server::raise_fd_limit();
    // Before anything listens: an empty token, or the management API exposed without one (when
    // allowed, the agent logs the warning once it runs).
    if let Err(e) = cli.check_management_listener() {
        tracing::error!("gonka-mlnode cannot start: {e}");
        return ExitCode::FAILURE;
    }
    let mut config = cli.to_config();
    if let Some(sim) = &config.sim_gpus {
        tracing::warn!(
            count = sim.count,
            name = %sim.name,
            vendor = %sim.vendor,
            memory_mb = sim.memory_mb,
            "SIMULATED GPUs: /api/v1/gpu/devices and /health report these devices, not the host's (--sim-gpus)"
        );
    }
    match cli.poc_settings() {
        Ok(poc) => config.poc = poc,
        Err(e) => {
            tracing::error!(error = %e, "invalid PoC settings");
            return ExitCode::FAILURE;
        }
    }
    let mgmt = match TcpListener::bind(cli.mgmt_listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %cli.mgmt_listen, error = %e, "cannot bind the management listener");
            return ExitCode::FAILURE;
        }
    };
    let inference = match TcpListener::bind(cli.inference_listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %cli.inference_listen, error = %e, "cannot bind the inference listener");
            return ExitCode::FAILURE;
        }
    };
    match gonka_mlnode::run(
        config,
        mgmt,
        inference,
        gonka_core::server::shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gonka-mlnode failed");
            ExitCode::FAILURE
        }
    }
}
