//! One HTTP server loop for every listener of the ML node agent (management, inference proxy,
//! simulator), of the network node's gateway and of the standalone admin API: serves an axum
//! `Router` with connection limits that `axum::serve` does not set until a shutdown future
//! resolves, then drains open connections, for a bounded time when asked (and aborts the rest, so
//! a hung or endless stream can never keep the process, or a test, from stopping).
//!
//! The limits: a header read timeout against slowloris clients; optionally a request body
//! timeout (a paused body gets 408); a cap on open connections per listener and per client
//! address, and over all listeners of the process the open-file limit less a reserve for
//! upstream and health-check connections (a connection over a cap is answered 503 and closed);
//! and accept errors (out of descriptors) that back off instead of spinning.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::admission::{Admission, ShedReason, PROCESS_OPEN};
use super::backoff::{is_connection_error, AcceptBackoff};
use super::body_timeout::Served;
use super::fd_limit::{
    default_max_connections, default_max_connections_per_ip, fd_soft_limit,
    process_connection_budget,
};
use super::shed::{shed, SHED_LINGERING_MAX};

/// What [`serve`] serves: an axum [`Router`], or any cloneable tower service of axum requests
/// that answers every request (e.g. a router behind a service that takes some routes itself).
/// Implemented for every such service.
pub trait HttpService:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

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
///
/// The connection caps default to values derived from the process's soft open-file limit when
/// the limits are built ([`super::default_max_connections`], a quarter of it per address), so
/// build them after [`super::raise_fd_limit`].
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
    /// Most connections open on the listener at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Most connections open at once from one client address (IPv4-mapped IPv6 addresses count
    /// as their IPv4 address); more are answered 503 and closed.
    pub max_connections_per_ip: usize,
}

impl ServeLimits {
    /// Limits with the given client read timeouts, a drain that waits for every open
    /// connection (for callers that bound the drain themselves) and the default connection caps.
    pub fn client_timeouts(header_read_timeout: Duration, body_read_timeout: Duration) -> Self {
        Self {
            header_read_timeout,
            body_read_timeout: Some(body_read_timeout),
            drain: None,
            ..Self::default()
        }
    }

    /// These limits with the connection caps set: `max_connections` per listener (`None`: the
    /// default derived from the open-file limit) and `max_connections_per_ip` per client address
    /// (`None`: a quarter of the listener's cap). A per-address cap above the listener's has the
    /// listener's effect.
    #[must_use]
    pub fn with_connection_caps(
        mut self,
        max_connections: Option<usize>,
        max_connections_per_ip: Option<usize>,
    ) -> Self {
        self.max_connections =
            max_connections.unwrap_or_else(|| default_max_connections(fd_soft_limit()));
        self.max_connections_per_ip = max_connections_per_ip
            .unwrap_or_else(|| default_max_connections_per_ip(self.max_connections));
        self
    }
}

impl Default for ServeLimits {
    /// The ML node's limits: [`HEADER_READ_TIMEOUT`], no body timeout, [`DEFAULT_DRAIN`], the
    /// connection caps derived from the current open-file limit.
    fn default() -> Self {
        let max_connections = default_max_connections(fd_soft_limit());
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: None,
            drain: Some(DEFAULT_DRAIN),
            max_connections,
            max_connections_per_ip: default_max_connections_per_ip(max_connections),
        }
    }
}

/// Interval of the `warn` line that counts shed connections while a listener is over a cap.
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs shed connections: the first at once, then one line per [`SHED_LOG_INTERVAL`] with the
/// count since the last line, so a flood does not flood the log too.
#[derive(Debug, Default)]
struct ShedLog {
    last: Option<Instant>,
    since_last: u64,
}

impl ShedLog {
    fn shed(&mut self, listener: Option<SocketAddr>, peer: SocketAddr, reason: ShedReason) {
        self.since_last += 1;
        if self.last.is_some_and(|t| t.elapsed() < SHED_LOG_INTERVAL) {
            return;
        }
        tracing::warn!(
            listener = ?listener,
            %peer,
            shed = self.since_last,
            reason = %reason,
            "connections shed with 503"
        );
        self.last = Some(Instant::now());
        self.since_last = 0;
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
/// A connection over `limits.max_connections`, `limits.max_connections_per_ip` or the process's
/// budget (the soft open-file limit less [`super::fd_reserve`], over every listener served in the
/// process) is answered `503 Service Unavailable` with `Connection: close` and a JSON body naming
/// the cap, then closed. A failed accept (e.g. `EMFILE`) is logged and retried after an
/// exponential, bounded back-off (5 ms doubling to 1 s). A request whose body pauses longer than
/// `limits.body_read_timeout` is answered `408 Request Timeout` and its connection closed.
///
/// # Errors
/// Never at present (accept errors are logged and retried after a back-off); the `Result`
/// leaves room for listener errors that must stop the server.
pub async fn serve(
    listener: TcpListener,
    app: impl HttpService,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_inner(listener, app, limits, None, shutdown).await
}

/// [`serve`] over TLS (feature `tls`): every accepted connection does its TLS handshake, with
/// `limits.header_read_timeout` to finish it (a client that stalls the handshake is cut like a
/// slowloris one), then is served as by [`serve`] with all its limits. Each handshake uses the
/// certificate `tls` holds at that moment, so [`TlsFiles::reload`](super::tls::TlsFiles::reload)
/// takes effect for new connections.
///
/// # Errors
/// As [`serve`].
#[cfg(feature = "tls")]
pub async fn serve_tls(
    listener: TcpListener,
    app: impl HttpService,
    limits: ServeLimits,
    tls: super::tls::TlsFiles,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_inner(listener, app, limits, Some(tls), shutdown).await
}

#[cfg(feature = "tls")]
type Tls = Option<super::tls::TlsFiles>;
#[cfg(not(feature = "tls"))]
type Tls = Option<std::convert::Infallible>;

async fn serve_inner(
    listener: TcpListener,
    app: impl HttpService,
    limits: ServeLimits,
    tls: Tls,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = Served::new(app, limits.body_read_timeout);
    let local = listener.local_addr().ok();
    let admission = Admission::new(
        limits.max_connections,
        limits.max_connections_per_ip,
        process_connection_budget(fd_soft_limit()),
        &PROCESS_OPEN,
    );
    let lingering = Arc::new(Semaphore::new(SHED_LINGERING_MAX));
    let mut shed_log = ShedLog::default();
    let mut backoff = AcceptBackoff::default();
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pause);
    let mut pausing = false;
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
            () = &mut pause, if pausing => pausing = false,
            accepted = listener.accept(), if !pausing => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(e) => {
                        let wait = backoff.failed();
                        tracing::warn!(listener = ?local, error = %e, retry_in_ms = wait.as_millis(), "accept failed");
                        pause.as_mut().reset(tokio::time::Instant::now() + wait);
                        pausing = true;
                        continue;
                    }
                };
                backoff.succeeded();
                let admitted = match admission.admit(peer.ip()) {
                    Ok(admitted) => admitted,
                    Err(reason) => {
                        shed_log.shed(local, peer, reason);
                        shed(stream, reason, &lingering, &mut connections);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                #[cfg(feature = "tls")]
                if let Some(tls) = &tls {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    let handshake = limits.header_read_timeout;
                    connections.spawn(async move {
                        let _admitted = admitted;
                        let stream = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                    });
                    continue;
                }
                #[cfg(not(feature = "tls"))]
                let _: &Tls = &tls;
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    let _admitted = admitted;
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
