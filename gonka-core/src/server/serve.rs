//! One HTTP server loop for every listener of the ML node agent (management, inference proxy,
//! simulator), of the network node's gateway and of the standalone admin API: serves an axum `Router` with connection limits
//! that `axum::serve` does not set (a header read timeout against slowloris clients, optionally a
//! request body timeout) until a shutdown future resolves, then drains open connections, for a
//! bounded time when asked (and aborts the rest, so a hung or endless stream can never keep the
//! process, or a test, from stopping).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// Default time open connections get to finish after shutdown before they are cut.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Time a client has to send a complete request head (request line and headers) before its
/// connection is closed, so slowloris clients cannot hold connections open forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default longest pause between two parts of a request body for servers that take request
/// bodies from untrusted clients (the gateway, the admin API); when exceeded, the request fails
/// with 408 and the connection is closed.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection-level limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Time a client has to send a complete request head on a new or kept-alive connection.
    pub header_read_timeout: Duration,
    /// Longest pause allowed between two parts of a request body; when exceeded the request
    /// fails with 408 and the connection is closed. `None`: no limit.
    pub body_read_timeout: Option<Duration>,
    /// After shutdown, how long open connections may finish before they are cut; `None` waits
    /// for every one of them.
    pub drain: Option<Duration>,
}

impl ServeLimits {
    /// Limits with the given client read timeouts and a drain that waits for every open
    /// connection (for callers that bound the drain themselves).
    pub fn client_timeouts(header_read_timeout: Duration, body_read_timeout: Duration) -> Self {
        Self {
            header_read_timeout,
            body_read_timeout: Some(body_read_timeout),
            drain: None,
        }
    }
}

impl Default for ServeLimits {
    /// The ML node's limits: [`HEADER_READ_TIMEOUT`], no body timeout, [`DEFAULT_DRAIN`].
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: None,
            drain: Some(DEFAULT_DRAIN),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, drains for [`DEFAULT_DRAIN`].
///
/// # Errors
/// Never at present (accept errors are logged and retried); the `Result` leaves room for
/// listener errors that must stop the server.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_drain(listener, app, shutdown, DEFAULT_DRAIN).await
}

/// Like [`serve_until`] with an explicit drain time.
///
/// # Errors
/// As [`serve_until`].
pub async fn serve_with_drain(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let limits = ServeLimits {
        drain: Some(drain),
        ..ServeLimits::default()
    };
    serve(listener, app, limits, shutdown).await
}

/// Serves `app` on `listener` (HTTP/1.1 and HTTP/2, TCP_NODELAY on every connection) with
/// `limits` until `shutdown` resolves, then stops accepting and drains as `limits.drain` says.
///
/// # Errors
/// Never at present (accept errors are logged and retried); the `Result` leaves room for
/// listener errors that must stop the server.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = match limits.body_read_timeout {
        Some(t) => app.layer(RequestBodyTimeoutLayer::new(t)),
        None => app,
    };
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    match limits.drain {
        Some(drain) => {
            if tokio::time::timeout(drain, graceful.shutdown())
                .await
                .is_err()
            {
                tracing::debug!(
                    open = connections.len(),
                    "drain time over, cutting open connections"
                );
            }
        }
        None => graceful.shutdown().await,
    }
    connections.shutdown().await;
    Ok(())
}
