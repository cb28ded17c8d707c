//! The HTTP client to ML node inference APIs: the gateway's own keep-alive pool of HTTP/1
//! connections ([`ConnPool`]; no URL re-parsing, redirect handling or other layers a proxy does
//! not want on its hot path), whose connections hear a node's answer sent before it read the
//! whole request (a 413 for a body too large for the engine reaches the client as such).

use std::time::Duration;

use axum::http::uri::PathAndQuery;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Response, Uri};
use bytes::Bytes;
use gonka_core::trace_context;

use super::conn_pool::{ConnPool, PoolError, PooledBody};

/// Request headers passed on to the upstream (besides `content-type: application/json`).
static FORWARDED: [HeaderName; 2] = [header::ACCEPT, HeaderName::from_static("x-request-id")];

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
    pool: ConnPool,
}

impl UpstreamClient {
    /// A client whose kept-alive connections are closed after `idle_timeout` unused (a timer
    /// sweeps them, so a fleet's idle connections do not stay open until their next use).
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            pool: ConnPool::new(idle_timeout),
        }
    }

    /// POSTs `body` as JSON to `url` (`http://host:port/path`), passing on the client's
    /// `accept` and `x-request-id`. The answer's body returns the connection to the pool once
    /// read to its end.
    pub async fn post(
        &self,
        url: &str,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<PooledBody>, SendError> {
        let invalid = |reason: String| {
            tracing::warn!(url, %reason, "invalid upstream URL");
            SendError::Other(format!("invalid upstream URL: {reason}"))
        };
        let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
        if uri.scheme() != Some(&axum::http::uri::Scheme::HTTP) {
            return Err(invalid("only http:// node URLs are supported".to_owned()));
        }
        let Some(authority) = uri.authority() else {
            return Err(invalid("no host".to_owned()));
        };
        // Connections are keyed and made by `host:port`, the port explicit.
        let with_port;
        let addr = match authority.port() {
            Some(_) => authority.as_str(),
            None => {
                with_port = format!("{}:80", authority.host());
                with_port.as_str()
            }
        };
        // The span names the full URL; the request line carries the path only (origin form),
        // taken from the parsed URL rather than parsed again.
        let span = trace_context::client_span(&Method::POST, &uri);
        let path = uri.path_and_query().map_or("/", PathAndQuery::as_str);
        // A client span per attempt; its context goes to the node as `traceparent`.
        let mut context = HeaderMap::new();
        trace_context::inject(&span, &mut context);
        let content_type = header::CONTENT_TYPE;
        let json = HeaderValue::from_static("application/json");
        let forwarded = FORWARDED
            .iter()
            .filter_map(|name| client_headers.get(name).map(|v| (name, v)));
        let headers = std::iter::once((&content_type, &json))
            .chain(forwarded)
            .chain(&context);
        let sent = span
            .instrument(self.pool.post(addr, path, headers, body))
            .await;
        match &sent {
            Ok(response) => trace_context::record_status(&span, response.status().as_u16()),
            Err(PoolError::Connect(_)) => trace_context::record_error(&span, "connect"),
            Err(PoolError::Request(_)) => trace_context::record_error(&span, "transport"),
        }
        // The node's address stays in the log: answers to clients name the node by id only.
        sent.map_err(|e| match e {
            PoolError::Connect(kind) => {
                tracing::warn!(url, error = %kind, "upstream connection failed");
                SendError::Connect(format!("connection failed: {kind}"))
            }
            PoolError::Request(e) => {
                let detail = crate::error::chain(&e);
                tracing::warn!(url, error = %detail, "upstream request failed");
                SendError::Other(detail)
            }
        })
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
    use tokio::sync::mpsc;

    use super::super::conn_pool::tests::{node, Answer};
    use super::UpstreamClient;

    /// A keep-alive node answering `{}`; its chat completions URL, accepted connections and
    /// a report of each connection the client closed.
    async fn server() -> (String, Arc<AtomicUsize>, mpsc::UnboundedReceiver<()>) {
        let (addr, accepted, closed) = node(Answer::Small).await;
        (
            format!("http://{addr}/v1/chat/completions"),
            accepted,
            closed,
        )
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
