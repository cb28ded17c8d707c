//! The gateway's own keep-alive pool of upstream HTTP/1 connections, over
//! `hyper::client::conn::http1`.
//!
//! Per request it does what a proxy needs and no more: take the most recently used idle
//! connection to the node (a stack per `host:port`, so a burst's cold connections sink to the
//! bottom and expire), send, and hand back a body ([`PooledBody`]) that returns the connection to
//! the pool when it is dropped after its end was read — no task per request to wait for the
//! connection to become reusable, no URI rewriting, no pool-key allocation on the hot path.
//! A connection whose body was not read to the end (a client that went away) is closed.
//! A timer closes connections idle longer than the idle timeout.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::early_answer::EarlyAnswerIo;

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The sender half of one upstream connection (its connection task runs on its own).
type Sender = SendRequest<Full<Bytes>>;

/// Why [`ConnPool::send`] got no response head.
#[derive(Debug)]
pub(crate) enum PoolError {
    /// No connection could be made: the I/O error's kind in words (`connection refused`, ...).
    Connect(String),
    /// The request was sent (or may have been) and failed.
    Request(hyper::Error),
}

/// A kept-alive connection waiting for its next request.
struct Idle {
    sender: Sender,
    since: Instant,
}

/// The idle connections to one node.
struct Host {
    /// `host:port`, shared with every [`PooledBody`] that returns a connection here.
    key: Arc<str>,
    /// The `Host` header sent to the node.
    header: HeaderValue,
    /// Most recently returned last.
    idle: Vec<Idle>,
}

impl Host {
    /// A node at `authority` (`host:port`) with no idle connection yet.
    fn new(authority: &str) -> Result<Self, axum::http::header::InvalidHeaderValue> {
        Ok(Self {
            key: Arc::from(authority),
            header: HeaderValue::from_str(authority)?,
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
    fn check_in(&self, key: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let idle = Idle {
            sender,
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

    /// Sends `request` (origin-form URI, no `Host` header yet) to `authority` (`host:port`) on
    /// an idle connection or a new one. A request that a stale idle connection could not take
    /// (closed by the node meanwhile) goes out on a new connection.
    ///
    /// # Errors
    /// [`PoolError::Connect`] when no connection could be made, [`PoolError::Request`] when the
    /// exchange failed.
    pub async fn send(
        &self,
        authority: &str,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let (key, host_header, idle) = self.checkout(authority)?;
        request
            .headers_mut()
            .insert(axum::http::header::HOST, host_header);
        // An idle connection that is no longer ready (the node closed it) is dropped.
        if let Some(mut sender) = idle {
            if sender.ready().await.is_ok() {
                match sender.try_send_request(request).await {
                    Ok(response) => return Ok(self.pooled(key, sender, response)),
                    Err(mut e) => match e.take_message() {
                        // Never written: the connection was gone; try a fresh one.
                        Some(unsent) => request = unsent,
                        None => return Err(PoolError::Request(e.into_error())),
                    },
                }
            }
        }
        let mut sender = self.connect(authority).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(PoolError::Request)?;
        Ok(self.pooled(key, sender, response))
    }

    /// The node's key and `Host` header, and its most recently used open idle connection.
    #[allow(clippy::type_complexity)]
    fn checkout(
        &self,
        authority: &str,
    ) -> Result<(Arc<str>, HeaderValue, Option<Sender>), PoolError> {
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
            if !idle.sender.is_closed() {
                found = Some(idle.sender);
                break;
            }
        }
        let out = (host.key.clone(), host.header.clone(), found);
        drop(hosts);
        if start_sweeper {
            self.spawn_sweeper();
        }
        Ok(out)
    }

    /// Opens a connection to `authority` and starts its connection task.
    async fn connect(&self, authority: &str) -> Result<Sender, PoolError> {
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority)).await {
                Err(_) => return Err(PoolError::Connect("connect timed out".to_owned())),
                Ok(Err(e)) => return Err(PoolError::Connect(e.kind().to_string())),
                Ok(Ok(stream)) => stream,
            };
        // Small requests and answers: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let io = EarlyAnswerIo::new(TokioIo::new(stream));
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(PoolError::Request)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn pooled(
        &self,
        key: Arc<str>,
        sender: Sender,
        response: Response<Incoming>,
    ) -> Response<PooledBody> {
        let checkin = Checkin {
            pool: Arc::downgrade(&self.inner),
            key,
            sender,
        };
        response.map(|body| PooledBody {
            body,
            ended: false,
            checkin: Some(checkin),
        })
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

/// Closes (drops) the connections idle past the timeout at `now`, and forgets nodes with none.
fn sweep(inner: &Inner, now: Instant) {
    let timeout = inner.idle_timeout;
    let mut hosts = inner.hosts();
    for host in hosts.by_key.values_mut() {
        host.idle
            .retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < timeout);
    }
    hosts.by_key.retain(|_, h| !h.idle.is_empty());
}

/// What returns a connection to the pool.
struct Checkin {
    pool: Weak<Inner>,
    key: Arc<str>,
    sender: Sender,
}

/// An upstream answer's body. Dropped after its end was read, it returns its connection to the
/// pool; dropped before, the connection is closed (the rest of the answer is unwanted).
pub(crate) struct PooledBody {
    body: Incoming,
    /// The body yielded its end.
    ended: bool,
    checkin: Option<Checkin>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            return;
        }
        if let Some(Checkin { pool, key, sender }) = self.checkin.take() {
            if let Some(pool) = pool.upgrade() {
                pool.check_in(&key, sender);
            }
        }
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

    fn request() -> Request<Full<Bytes>> {
        Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    async fn exchange(pool: &ConnPool, addr: &str) -> Bytes {
        let response = pool.send(addr, request()).await.unwrap();
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
        let response = pool.send(&addr, request()).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{}");
        drop(body);
        assert_eq!(pool.idle_count(), 0, "not returned to the pool");
        let response = pool.send(&addr, request()).await.unwrap();
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
        match pool.send(&addr, request()).await {
            Err(PoolError::Connect(kind)) => assert_eq!(kind, "connection refused"),
            other => panic!("expected a connect error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_sweeper_closes_idle_connections_and_a_busy_nodes_connection_comes_back() {
        let (addr, _, _) = node(Answer::Small).await;
        let pool = ConnPool::new(Duration::from_millis(100));
        exchange(&pool, &addr).await;
        let response = pool.send(&addr, request()).await.unwrap();
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
