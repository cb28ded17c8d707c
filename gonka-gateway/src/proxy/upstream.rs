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
use hyper_util::rt::{TokioExecutor, TokioIo};
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
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector: Connector = connector.map_response(EarlyAnswerIo::new);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
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
        let sent = tracing::Instrument::instrument(self.inner.request(request), span.clone()).await;
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
