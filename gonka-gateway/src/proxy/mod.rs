//! The OpenAI proxy: pick a node, take its slot, forward the request, retry failures that happen
//! before the first byte on another node, and stream the answer back chunk by chunk.

mod body;
pub mod request;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use gonka_core::RequestInfo;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::GatewayError;
use crate::metrics::{Metrics, ModelLabel};
use crate::pool::{AcquireError, FailureKind, NodePool, Outcome, Permit};
use body::Forwarding;

/// Settings of the proxy (from [`crate::GatewayConfig`]).
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Tries per request on distinct nodes.
    pub max_tries: u32,
    /// Longest wait in the holding queue.
    pub queue_timeout: Duration,
    /// Longest wait for the first upstream byte.
    pub request_timeout: Duration,
    /// Longest silence between upstream chunks.
    pub idle_timeout: Duration,
    /// Model → fallback models, in order.
    pub fallbacks: HashMap<String, Vec<String>>,
}

/// Forwards OpenAI requests to ML nodes. One per gateway; cheap to share.
#[derive(Debug)]
pub struct Proxy {
    pool: Arc<NodePool>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    settings: ProxySettings,
}

/// A failed try: either our own error or an upstream 5xx answer kept to pass on if no other
/// node succeeds. Only `Gateway` errors that are not timeouts and `Upstream` answers are retried:
/// a timed-out request may still be running on its node.
enum TryError {
    Gateway(GatewayError),
    Upstream(Response),
}

impl TryError {
    fn retryable(&self) -> bool {
        !matches!(self, TryError::Gateway(GatewayError::Timeout(_)))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl Proxy {
    /// A proxy over `pool`, with one pooled HTTP client for every upstream.
    ///
    /// # Errors
    /// `Startup` when the HTTP client cannot be built (TLS backend).
    pub fn new(
        pool: Arc<NodePool>,
        metrics: Arc<Metrics>,
        settings: ProxySettings,
    ) -> Result<Self, GatewayError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            // A proxy passes redirects on; it does not follow them.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .map_err(|e| GatewayError::Startup(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            pool,
            client,
            metrics,
            settings,
        })
    }

    /// The node pool the proxy routes over.
    pub fn pool(&self) -> &Arc<NodePool> {
        &self.pool
    }

    /// Forwards one request to `path` (e.g. `/v1/chat/completions`) on a chosen node.
    pub async fn forward(&self, path: &'static str, headers: &HeaderMap, body: Bytes) -> Response {
        let parsed = match request::parse(headers, &body) {
            Ok(p) => p,
            Err(e) => return self.reject("", e),
        };
        let model = parsed.info.model.clone();
        let chain = self.chain(parsed.info);
        if !chain.iter().any(|r| self.pool.declares(&r.model)) {
            // Not a label value: client-chosen names would grow the metric families unboundedly.
            return self.reject("unknown", GatewayError::ModelNotFound(model.clone()));
        }
        let queued_at = Instant::now();
        let deadline = queued_at + self.settings.queue_timeout;
        let mut excluded: Vec<Arc<str>> = Vec::new();
        let mut last: Option<TryError> = None;
        for attempt in 0..self.settings.max_tries.max(1) {
            if attempt > 0 && !self.other_candidate_exists(&chain, &excluded) {
                break;
            }
            let permit = match self.pool.acquire(&chain, &excluded, deadline).await {
                Ok(p) => p,
                Err(AcquireError::Closed) => {
                    return self.reject(&model, GatewayError::ShuttingDown)
                }
                Err(AcquireError::QueueFull) => {
                    return self.reject(&model, GatewayError::QueueFull(model.clone()))
                }
                Err(AcquireError::Timeout) if last.is_none() => {
                    return self.reject(
                        &model,
                        GatewayError::NoCapacity {
                            model: model.clone(),
                            waited_ms: queued_at.elapsed().as_millis(),
                        },
                    )
                }
                Err(AcquireError::Timeout) => break,
            };
            if attempt > 0 {
                self.metrics
                    .retries
                    .get_or_create(&ModelLabel {
                        model: model.clone(),
                    })
                    .inc();
            }
            let node = permit.node().clone();
            let upstream_body = if permit.model() == model {
                body.clone()
            } else {
                match request::with_model(&body, permit.model()) {
                    Ok(b) => b,
                    Err(e) => return self.reject(&model, e),
                }
            };
            let span = tracing::info_span!(
                "upstream",
                node = %node,
                model = %permit.model(),
                attempt = attempt + 1
            );
            match self
                .try_once(permit, path, headers, upstream_body, &model)
                .instrument(span)
                .await
            {
                Ok(response) => return response,
                Err(e) => {
                    tracing::warn!(node = %node, attempt = attempt + 1, "try failed before the first byte");
                    let retryable = e.retryable();
                    excluded.push(node);
                    last = Some(e);
                    if !retryable {
                        break;
                    }
                }
            }
        }
        match last {
            Some(TryError::Upstream(response)) => {
                self.metrics
                    .count_request(&model, "", response.status().as_u16());
                response
            }
            Some(TryError::Gateway(e)) => self.reject(&model, e),
            None => self.reject(
                &model,
                GatewayError::NoCapacity {
                    model: model.clone(),
                    waited_ms: queued_at.elapsed().as_millis(),
                },
            ),
        }
    }

    fn chain(&self, primary: RequestInfo) -> Vec<RequestInfo> {
        let mut chain = Vec::with_capacity(1);
        if let Some(fallbacks) = self.settings.fallbacks.get(&primary.model) {
            for f in fallbacks {
                chain.push(RequestInfo {
                    model: f.clone(),
                    ..primary.clone()
                });
            }
        }
        chain.insert(0, primary);
        chain
    }

    fn other_candidate_exists(&self, chain: &[RequestInfo], excluded: &[Arc<str>]) -> bool {
        self.pool.snapshot().iter().any(|n| {
            let v = &n.view;
            !excluded.contains(&v.id)
                && v.admitted
                && v.healthy
                && v.status == gonka_core::NodeStatus::Inference
                && chain.iter().any(|r| v.serves(&r.model))
        })
    }

    fn reject(&self, model: &str, e: GatewayError) -> Response {
        let status = e.parts().0.as_u16();
        self.metrics.count_request(model, "", status);
        tracing::info!(model, status, error = %e, "request rejected");
        e.into_response()
    }

    async fn try_once(
        &self,
        mut permit: Permit,
        path: &'static str,
        headers: &HeaderMap,
        body: Bytes,
        model: &str,
    ) -> Result<Response, TryError> {
        let started = permit.started();
        let url = format!("{}{}", permit.url(), path);
        let mut req = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        for name in [header::ACCEPT, REQUEST_ID] {
            if let Some(v) = headers.get(&name) {
                req = req.header(name, v);
            }
        }
        let timeout = self.settings.request_timeout;
        let resp = match tokio::time::timeout(timeout, req.send()).await {
            Err(_) => {
                permit.finish(Outcome::Failure(FailureKind::Timeout));
                return Err(TryError::Gateway(GatewayError::Timeout(format!(
                    "node {} sent no response within {} s",
                    permit.node(),
                    timeout.as_secs()
                ))));
            }
            Ok(Err(e)) => {
                let kind = if e.is_connect() {
                    FailureKind::Connect
                } else {
                    FailureKind::Server
                };
                permit.finish(Outcome::Failure(kind));
                return Err(TryError::Gateway(GatewayError::Upstream(format!(
                    "node {}: {e}",
                    permit.node()
                ))));
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let mut out_headers = HeaderMap::with_capacity(4);
        for (name, value) in resp.headers() {
            if name != header::CONTENT_LENGTH
                && name != header::TRANSFER_ENCODING
                && name != header::CONNECTION
                && name != REQUEST_ID
            {
                out_headers.insert(name.clone(), value.clone());
            }
        }
        if status.is_server_error() {
            permit.finish(Outcome::Failure(FailureKind::Server));
            let bytes = tokio::time::timeout(Duration::from_secs(5), resp.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let mut r = (status, bytes).into_response();
            *r.headers_mut() = out_headers;
            return Err(TryError::Upstream(r));
        }
        let mut upstream = resp.bytes_stream().boxed();
        let remaining = timeout.saturating_sub(started.elapsed());
        let first = match tokio::time::timeout(remaining, upstream.next()).await {
            Err(_) => {
                permit.finish(Outcome::Failure(FailureKind::Timeout));
                return Err(TryError::Gateway(GatewayError::Timeout(format!(
                    "node {} sent no body within {} s",
                    permit.node(),
                    timeout.as_secs()
                ))));
            }
            Ok(Some(Err(e))) => {
                permit.finish(Outcome::Failure(FailureKind::Server));
                return Err(TryError::Gateway(GatewayError::Upstream(format!(
                    "node {} failed before the first byte: {e}",
                    permit.node()
                ))));
            }
            Ok(None) => None,
            Ok(Some(Ok(chunk))) => Some(chunk),
        };
        self.metrics
            .ttft
            .get_or_create(&ModelLabel {
                model: model.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
        let forwarding = Forwarding {
            first,
            upstream,
            permit: Some(permit),
            metrics: self.metrics.clone(),
            model: model.to_owned(),
            status: status.as_u16(),
            idle_timeout: self.settings.idle_timeout,
            started,
        };
        let mut response = Response::new(Body::from_stream(forwarding.into_stream()));
        *response.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK);
        *response.headers_mut() = out_headers;
        Ok(response)
    }
}
