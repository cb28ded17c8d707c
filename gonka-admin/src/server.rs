//! [`run`]: serve a router on a listener until a shutdown signal, with client read timeouts,
//! logging one line per request.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use gonka_core::server::{serve, ServeLimits, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` completes, with the default client read timeouts
/// ([`HEADER_READ_TIMEOUT`], [`BODY_READ_TIMEOUT`]); see [`run_with_limits`].
///
/// # Errors
/// An I/O error of the listener.
pub async fn run(
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = ServeLimits::client_timeouts(HEADER_READ_TIMEOUT, BODY_READ_TIMEOUT);
    run_with_limits(app, listener, limits, shutdown).await
}

/// Serves `app` on `listener` through the shared server loop of `gonka_core::server` (the one the
/// gateway and the ML node use) with `limits` (a client that trickles its request head or body is
/// cut) until `shutdown` completes, then stops accepting and drains as `limits.drain` says. Each
/// request is logged once at `info` with method, path, status and latency (`latency_us`,
/// microseconds).
///
/// # Errors
/// An I/O error of the listener.
pub async fn run_with_limits(
    app: Router,
    listener: TcpListener,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    let app = app.layer(middleware::from_fn(log_request));
    serve(listener, app, limits, shutdown).await?;
    tracing::info!("admin API stopped");
    Ok(())
}

/// [`run_with_limits`] over HTTPS (feature `tls`): the TLS handshake is bounded by
/// `limits.header_read_timeout`, and every other limit applies as over plain HTTP. New
/// connections use `tls`'s current certificate ([`TlsFiles::reload`](gonka_core::server::tls::TlsFiles::reload)
/// replaces it; open connections keep theirs).
///
/// # Errors
/// An I/O error of the listener.
#[cfg(feature = "tls")]
pub async fn run_with_tls(
    app: Router,
    listener: TcpListener,
    limits: ServeLimits,
    tls: gonka_core::server::tls::TlsFiles,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, cert = %tls.cert_path().display(), "admin API listening (https)");
    }
    let app = app.layer(middleware::from_fn(log_request));
    gonka_core::server::serve_tls(listener, app, limits, tls, shutdown).await?;
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
