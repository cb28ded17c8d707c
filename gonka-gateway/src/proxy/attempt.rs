//! One try of a request on one node: send, wait for the response head and the first body
//! chunk (so failures before the first byte can be retried elsewhere), then hand the rest of the
//! body to the client as it arrives. A document (not a stream) is read whole first, up to
//! [`WHOLE_READ_LIMIT`], so a node that breaks it off is answered with a clean error instead of
//! a truncated body.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::body::Forwarding;
use super::conn_pool::PooledBody;
use super::framing::Framing;
use super::upstream::SendError;
use super::{Proxy, TryError};
use crate::error::GatewayError;
use crate::pool::{FailureKind, Outcome, Permit};
use crate::traces::PendingTrace;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Most bytes of a document (a non-streamed answer) read before its head is sent. Completions
/// are far smaller; a longer one is sent as it arrives (and, broken off, ends truncated).
pub(crate) const WHOLE_READ_LIMIT: usize = 1024 * 1024;

impl Proxy {
    /// One try on `permit`'s node. On success `trace` (when traced) moves into the answer's
    /// body, which ends it; on failure it stays for the next try.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_once(
        &self,
        mut permit: Permit,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
        model: &str,
        arrived: tokio::time::Instant,
        trace: &mut Option<PendingTrace>,
    ) -> Result<Response, TryError> {
        let started = permit.started();
        let url = format!("{}{}", permit.url(), path);
        let timeout = self.settings.request_timeout;
        let send = self.upstream.post(&url, headers, body);
        let resp = match tokio::time::timeout(timeout, send).await {
            Err(_) => {
                permit.finish(Outcome::Failure(FailureKind::Timeout));
                return Err(TryError::Gateway(GatewayError::UpstreamTimeout {
                    node: permit.node().to_string(),
                    stage: "response",
                    waited: timeout,
                }));
            }
            Ok(Err(e)) => {
                let node = permit.node().to_string();
                let (kind, error) = match e {
                    SendError::Connect(reason) => (
                        FailureKind::Connect,
                        GatewayError::UpstreamConnect { node, reason },
                    ),
                    SendError::Other(reason) => (
                        FailureKind::Server,
                        GatewayError::UpstreamFailed { node, reason },
                    ),
                };
                permit.finish(Outcome::Failure(kind));
                return Err(TryError::Gateway(error));
            }
            Ok(Ok(r)) => r,
        };
        let (mut parts, incoming) = resp.into_parts();
        let status = parts.status;
        // Hop-by-hop framing and the node's own request id are not passed on.
        for name in [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
            REQUEST_ID,
        ] {
            parts.headers.remove(name);
        }
        if status.is_server_error() {
            permit.finish(Outcome::Failure(FailureKind::Server));
            // Kept to pass on if no other node succeeds; bounded in size and time.
            let limited = http_body_util::Limited::new(incoming, 64 * 1024);
            let bytes = tokio::time::timeout(Duration::from_secs(5), limited.collect())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let mut r = (status, bytes).into_response();
            *r.headers_mut() = parts.headers;
            return Err(TryError::Upstream(r));
        }
        let mut upstream = incoming;
        let remaining = timeout.saturating_sub(started.elapsed());
        let first = match tokio::time::timeout(remaining, first_data(&mut upstream)).await {
            Err(_) => {
                permit.finish(Outcome::Failure(FailureKind::Timeout));
                return Err(TryError::Gateway(GatewayError::UpstreamTimeout {
                    node: permit.node().to_string(),
                    stage: "body",
                    waited: timeout,
                }));
            }
            Ok(Some(Err(e))) => {
                permit.finish(Outcome::Failure(FailureKind::Server));
                return Err(TryError::Gateway(GatewayError::UpstreamCut {
                    node: permit.node().to_string(),
                    reason: e.to_string(),
                }));
            }
            Ok(None) => None,
            Ok(Some(Ok(chunk))) => Some(chunk),
        };
        if let Some(t) = trace.as_mut() {
            t.first_byte();
        }
        let framing = Framing::of(&parts.headers);
        if framing.is_stream() {
            // Time to first token as the client sees it: from arrival, queue wait included.
            self.metrics
                .observe_ttft(model, arrived.elapsed().as_secs_f64());
        }
        let first = if framing.is_stream() {
            first
        } else {
            let idle = self.settings.idle_timeout;
            match read_document(first, &mut upstream, idle).await {
                Ok(document) => document,
                Err((kind, reason)) => {
                    permit.finish(Outcome::Failure(kind));
                    return Err(TryError::Gateway(GatewayError::UpstreamBroke {
                        node: permit.node().to_string(),
                        stage: "mid-response",
                        reason,
                    }));
                }
            }
        };
        let document_usage = if framing.is_stream() || !status.is_success() {
            None
        } else {
            first.as_deref().and_then(super::usage::of_document)
        };
        let forwarding = Forwarding::new(
            first,
            upstream,
            framing,
            permit,
            self.metrics.clone(),
            model.to_owned(),
            status.as_u16(),
            self.settings.idle_timeout,
            started,
        );
        let forwarding = if status.is_success() {
            forwarding.counting_usage(document_usage)
        } else {
            forwarding
        };
        let forwarding = forwarding.tracing(trace.take());
        let mut response = Response::new(Body::new(forwarding));
        *response.status_mut() = status;
        *response.headers_mut() = parts.headers;
        Ok(response)
    }
}

/// The first data chunk of `body` (frames other than data are skipped), `None` at its end.
async fn first_data(body: &mut PooledBody) -> Option<Result<Bytes, std::io::Error>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// `first` and what follows it in `body`, up to the end or [`WHOLE_READ_LIMIT`] bytes (the rest
/// stays in `body`). Waits at most `idle` for each chunk.
///
/// # Errors
/// The breaker's view of the failure and why, when the body breaks or stalls before the end.
async fn read_document(
    first: Option<Bytes>,
    body: &mut PooledBody,
    idle: Duration,
) -> Result<Option<Bytes>, (FailureKind, String)> {
    let Some(first) = first else {
        return Ok(None);
    };
    if hyper::body::Body::is_end_stream(body) {
        return Ok(Some(first));
    }
    // Copied into a buffer only when a second chunk comes: a document that arrives in one
    // chunk is passed on as is.
    let mut whole: Option<BytesMut> = None;
    let mut len = first.len();
    while len < WHOLE_READ_LIMIT {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err((
                    FailureKind::Timeout,
                    format!("it sent nothing for {} s (idle timeout)", idle.as_secs()),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err((FailureKind::Server, e.to_string())),
            // Trailers of a document: none of the engines send them; not forwarded.
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let buffer = whole.get_or_insert_with(|| BytesMut::from(&first[..]));
                    buffer.extend_from_slice(&data);
                    len = buffer.len();
                }
            }
        }
    }
    Ok(Some(whole.map_or(first, BytesMut::freeze)))
}
