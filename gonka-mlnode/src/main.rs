//! `gonka-mlnode`: parses flags, binds the two listeners and runs the agent until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use gonka_mlnode::cli::{Cli, LogFormat};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
    init_tracing(cli.log_format);
    let mut config = cli.to_config();
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
    match gonka_mlnode::run(config, mgmt, inference, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gonka-mlnode failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
