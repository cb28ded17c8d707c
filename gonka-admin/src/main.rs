//! `gonka-admin`: serves the admin API (seed 000) over a durable registry. See `--help`.

use std::process::ExitCode;

use clap::Parser;
use gonka_admin::cli::{self, Args};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging(args.log_format);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match cli::run(args, listener, cli::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gonka-admin failed");
            ExitCode::FAILURE
        }
    }
}
