//! [`run`]: serve a router on a listener until a shutdown signal, logging one line per request.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits for
/// in-flight requests to finish (graceful shutdown). Each request is logged once at `info` with
/// method, path, status and latency (`latency_us`, microseconds).
///
/// # Errors
/// An I/O error of the listener.
pub async fn run(
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    let app = app.layer(middleware::from_fn(log_request));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("admin API stopped");
    Ok(())
}

/// Middleware: one `info` line per request with method, path, status and latency (`latency_us`, microseconds).
pub async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
