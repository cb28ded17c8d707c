//! The HTTP client to ML node inference APIs: hyper's pooled HTTP/1 client used directly (no
//! URL re-parsing, redirect handling or other layers a proxy does not want on its hot path),
//! over connections that hear a node's answer sent before it read the whole request
//! ([`EarlyAnswerIo`]: a 413 for a body too large for the engine reaches the client as such).

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, Request, Response, Uri};
use bytes::Bytes;
use gonka_core::trace_context;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower::util::MapResponse;
use tower::ServiceExt;

use super::early_answer::EarlyAnswerIo;

/// Connects as [`HttpConnector`] does, over connections that hear early answers.
type Connector =
    MapResponse<HttpConnector, fn(TokioIo<TcpStream>) -> EarlyAnswerIo<TokioIo<TcpStream>>>;

/// Request headers passed on to the upstream (besides `content-type: application/json`).
const FORWARDED: [HeaderName; 2] = [header::ACCEPT, HeaderName::from_static("x-request-id")];

/// Why a request could not be sent or got no response head.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The node could not be reached (refused, unreachable, connect timeout).
    Connect(String),
    /// Anything else: the connection broke, the URL is invalid.
    Other(String),
}

/// One pooled client for every node; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamClient {
    inner: Client<Connector, Full<Bytes>>,
}

impl UpstreamClient {
    /// A client whose kept-alive connections are closed after `idle_timeout` unused (a timer
    /// sweeps them, so a fleet's idle connections do not stay open until their next use).
    pub fn new(idle_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector: Connector = connector.map_response(EarlyAnswerIo::new);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { inner }
    }

    /// POSTs `body` as JSON to `url`, passing on the client's `accept` and `x-request-id`.
    pub async fn post(
        &self,
        url: &str,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, SendError> {
        let uri: Uri = url.parse().map_err(|e| {
            tracing::warn!(url, error = %e, "invalid upstream URL");
            SendError::Other(format!("invalid upstream URL: {e}"))
        })?;
        let mut builder = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        for name in FORWARDED {
            if let Some(v) = client_headers.get(&name) {
                builder = builder.header(name, v);
            }
        }
        let mut request = builder
            .body(Full::new(body))
            .map_err(|e| SendError::Other(format!("cannot build the upstream request: {e}")))?;
        // A client span per attempt; its context goes to the node as `traceparent`.
        let span = trace_context::client_span(request.method(), request.uri());
        trace_context::inject(&span, request.headers_mut());
        let sent = span.instrument(self.inner.request(request)).await;
        match &sent {
            Ok(response) => trace_context::record_status(&span, response.status().as_u16()),
            Err(e) if e.is_connect() => trace_context::record_error(&span, "connect"),
            Err(_) => trace_context::record_error(&span, "transport"),
        }
        // The node's address stays in the log: answers to clients name the node by id only.
        sent.map_err(|e| {
            let detail = crate::error::chain(&e);
            tracing::warn!(url, error = %detail, "upstream request failed");
            if e.is_connect() {
                SendError::Connect(format!("connection failed: {}", io_cause(&e)))
            } else {
                SendError::Other(detail)
            }
        })
    }
}

/// The innermost I/O error's kind in words (`connection refused`, `timed out`, ...), without
/// the address the connector may have put into its messages.
fn io_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut next = Some(e);
    let mut kind = None;
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        next = err.source();
    }
    match kind {
        Some(k) => k.to_string(),
        None => "unreachable".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::http::HeaderMap;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::UpstreamClient;

    /// A keep-alive HTTP/1.1 server answering every request with a small JSON body; counts
    /// accepted connections and reports each one the client closed.
    async fn server() -> (String, Arc<AtomicUsize>, mpsc::UnboundedReceiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
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
                        // Requests here are small: a head and a body of "{}" each.
                        while let Some(end) = seen.windows(6).position(|w| w == b"\r\n\r\n{}") {
                            seen.drain(..end + 6);
                            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                          content-length: 2\r\n\r\n{}";
                            socket.write_all(answer.as_bytes()).await.unwrap();
                        }
                    }
                });
            }
        });
        (url, accepted, closed)
    }

    async fn post(client: &UpstreamClient, url: &str) {
        let response = client
            .post(url, &HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }

    #[tokio::test]
    async fn a_warm_connection_is_reused_and_closed_once_idle_past_the_timeout() {
        let (url, accepted, mut closed) = server().await;
        let client = UpstreamClient::new(Duration::from_millis(300));
        post(&client, &url).await;
        post(&client, &url).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the second request reused it"
        );
        // Nobody uses it now: the pool's timer closes it (bounded wait, no timing assert).
        tokio::time::timeout(Duration::from_secs(20), closed.recv())
            .await
            .expect("the idle connection was never closed")
            .unwrap();
        post(&client, &url).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "a new connection after the close"
        );
    }
}
