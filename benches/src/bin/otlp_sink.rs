//! `otlp-sink`: a minimal OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) that counts what
//! it receives (`GET /counts`), for the load harness `benches/load/compare.sh`.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use gonka_benches::otlp_sink::{serve, Counts};

/// Minimal OTLP/HTTP trace receiver that counts requests, bytes and spans.
#[derive(Debug, Parser)]
#[command(name = "otlp-sink", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("otlp-sink: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("otlp-sink listening on http://{}", listener.local_addr()?);
        serve(
            listener,
            Arc::new(Counts::default()),
            gonka_benches::canned::shutdown_signal(),
        )
        .await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otlp-sink: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
