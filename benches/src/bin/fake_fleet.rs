//! `fake-fleet`: one process that plays N healthy Gonka ML nodes on loopback, for measuring the
//! gateway with a large fleet (`benches/load/memory.sh`).
//!
//! Every node is a port pair on 127.0.0.1. The management port answers `GET /health`,
//! `GET /api/v1/state` (INFERENCE, the model loaded, engine ready, so the broker leaves the node
//! alone), `GET /api/v1/gpu/devices` (no devices) and `POST /api/v1/inference/up`; the inference
//! port answers `POST /v1/chat/completions` (JSON, or SSE when the body asks for
//! `"stream": true`), `GET /v1/models` and `GET /health`. Answers are tiny and fixed, except that
//! each carries the node's id (`system_fingerprint`) so a client can tell which node answered.
//!
//! Every node counts the chat completions its inference port answered; `GET /fleet/counts` on any
//! management port answers the fleet's totals, `{"nodes":N,"nodes_hit":K,"requests":R,
//! "min_per_node":..,"max_per_node":..}`, so a load test can check that its traffic reached every
//! node.
//!
//! Once every port is bound it prints one JSON line on stdout,
//! `{"host":"127.0.0.1","model":M,"nodes":[{"id":..,"poc_port":..,"inference_port":..},..]}`, and
//! with `--batch-file` writes the body of `POST /admin/v1/nodes/batch` registering all nodes.
//! It runs on one tokio runtime until SIGTERM or ctrl-c.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Plays N healthy Gonka ML nodes (management + inference port each) on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "fake-fleet", version, about)]
struct Args {
    /// Number of nodes (port pairs).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=30000))]
    nodes: u32,
    /// First port: node i listens on BASE+2i (management) and BASE+2i+1 (inference). Unset lets
    /// the OS choose every port.
    #[arg(long)]
    base_port: Option<u16>,
    /// Model every node reports loaded and echoes in completions.
    #[arg(long, default_value = gonka_benches::MODEL)]
    model: String,
    /// Prefix of the node ids (`<prefix><i>`).
    #[arg(long, default_value = "fleet-")]
    id_prefix: String,
    /// Content chunks of a streamed answer (the JSON answer holds the same text).
    #[arg(long, default_value_t = 4)]
    tokens: usize,
    /// `max_concurrent` written for each node in the batch file.
    #[arg(long, default_value_t = 64)]
    max_concurrent: u32,
    /// Write the `POST /admin/v1/nodes/batch` body registering every node to this file.
    #[arg(long)]
    batch_file: Option<PathBuf>,
    /// Worker threads of the one tokio runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Which half of an ML node a port plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Management,
    Inference,
}

/// One node's answers, computed once, and where its completions are counted.
struct Node {
    answers: gonka_benches::canned::Answers,
    /// This node's index in `counts`.
    index: usize,
    /// Chat completions answered, per node of the fleet.
    counts: Arc<Vec<AtomicU64>>,
}

/// The fleet's totals of `counts`, as `GET /fleet/counts` answers them.
fn fleet_counts(counts: &[AtomicU64]) -> serde_json::Value {
    let each: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    serde_json::json!({
        "nodes": each.len(),
        "nodes_hit": each.iter().filter(|&&n| n > 0).count(),
        "requests": each.iter().sum::<u64>(),
        "min_per_node": each.iter().min().copied().unwrap_or(0),
        "max_per_node": each.iter().max().copied().unwrap_or(0),
    })
}

type Body = BoxBody<Bytes, Infallible>;

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}});
    json(status, Bytes::from(body.to_string()))
}

async fn chat(node: &Node, request: Request<Incoming>) -> Response<Body> {
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not JSON: {e}"),
            )
        }
    };
    if let Some(count) = node.counts.get(node.index) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    if value.get("stream").and_then(serde_json::Value::as_bool) == Some(true) {
        let frames = node
            .answers
            .chunks
            .clone()
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(c)));
        let mut response = Response::new(StreamBody::new(stream::iter(frames)).boxed());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
    } else {
        json(StatusCode::OK, node.answers.completion.clone())
    }
}

async fn handle(node: Arc<Node>, role: Role, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (role, &method, path.as_str()) {
        (_, &Method::GET, "/health") => {
            json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
        }
        (Role::Management, &Method::GET, "/api/v1/state") => {
            json(StatusCode::OK, node.answers.state.clone())
        }
        (Role::Management, &Method::GET, "/fleet/counts") => json(
            StatusCode::OK,
            Bytes::from(fleet_counts(&node.counts).to_string()),
        ),
        (Role::Management, &Method::GET, "/api/v1/gpu/devices") => json(
            StatusCode::OK,
            Bytes::from_static(br#"{"devices":[],"count":0}"#),
        ),
        (Role::Management, &Method::POST, "/api/v1/inference/up") => {
            json(StatusCode::OK, Bytes::from_static(br#"{"status":"OK"}"#))
        }
        (Role::Inference, &Method::POST, "/v1/chat/completions") => chat(&node, request).await,
        (Role::Inference, &Method::GET, "/v1/models") => {
            json(StatusCode::OK, node.answers.models.clone())
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no route for {method} {path} on a fake ML node's {role:?} port"),
        ),
    }
}

/// Accepts on `listener` until `stop` flips, one task per connection.
async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    role: Role,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.changed().await;
    };
    let served = gonka_benches::serve::serve(
        listener,
        move |req| handle(Arc::clone(&node), role, req),
        stopped,
    )
    .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "accepting failed; this port is no longer served");
    }
}

async fn bind(base_port: Option<u16>, offset: u32) -> Result<TcpListener, String> {
    let port = match base_port {
        None => 0,
        Some(base) => u16::try_from(u32::from(base) + offset)
            .map_err(|_| format!("--base-port {base} leaves no room for port offset {offset}"))?,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

fn port(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("bound address unknown: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let mut listed = Vec::new();
    let mut batch = Vec::new();
    let counts: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.nodes).map(|_| AtomicU64::new(0)).collect());
    for (index, i) in (0..args.nodes).enumerate() {
        let id = format!("{}{i}", args.id_prefix);
        let management = bind(args.base_port, 2 * i).await?;
        let inference = bind(args.base_port, 2 * i + 1).await?;
        let (poc_port, inference_port) = (port(&management)?, port(&inference)?);
        listed.push(
            serde_json::json!({"id": id, "poc_port": poc_port, "inference_port": inference_port}),
        );
        batch.push(serde_json::json!({
            "id": id,
            "host": "127.0.0.1",
            "inference_port": inference_port,
            "poc_port": poc_port,
            "max_concurrent": args.max_concurrent,
            "models": {args.model.as_str(): {"args": []}}
        }));
        let node = Arc::new(Node {
            answers: gonka_benches::canned::Answers::new(
                &args.model,
                args.tokens,
                "fake-fleet",
                Some(&id),
            ),
            index,
            counts: Arc::clone(&counts),
        });
        servers.spawn(serve(
            management,
            Arc::clone(&node),
            Role::Management,
            stop_rx.clone(),
        ));
        servers.spawn(serve(inference, node, Role::Inference, stop_rx.clone()));
    }
    if let Some(path) = &args.batch_file {
        let body = serde_json::Value::Array(batch).to_string();
        std::fs::write(path, body).map_err(|e| format!("--batch-file {}: {e}", path.display()))?;
    }
    let line = serde_json::json!({"host": "127.0.0.1", "model": args.model, "nodes": listed});
    println!("{line}");
    tracing::info!(nodes = args.nodes, "fake fleet serving");
    gonka_benches::canned::shutdown_signal().await;
    let _ = stop_tx.send(true);
    while servers.join_next().await.is_some() {}
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fake-fleet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-fleet: {e}");
            ExitCode::FAILURE
        }
    }
}
