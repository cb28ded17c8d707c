//! The OpenAI proxy: pick a node, take its slot, forward the request, retry failures that happen
//! before the first byte on another node, and stream the answer back chunk by chunk. An answer
//! the node breaks off after that ends with an error the client can read (see `body`), and is
//! not retried.

mod attempt;
mod body;
mod coalesce;
mod conn_pool;
mod framing;
mod h1;
pub mod request;
mod routed;
mod upstream;
mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gonka_core::traces::TraceApi;
use gonka_core::RequestInfo;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{GatewayError, StartupError};
use crate::metrics::Metrics;
use crate::pool::{AcquireError, NodePool};
use crate::traces::PendingTrace;
pub use routed::{copy_routing_headers, NODE_HEADER, ROUTE_HEADER, ROUTE_VERSION_HEADER};
use upstream::UpstreamClient;

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
    /// Kept-alive upstream connections unused this long are closed.
    pub upstream_idle_timeout: Duration,
    /// Model → fallback models, in order.
    pub fallbacks: HashMap<String, Vec<String>>,
    /// What happens to a request's `num_ctx` ([`crate::context`]).
    pub context_protection: crate::context::ContextProtection,
}

/// Forwards OpenAI requests to ML nodes. One per gateway; cheap to share.
#[derive(Debug)]
pub struct Proxy {
    pool: Arc<NodePool>,
    upstream: UpstreamClient,
    metrics: Arc<Metrics>,
    settings: ProxySettings,
    /// Where request traces go; `None`: not recorded.
    traces: Option<crate::traces::TraceRecorder>,
    fleet: Option<Arc<crate::fleet::Fleet>>,
    /// Model routes of deployments; `None`: every model is routed by the pool alone.
    deploy: Option<Arc<crate::deploy_routes::DeployRoutes>>,
}

/// Response header naming the model that served a request instead of the one asked for, when
/// VRAM fallback (`--vram-fallback`) routed it to a loaded model of the same family.
pub const VRAM_FALLBACK_HEADER: &str = "x-gonka-vram-fallback";

/// A failed try: either our own error or an upstream 5xx answer kept to pass on if no other
/// node succeeds. `Upstream` answers and `Gateway` errors are retried, except timeouts (the
/// request may still be running on its node) and answers the node had started (it did the work:
/// [`GatewayError::answer_started`]).
enum TryError {
    Gateway(GatewayError),
    Upstream(Response),
}

impl TryError {
    fn retryable(&self) -> bool {
        !matches!(self, TryError::Gateway(e) if e.is_timeout() || e.answer_started())
    }
}

impl Proxy {
    /// A proxy over `pool`, with one pooled HTTP client for every upstream.
    ///
    /// # Errors
    /// None today (the hyper client cannot fail to build); kept so client options can be
    /// validated here.
    pub fn new(
        pool: Arc<NodePool>,
        metrics: Arc<Metrics>,
        settings: ProxySettings,
    ) -> Result<Self, StartupError> {
        Ok(Self {
            pool,
            upstream: UpstreamClient::new(settings.upstream_idle_timeout),
            metrics,
            settings,
            traces: None,
            fleet: None,
            deploy: None,
        })
    }

    /// The proxy with the fleet's opt-in routing aids (auto-pull, VRAM fallback).
    pub fn with_fleet(mut self, fleet: Arc<crate::fleet::Fleet>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// This proxy recording one trace per request into `recorder` (see [`crate::traces`]);
    /// also makes the pool record its decisions ([`NodePool::record_decisions`]).
    pub fn with_traces(mut self, recorder: crate::traces::TraceRecorder) -> Self {
        self.pool.record_decisions(true);
        self.traces = Some(recorder);
        self
    }

    /// The node pool the proxy routes over.
    pub fn pool(&self) -> &Arc<NodePool> {
        &self.pool
    }

    /// Forwards one request to `path` (e.g. `/v1/chat/completions`) on a chosen node; its
    /// trace says it came in on the OpenAI API at `path`.
    pub async fn forward(&self, path: &str, headers: &HeaderMap, body: Bytes) -> Response {
        self.forward_as(TraceApi::Openai, path, path, headers, body)
            .await
    }

    /// [`forward`](Self::forward) for a request that came in on `endpoint` of `api` (e.g. the
    /// Ollama API's `/api/chat`, translated to an OpenAI body for `path`): routed, retried and
    /// measured the same way, and traced under `api` and `endpoint`.
    pub async fn forward_as(
        &self,
        api: TraceApi,
        endpoint: &str,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let parsed = match request::parse(headers, &body) {
            Ok(p) => p,
            Err(e) => return self.reject("", e),
        };
        let num_ctx = match request::num_ctx(&body) {
            Ok(n) => n,
            Err(e) => return self.reject("", e),
        };
        let mut info = parsed.info;
        info.prompt_tokens = crate::context::routing_tokens(
            info.prompt_tokens,
            num_ctx,
            self.settings.context_protection,
        );
        let model = info.model.clone();
        let mut trace = self
            .traces
            .as_ref()
            .map(|r| r.begin(api, endpoint, headers, &model, parsed.stream));
        let scope = match self.key_scope(headers, &model).await {
            Ok(s) => s,
            Err(e) => {
                let label = if self.pool.declares(&model) {
                    model.as_str()
                } else {
                    "unknown"
                };
                return self.refuse(trace, label, e);
            }
        };
        let vram_fallback = self
            .fleet
            .as_ref()
            .and_then(|fleet| fleet.vram_fallback(&model));
        let mut chain = self.chain(info);
        if let Some(loaded) = &vram_fallback {
            chain.insert(
                0,
                RequestInfo {
                    model: loaded.clone(),
                    ..chain[0].clone()
                },
            );
        }
        if !chain.iter().any(|r| self.pool.declares(&r.model)) {
            if let Some(pulling) = self.fleet.as_ref().and_then(|f| f.auto_pull(&model)) {
                return self.refuse(trace, &model, pulling);
            }
            // Not a label value: client-chosen names would grow the metric families unboundedly.
            return self.refuse(trace, "unknown", GatewayError::ModelNotFound(model.clone()));
        }
        let queued_at = Instant::now();
        let deadline = queued_at + self.settings.queue_timeout;
        let mut excluded: Vec<Arc<str>> = Vec::new();
        // One draw per request: its retries keep its side of the weight split.
        let draw = rand::random::<u32>();
        let mut last_choice: Option<crate::deploy_routes::RouteChoice> = None;
        let mut last: Option<TryError> = None;
        // Whether the tries ended on a failure that is not retried (then the retries were not
        // exhausted: the failure is the answer).
        let mut final_failure = false;
        for attempt in 0..self.settings.max_tries.max(1) {
            // A retry only waits when some node could take the request (every rule but a free
            // slot, hints included); otherwise the last failure is the answer.
            let (routed, choice) = self.route(&chain, &model, &excluded, scope.as_deref(), draw);
            if attempt > 0 && !self.pool.could_serve(&routed, &excluded) {
                break;
            }
            let pick = choice.as_ref().map(|c| c.pick(&model));
            let acquired = self
                .pool
                .acquire_routed(&routed, &excluded, deadline, pick)
                .await;
            if attempt == 0
                && !matches!(
                    acquired,
                    Err(AcquireError::QueueFull | AcquireError::Closed)
                )
            {
                self.metrics
                    .observe_queue_wait(&model, queued_at.elapsed().as_secs_f64());
            }
            let mut permit = match acquired {
                Ok(p) => p,
                Err(AcquireError::Closed) => {
                    return self.refuse(trace, &model, GatewayError::ShuttingDown)
                }
                Err(AcquireError::QueueFull) => {
                    return self.refuse(trace, &model, GatewayError::QueueFull(model.clone()))
                }
                Err(AcquireError::Timeout) if last.is_none() => {
                    return self.refuse(
                        trace,
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
                self.metrics.count_retry(&model);
            }
            if let Some(t) = trace.as_mut() {
                t.chose(&mut permit, attempt);
            }
            let node = permit.node().clone();
            let served_by_fallback = vram_fallback
                .as_deref()
                .filter(|m| *m == permit.model())
                .map(str::to_owned);
            let upstream_body = if permit.model() == model {
                body.clone()
            } else {
                match request::with_model(&body, permit.model()) {
                    Ok(b) => b,
                    Err(e) => return self.refuse(trace, &model, e),
                }
            };
            let upstream_body = match num_ctx {
                None => upstream_body,
                Some(_) => match request::protect_context(
                    upstream_body,
                    self.settings.context_protection,
                    permit.loaded_context(),
                ) {
                    Ok(b) => b,
                    Err(e) => return self.refuse(trace, &model, e),
                },
            };
            // Target `gonka_request`: out of the logs unless RUST_LOG names it.
            let span = tracing::info_span!(
                target: "gonka_request",
                "upstream",
                node = %node,
                model = %permit.model(),
                attempt = attempt + 1
            );
            match self
                .try_once(
                    permit,
                    path,
                    headers,
                    upstream_body,
                    &model,
                    queued_at,
                    &mut trace,
                )
                .instrument(span)
                .await
            {
                Ok(mut response) => {
                    routed::stamp(response.headers_mut(), &node, choice.as_ref());
                    if let Some(loaded) =
                        served_by_fallback.and_then(|m| axum::http::HeaderValue::try_from(m).ok())
                    {
                        response.headers_mut().insert(VRAM_FALLBACK_HEADER, loaded);
                    }
                    return response;
                }
                Err(e) => {
                    tracing::warn!(node = %node, attempt = attempt + 1, "try failed");
                    let retryable = e.retryable();
                    excluded.push(node);
                    last_choice = choice;
                    last = Some(e);
                    if !retryable {
                        final_failure = true;
                        break;
                    }
                }
            }
        }
        if last.is_some() && !final_failure {
            self.metrics.count_retries_exhausted(&model);
        }
        match last {
            Some(TryError::Upstream(mut response)) => {
                if let Some(node) = excluded.last() {
                    routed::stamp(response.headers_mut(), node, last_choice.as_ref());
                }
                let status = response.status().as_u16();
                self.metrics.count_request(&model, "", status);
                if let Some(t) = trace {
                    t.refused(status);
                }
                response
            }
            Some(TryError::Gateway(e)) => self.refuse(trace, &model, e),
            None => self.refuse(
                trace,
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

    /// [`reject`](Self::reject), ending `trace` (when traced) with the answer's status.
    fn refuse(&self, trace: Option<PendingTrace>, model: &str, e: GatewayError) -> Response {
        if let Some(t) = trace {
            t.refused(e.parts().0.as_u16());
        }
        self.reject(model, e)
    }

    fn reject(&self, model: &str, e: GatewayError) -> Response {
        let status = e.parts().0.as_u16();
        self.metrics.count_request(model, "", status);
        tracing::info!(model, status, error = %e, "request rejected");
        e.into_response()
    }
}
