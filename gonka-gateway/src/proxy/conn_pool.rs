//! The gateway's own keep-alive pool of upstream HTTP/1 connections ([`h1::Conn`]), each driven
//! by the request that uses it.
//!
//! Per request it does what a proxy needs and no more: take the most recently used idle
//! connection to the node (a stack per `host:port`, so a burst's cold connections sink to the
//! bottom and expire), write the request, read the answer's head, and hand back a body
//! ([`PooledBody`]) that decodes the answer from the connection in the caller's task and returns
//! the connection to the pool at the body's end. A connection whose body was not read to the end
//! (a client that went away) is closed. A timer closes connections idle longer than the idle
//! timeout.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Response};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use super::h1::{self, Conn, Decoder};

/// Why [`ConnPool::send`] got no answer head.
#[derive(Debug)]
pub(crate) enum PoolError {
    /// No connection could be made: the I/O error's kind in words (`connection refused`, ...).
    Connect(String),
    /// The request was sent (or may have been) and failed.
    Request(io::Error),
}

/// A kept-alive connection waiting for its next request.
struct Idle {
    conn: Conn,
    since: Instant,
}

/// The idle connections to one node.
struct Host {
    /// `host:port`, shared with every [`PooledBody`] that returns a connection here, and sent
    /// as the `Host` header.
    key: Arc<str>,
    /// Most recently returned last.
    idle: Vec<Idle>,
}

impl Host {
    /// A node at `authority` (`host:port`) with no idle connection yet.
    fn new(authority: &str) -> Result<Self, axum::http::header::InvalidHeaderValue> {
        // A valid header value: no line breaks or other control bytes in the request head.
        HeaderValue::from_str(authority)?;
        Ok(Self {
            key: Arc::from(authority),
            idle: Vec::new(),
        })
    }
}

#[derive(Default)]
struct Hosts {
    by_key: HashMap<Arc<str>, Host>,
    /// Whether the idle sweeper task runs.
    sweeping: bool,
}

struct Inner {
    hosts: Mutex<Hosts>,
    idle_timeout: Duration,
}

impl Inner {
    fn hosts(&self) -> MutexGuard<'_, Hosts> {
        // The map stays consistent under every operation done with the lock held.
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns a connection whose last answer was read to its end.
    fn check_in(&self, key: &str, conn: Conn) {
        let idle = Idle {
            conn,
            since: Instant::now(),
        };
        let mut hosts = self.hosts();
        if let Some(host) = hosts.by_key.get_mut(key) {
            host.idle.push(idle);
        } else if let Ok(mut host) = Host::new(key) {
            // The sweeper forgot the node while all its connections were busy.
            host.idle.push(idle);
            hosts.by_key.insert(host.key.clone(), host);
        }
    }
}

/// A pool of kept-alive HTTP/1 connections to every node; cheap to clone.
#[derive(Clone)]
pub(crate) struct ConnPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPool")
            .field("idle_timeout", &self.inner.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl ConnPool {
    /// A pool whose connections are closed after `idle_timeout` unused.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                hosts: Mutex::new(Hosts::default()),
                idle_timeout,
            }),
        }
    }

    /// POSTs `body` to `path` (origin form) on `authority` (`host:port`) with `headers` (its
    /// `Host` and `content-length` are set here), on an idle connection or a new one. A request
    /// that could not be written at all to an idle connection (the node closed it meanwhile) goes
    /// out on a new connection; one that was written, even in part, is never sent again.
    ///
    /// # Errors
    /// [`PoolError::Connect`] when no connection could be made, [`PoolError::Request`] when the
    /// exchange failed.
    pub async fn post<'h>(
        &self,
        authority: &str,
        path: &str,
        headers: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
        body: Bytes,
    ) -> Result<Response<PooledBody>, PoolError> {
        let (key, idle) = self.checkout(authority)?;
        let mut head = Vec::with_capacity(256);
        h1::encode_head(&Method::POST, path, &key, headers, body.len(), &mut head);
        if let Some(mut conn) = idle {
            match conn.write(&head, &body).await {
                Err(e) if e.written == 0 => {
                    tracing::debug!(error = %e.error, "idle upstream connection gone; reconnecting");
                }
                written => return self.answer(key, conn, written).await,
            }
        }
        let mut conn = Conn::connect(authority).await.map_err(PoolError::Connect)?;
        let written = conn.write(&head, &body).await;
        self.answer(key, conn, written).await
    }

    /// Reads the answer to a request written (or cut short because the node stopped reading)
    /// on `conn`.
    async fn answer(
        &self,
        key: Arc<str>,
        mut conn: Conn,
        written: Result<(), h1::WriteError>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let early = match written {
            Ok(()) => false,
            Err(e) if e.stopped_reading() => {
                tracing::debug!(error = %e.error, "upstream stopped reading the request; reading its answer");
                true
            }
            Err(e) => return Err(PoolError::Request(e.error)),
        };
        let head = conn.read_head().await.map_err(PoolError::Request)?;
        let mut response = Response::new(PooledBody {
            decoder: Decoder::new(head.framing),
            keep_alive: head.keep_alive && !early,
            conn: Some(conn),
            pool: Arc::downgrade(&self.inner),
            key,
        });
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        Ok(response)
    }

    /// The node's key and its most recently used idle connection that can take a request.
    fn checkout(&self, authority: &str) -> Result<(Arc<str>, Option<Conn>), PoolError> {
        let mut hosts = self.inner.hosts();
        let start_sweeper = !hosts.sweeping;
        hosts.sweeping = true;
        let host = match hosts.by_key.get_mut(authority) {
            Some(host) => host,
            None => {
                let host = Host::new(authority)
                    .map_err(|e| PoolError::Connect(format!("invalid node address: {e}")))?;
                hosts.by_key.entry(host.key.clone()).or_insert(host)
            }
        };
        let mut found = None;
        while let Some(idle) = host.idle.pop() {
            if idle.conn.is_reusable() {
                found = Some(idle.conn);
                break;
            }
        }
        let out = (host.key.clone(), found);
        drop(hosts);
        if start_sweeper {
            self.spawn_sweeper();
        }
        Ok(out)
    }

    /// Starts the task that closes connections idle past the timeout; it ends with the pool.
    fn spawn_sweeper(&self) {
        let pool = Arc::downgrade(&self.inner);
        let period = (self.inner.idle_timeout / 2).max(Duration::from_millis(50));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = pool.upgrade() else { return };
                sweep(&inner, Instant::now());
            }
        });
    }

    /// Idle connections held now, over all nodes.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.inner
            .hosts()
            .by_key
            .values()
            .map(|h| h.idle.len())
            .sum()
    }
}

/// Closes (drops) the connections idle past the timeout at `now` or closed by their node, and
/// forgets nodes with none.
fn sweep(inner: &Inner, now: Instant) {
    let timeout = inner.idle_timeout;
    let mut hosts = inner.hosts();
    for host in hosts.by_key.values_mut() {
        host.idle
            .retain(|i| now.duration_since(i.since) < timeout && i.conn.is_reusable());
    }
    hosts.by_key.retain(|_, h| !h.idle.is_empty());
}

/// An upstream answer's body, decoded from its connection as it is polled. At its end the
/// connection goes back to the pool (when the answer allows reuse); dropped before, the
/// connection is closed (the rest of the answer is unwanted).
pub(crate) struct PooledBody {
    /// `None` once returned to the pool or failed.
    conn: Option<Conn>,
    decoder: Decoder,
    /// The answer allows another request on the connection after it.
    keep_alive: bool,
    pool: Weak<Inner>,
    key: Arc<str>,
}

impl PooledBody {
    /// Returns the connection to the pool if the body ended in step and reuse is allowed.
    fn release(&mut self) {
        if !self.decoder.is_done() || !self.keep_alive {
            return;
        }
        let Some(conn) = self.conn.take() else { return };
        if conn.has_leftover() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.check_in(&self.key, conn);
        }
    }
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("decoder", &self.decoder)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(None);
        };
        match conn.poll_body(&mut this.decoder, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(None) => {
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.conn = None;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder
            .remaining()
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;

    /// How a test node answers each request it reads on a connection.
    #[derive(Clone, Copy)]
    pub(in crate::proxy) enum Answer {
        /// `{}` with a content length, kept alive.
        Small,
        /// `{}` with a content length, then the node closes the connection without saying so.
        SmallThenClose,
        /// A chunked body's first chunk, the rest never sent.
        Unfinished,
    }

    /// A node on loopback answering requests whose body is `{}`: its `host:port`, a count of
    /// the connections it accepted, and a report of each one the client closed.
    pub(in crate::proxy) async fn node(
        answer: Answer,
    ) -> (String, Arc<AtomicUsize>, mpsc::UnboundedReceiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let closed_tx = closed_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            let _ = closed_tx.send(());
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(6).position(|w| w == b"\r\n\r\n{}") {
                            seen.drain(..end + 6);
                            let text: &[u8] = match answer {
                                Answer::Small | Answer::SmallThenClose => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
                                }
                                Answer::Unfinished => {
                                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n"
                                }
                            };
                            socket.write_all(text).await.unwrap();
                            if matches!(answer, Answer::SmallThenClose) {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted, closed)
    }

    /// A `{}` POST to the node at `addr`.
    async fn post(pool: &ConnPool, addr: &str) -> Result<Response<PooledBody>, PoolError> {
        let body = Bytes::from_static(b"{}");
        pool.post(addr, "/v1/chat/completions", std::iter::empty(), body)
            .await
    }

    async fn exchange(pool: &ConnPool, addr: &str) -> Bytes {
        let response = post(pool, addr).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_is_reused() {
        let (addr, accepted, _) = node(Answer::Small).await;
        let pool = ConnPool::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(&exchange(&pool, &addr).await[..], b"{}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_closes_its_connection() {
        let (addr, accepted, _) = node(Answer::Unfinished).await;
        let pool = ConnPool::new(Duration::from_secs(60));
        let response = post(&pool, &addr).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{}");
        drop(body);
        assert_eq!(pool.idle_count(), 0, "not returned to the pool");
        let response = post(&pool, &addr).await.unwrap();
        drop(response);
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
    }

    #[tokio::test]
    async fn a_request_on_a_connection_the_node_closed_goes_out_on_a_new_one() {
        let (addr, accepted, _) = node(Answer::SmallThenClose).await;
        let pool = ConnPool::new(Duration::from_secs(60));
        for round in 1..=3 {
            assert_eq!(&exchange(&pool, &addr).await[..], b"{}");
            assert_eq!(accepted.load(Ordering::SeqCst), round);
        }
    }

    #[tokio::test]
    async fn a_node_that_refuses_is_a_connect_error_naming_the_cause() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let pool = ConnPool::new(Duration::from_secs(60));
        match post(&pool, &addr).await {
            Err(PoolError::Connect(kind)) => assert_eq!(kind, "connection refused"),
            other => panic!("expected a connect error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_sweeper_closes_idle_connections_and_a_busy_nodes_connection_comes_back() {
        let (addr, _, _) = node(Answer::Small).await;
        let pool = ConnPool::new(Duration::from_millis(100));
        exchange(&pool, &addr).await;
        let response = post(&pool, &addr).await.unwrap();
        // The node has no idle connection while this one is busy: a sweep forgets it...
        sweep(&pool.inner, Instant::now());
        assert!(pool.inner.hosts().by_key.is_empty());
        // ...and the answer read to its end still returns its connection.
        response.into_body().collect().await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        sweep(&pool.inner, Instant::now() + Duration::from_millis(150));
        assert_eq!(pool.idle_count(), 0, "idle past the timeout");
    }
}
