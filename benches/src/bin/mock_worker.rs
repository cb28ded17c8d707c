//! `mock-worker`: a fast mock OpenAI worker (chat completions, streaming and not, fixed latency)
//! that also answers the ML-node management calls, for the load harness `benches/load/compare.sh`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use gonka_benches::mock_worker::{serve, MockConfig};

/// Fast mock OpenAI worker for load tests.
#[derive(Debug, Parser)]
#[command(name = "mock-worker", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Model name it reports and echoes.
    #[arg(long, default_value = gonka_benches::MODEL)]
    model: String,
    /// Fixed delay before every completion's response head, in milliseconds.
    #[arg(long, default_value_t = 1)]
    latency_ms: u64,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 8)]
    tokens: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-worker: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = MockConfig {
        model: args.model,
        latency: Duration::from_millis(args.latency_ms),
        tokens: args.tokens,
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("mock-worker listening on http://{}", listener.local_addr()?);
        serve(listener, config, gonka_benches::canned::shutdown_signal()).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-worker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
