//! Prometheus metrics of the gateway (`/metrics` on the public listener, or on its own listener
//! with `--metrics-listen`); every name is listed in `docs/observability.md`.
//!
//! Counters and histograms are recorded on the request path; per-node gauges (in-flight, health,
//! breaker), the queue depth, breaker transitions and the PoC gauges are read from the
//! [`NodePool`] and the PoC service at scrape time, so they cost nothing per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::poc::PocService;
use crate::pool::NodePool;

/// Labels of `gonka_gateway_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Requested model.
    pub model: String,
    /// Node that served the last try (empty when none).
    pub node: String,
    /// HTTP status answered to the client.
    pub status: String,
}

/// A `model` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    /// Model name.
    pub model: String,
}

/// A `node` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    /// Node id.
    pub node: String,
}

/// Labels of `gonka_gateway_deploy_task_healthy`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// Task group id.
    pub group: String,
    /// Task id.
    pub task: String,
}

/// Labels of `gonka_gateway_tokens_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// Requested model.
    pub model: String,
    /// `prompt` or `completion`.
    pub kind: String,
}

/// Labels of `gonka_gateway_breaker_transitions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// The state the breaker went to: `open` or `closed`.
    pub to: String,
}

/// A `phase` label (PoC phase: `generate`, `wind_down`, `validate`, `inference`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// Phase name.
    pub phase: String,
}

/// An `outcome` label (PoC validation outcome of a node).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `valid`, `fraud`, `inconclusive` or `no_artifacts`.
    pub outcome: String,
}

/// Labels of `gonka_gateway_broker_actions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BrokerLabels {
    /// Node id.
    pub node: String,
    /// Management call (`inference_up`, `inference_down`, `stop`).
    pub action: String,
    /// `ok` or `error`.
    pub result: String,
}

/// Labels of `gonka_build_info` (the same metric in every Gonka binary).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The binary (`gonka-gateway`, `gonka-mlnode`, `gonka-admin`).
    pub binary: String,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: String,
}

/// Registers `gonka_build_info{binary,version} 1` in `registry` (unprefixed).
pub fn register_build_info(registry: &mut Registry, binary: &str, version: &str) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        binary: binary.to_owned(),
        version: version.to_owned(),
    })
    .set(1);
    registry.register(
        "gonka_build_info",
        "Always 1; the labels name the binary and its version",
        info,
    );
}

/// Histogram bucket bounds: 5 ms doubling until the first bound at or past `top_seconds` (at
/// least 300 s), so the largest finite bucket covers the longest duration a request may take.
pub fn buckets_up_to(top_seconds: f64) -> Vec<f64> {
    let top = top_seconds.max(300.0);
    let mut bounds = vec![0.005];
    let mut b = 0.005_f64;
    // Bounded: doubling from 5 ms passes any finite f64 top in < 1100 steps; cap at 64.
    while b < top && bounds.len() < 64 {
        b *= 2.0;
        bounds.push(b);
    }
    bounds
}

/// Builds histograms with fixed bucket bounds (for a metric family).
#[derive(Debug, Clone)]
pub struct Buckets(Arc<[f64]>);

impl Buckets {
    /// Histograms with `bounds`.
    pub fn new(bounds: Vec<f64>) -> Self {
        Self(bounds.into())
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type HistogramFamily<L> = Family<L, Histogram, Buckets>;

/// Every metric of the gateway and the registry they are encoded from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by model, node and answered status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request duration in seconds by model, from taking a node slot to the last byte.
    pub duration: HistogramFamily<ModelLabel>,
    /// Time from the request's arrival (queue wait included) to the first upstream byte, in
    /// seconds by model; streamed answers only.
    pub ttft: HistogramFamily<ModelLabel>,
    /// Time a request waited for a node slot (holding queue), in seconds by model.
    pub queue_wait: HistogramFamily<ModelLabel>,
    /// Tries after the first one, by model.
    pub retries: Family<ModelLabel, Counter>,
    /// Requests answered with a failure after every allowed try failed, by model.
    pub retries_exhausted: Family<ModelLabel, Counter>,
    /// Prompt and completion tokens the engines reported in `usage`, by model.
    pub tokens: Family<TokenLabels, Counter>,
    /// Management calls made by the broker.
    pub broker_actions: Family<BrokerLabels, Counter>,
    /// Request traces dropped because the trace writer's channel was full.
    pub traces_dropped: Counter,
    breaker_transitions: Family<TransitionLabels, Counter>,
    in_flight: Family<NodeLabel, Gauge>,
    node_healthy: Family<NodeLabel, Gauge>,
    node_routable: Family<NodeLabel, Gauge>,
    breaker_open: Family<NodeLabel, Gauge>,
    queue_depth: Gauge,
    nodes_routable: Gauge,
    poc_epoch: Gauge,
    poc_phase: Family<PhaseLabel, Gauge>,
    poc_round_epoch: Gauge,
    poc_validated_epoch: Gauge,
    poc_nonces_committed: Gauge,
    poc_nonces_sampled: Gauge,
    poc_nonces_mismatched: Gauge,
    poc_nodes: Family<OutcomeLabel, Gauge>,
    poc: OnceLock<Arc<PocService>>,
    task_healthy: Family<TaskLabels, Gauge>,
    task_health: OnceLock<Arc<crate::task_health::TaskHealthBook>>,
    /// Serialises scrapes: the breaker transition counters are brought up to the pool's totals.
    render_lock: Mutex<()>,
    /// Handles into the families above by model, so the request path finds its series with a
    /// map lookup by `&str` instead of building owned label strings on every request.
    by_model: RwLock<HashMap<Box<str>, ModelHandles>>,
}

/// One model's series (shared handles: updating them updates the registered families).
#[derive(Debug)]
struct ModelHandles {
    duration: Histogram,
    ttft: Histogram,
    queue_wait: Histogram,
    retries: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    /// `requests` counters by node, then by status.
    requests: HashMap<Box<str>, Vec<(u16, Counter)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics for the default timeouts (30 s queue, 300 s request).
    pub fn new() -> Self {
        Self::for_timeouts(Duration::from_secs(30), Duration::from_secs(300))
    }

    /// A fresh set of metrics, `gonka_gateway_*` plus `gonka_build_info`, whose latency buckets
    /// reach past `queue_timeout + request_timeout` (and 300 s at least) so no request that
    /// the gateway lets run lands in `+Inf` only.
    pub fn for_timeouts(queue_timeout: Duration, request_timeout: Duration) -> Self {
        let mut root = Registry::default();
        register_build_info(&mut root, "gonka-gateway", env!("CARGO_PKG_VERSION"));
        let buckets = Buckets::new(buckets_up_to(
            (queue_timeout + request_timeout).as_secs_f64(),
        ));
        let queue_buckets = Buckets::new(buckets_up_to(queue_timeout.as_secs_f64()));
        let registry = root.sub_registry_with_prefix("gonka_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = HistogramFamily::new_with_constructor(buckets.clone());
        let ttft = HistogramFamily::new_with_constructor(buckets);
        let queue_wait = HistogramFamily::new_with_constructor(queue_buckets);
        let retries = Family::<ModelLabel, Counter>::default();
        let retries_exhausted = Family::<ModelLabel, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let broker_actions = Family::<BrokerLabels, Counter>::default();
        let traces_dropped = Counter::default();
        let breaker_transitions = Family::<TransitionLabels, Counter>::default();
        let in_flight = Family::<NodeLabel, Gauge>::default();
        let node_healthy = Family::<NodeLabel, Gauge>::default();
        let node_routable = Family::<NodeLabel, Gauge>::default();
        let breaker_open = Family::<NodeLabel, Gauge>::default();
        let queue_depth = Gauge::default();
        let nodes_routable = Gauge::default();
        let poc_epoch = Gauge::default();
        let poc_phase = Family::<PhaseLabel, Gauge>::default();
        let poc_round_epoch = Gauge::default();
        let poc_validated_epoch = Gauge::default();
        let poc_nonces_committed = Gauge::default();
        let poc_nonces_sampled = Gauge::default();
        let poc_nonces_mismatched = Gauge::default();
        let poc_nodes = Family::<OutcomeLabel, Gauge>::default();
        let task_healthy = Family::<TaskLabels, Gauge>::default();
        for to in ["open", "closed"] {
            let _ = breaker_transitions.get_or_create(&TransitionLabels { to: to.into() });
        }
        let r = registry;
        r.register(
            "requests",
            "Proxied requests by model, node and status",
            requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Duration of proxied requests, from taking a node slot to the last byte",
            duration.clone(),
        );
        r.register(
            "time_to_first_token_seconds",
            "Streamed requests: time from arrival (queue wait included) to the first upstream byte",
            ttft.clone(),
        );
        r.register(
            "queue_wait_seconds",
            "Time a request waited for a node slot",
            queue_wait.clone(),
        );
        r.register(
            "retries",
            "Requests retried on another node before the first byte",
            retries.clone(),
        );
        r.register(
            "retries_exhausted",
            "Requests answered with a failure after every allowed try failed",
            retries_exhausted.clone(),
        );
        r.register(
            "tokens",
            "Tokens the engines reported in usage, by model and kind (prompt, completion)",
            tokens.clone(),
        );
        r.register(
            "broker_actions",
            "Management API calls made by the broker",
            broker_actions.clone(),
        );
        r.register(
            "traces_dropped",
            "Request traces dropped because the trace writer was behind (its channel was full)",
            traces_dropped.clone(),
        );
        r.register(
            "breaker_transitions",
            "Circuit breaker transitions of all nodes, by the state entered",
            breaker_transitions.clone(),
        );
        r.register(
            "in_flight",
            "Requests in flight per node",
            in_flight.clone(),
        );
        r.register(
            "node_healthy",
            "1 when the node's last health check passed",
            node_healthy.clone(),
        );
        r.register(
            "node_routable",
            "1 when the node takes requests now (admitted, healthy, breaker closed, INFERENCE)",
            node_routable.clone(),
        );
        r.register(
            "breaker_open",
            "1 when the node's circuit breaker is open",
            breaker_open.clone(),
        );
        r.register(
            "queue_depth",
            "Requests waiting in the holding queue",
            queue_depth.clone(),
        );
        r.register(
            "nodes_routable",
            "Nodes that take requests now",
            nodes_routable.clone(),
        );
        r.register("poc_epoch", "Epoch the PoC clock is in", poc_epoch.clone());
        r.register(
            "poc_phase",
            "1 for the PoC phase the clock is in, 0 for the others",
            poc_phase.clone(),
        );
        r.register(
            "poc_round_epoch",
            "Epoch of the last PoC round this gateway started",
            poc_round_epoch.clone(),
        );
        r.register(
            "poc_validated_epoch",
            "Epoch of the last validated PoC round",
            poc_validated_epoch.clone(),
        );
        r.register(
            "poc_nonces_committed",
            "Nonces the nodes committed in the last validated round",
            poc_nonces_committed.clone(),
        );
        r.register(
            "poc_nonces_sampled",
            "Nonces sampled and recomputed in the last validated round",
            poc_nonces_sampled.clone(),
        );
        r.register(
            "poc_nonces_mismatched",
            "Sampled nonces that did not match in the last validated round",
            poc_nonces_mismatched.clone(),
        );
        r.register(
            "poc_nodes",
            "Nodes of the last validated round by outcome",
            poc_nodes.clone(),
        );
        r.register(
            "deploy_task_healthy",
            "1 for a running deployment task passing its group's health check, 0 for one failing it unhealthy_threshold times in a row",
            task_healthy.clone(),
        );
        Self {
            registry: root,
            requests,
            duration,
            ttft,
            queue_wait,
            retries,
            retries_exhausted,
            tokens,
            broker_actions,
            traces_dropped,
            breaker_transitions,
            in_flight,
            node_healthy,
            node_routable,
            breaker_open,
            queue_depth,
            nodes_routable,
            poc_epoch,
            poc_phase,
            poc_round_epoch,
            poc_validated_epoch,
            poc_nonces_committed,
            poc_nonces_sampled,
            poc_nonces_mismatched,
            poc_nodes,
            poc: OnceLock::new(),
            task_healthy,
            task_health: OnceLock::new(),
            render_lock: Mutex::new(()),
            by_model: RwLock::new(HashMap::new()),
        }
    }

    /// Reports the PoC gauges of `service` from now on (a gateway with PoC on calls it once).
    pub fn set_poc(&self, service: Arc<PocService>) {
        let _ = self.poc.set(service);
    }

    /// Reports the deployment tasks' health from `book` from now on (a gateway with deployments
    /// calls it once).
    pub fn set_task_health(&self, book: Arc<crate::task_health::TaskHealthBook>) {
        let _ = self.task_health.set(book);
    }

    /// Runs `f` on the cached handles of `model`, creating them on first use.
    fn with_model<T>(&self, model: &str, f: impl Fn(&ModelHandles) -> Option<T>) -> T
    where
        T: Default,
    {
        if let Ok(map) = self.by_model.read() {
            if let Some(found) = map.get(model).and_then(&f) {
                return found;
            }
        }
        let mut map = match self.by_model.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let label = ModelLabel {
            model: model.to_owned(),
        };
        let tokens = |kind: &str| {
            self.tokens
                .get_or_create(&TokenLabels {
                    model: model.to_owned(),
                    kind: kind.to_owned(),
                })
                .clone()
        };
        // Exposed at 0 from the model's first request, so `rate()` sees the first failure.
        let _ = self.retries_exhausted.get_or_create(&label);
        let handles = map.entry(model.into()).or_insert_with(|| ModelHandles {
            duration: self.duration.get_or_create(&label).clone(),
            ttft: self.ttft.get_or_create(&label).clone(),
            queue_wait: self.queue_wait.get_or_create(&label).clone(),
            retries: self.retries.get_or_create(&label).clone(),
            prompt_tokens: tokens("prompt"),
            completion_tokens: tokens("completion"),
            requests: HashMap::new(),
        });
        f(handles).unwrap_or_default()
    }

    /// Records the end-to-end duration of one request for `model`.
    pub fn observe_duration(&self, model: &str, seconds: f64) {
        self.with_model(model, |h| {
            h.duration.observe(seconds);
            Some(())
        });
    }

    /// Records the time from arrival to the first upstream byte of one streamed request.
    pub fn observe_ttft(&self, model: &str, seconds: f64) {
        self.with_model(model, |h| {
            h.ttft.observe(seconds);
            Some(())
        });
    }

    /// Records how long one request waited for a node slot.
    pub fn observe_queue_wait(&self, model: &str, seconds: f64) {
        self.with_model(model, |h| {
            h.queue_wait.observe(seconds);
            Some(())
        });
    }

    /// Adds the `usage` of one answer for `model`.
    pub fn count_tokens(&self, model: &str, prompt: u64, completion: u64) {
        self.with_model(model, |h| {
            h.prompt_tokens.inc_by(prompt);
            h.completion_tokens.inc_by(completion);
            Some(())
        });
    }

    /// Counts one retry (a try after the first) for `model`.
    pub fn count_retry(&self, model: &str) {
        self.with_model(model, |h| {
            h.retries.inc();
            Some(())
        });
    }

    /// Counts one request whose every allowed try failed.
    pub fn count_retries_exhausted(&self, model: &str) {
        self.retries_exhausted
            .get_or_create(&ModelLabel {
                model: model.to_owned(),
            })
            .inc();
    }

    /// Counts one answered request.
    pub fn count_request(&self, model: &str, node: &str, status: u16) {
        let counted = self.with_model(model, |h| {
            let counter = h.requests.get(node)?.iter().find(|(s, _)| *s == status)?;
            counter.1.inc();
            Some(true)
        });
        if counted {
            return;
        }
        let counter = self
            .requests
            .get_or_create(&RequestLabels {
                model: model.to_owned(),
                node: node.to_owned(),
                status: status.to_string(),
            })
            .clone();
        counter.inc();
        let mut map = match self.by_model.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(h) = map.get_mut(model) {
            let statuses = h.requests.entry(node.into()).or_default();
            if !statuses.iter().any(|(s, _)| *s == status) {
                statuses.push((status, counter));
            }
        }
    }

    /// Refreshes the per-node gauges, queue depth, breaker transitions and PoC gauges from the
    /// pool and the PoC service and encodes everything in the OpenMetrics text format.
    pub fn render(&self, pool: &NodePool) -> String {
        let _scrape = self.render_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.in_flight.clear();
        self.node_healthy.clear();
        self.node_routable.clear();
        self.breaker_open.clear();
        let mut routable = 0i64;
        for n in pool.snapshot() {
            let label = NodeLabel {
                node: n.view.id.to_string(),
            };
            self.in_flight
                .get_or_create(&label)
                .set(i64::from(n.view.in_flight));
            self.node_healthy
                .get_or_create(&label)
                .set(i64::from(n.health_passed));
            self.node_routable
                .get_or_create(&label)
                .set(i64::from(n.view.routable()));
            routable += i64::from(n.view.routable());
            self.breaker_open
                .get_or_create(&label)
                .set(i64::from(n.breaker_open));
        }
        self.nodes_routable.set(routable);
        self.queue_depth
            .set(i64::try_from(pool.queue_depth()).unwrap_or(i64::MAX));
        let (opened, closed) = pool.breaker_transitions();
        for (to, total) in [("open", opened), ("closed", closed)] {
            let c = self
                .breaker_transitions
                .get_or_create(&TransitionLabels { to: to.into() });
            c.inc_by(total.saturating_sub(c.get()));
        }
        if let Some(poc) = self.poc.get() {
            self.render_poc(poc);
        }
        if let Some(book) = self.task_health.get() {
            self.task_healthy.clear();
            for (group, task, healthy) in book.entries() {
                self.task_healthy
                    .get_or_create(&TaskLabels { group, task })
                    .set(i64::from(healthy));
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("failed to encode metrics");
        }
        out
    }

    fn render_poc(&self, poc: &PocService) {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let now = poc.config().clock.now();
        self.poc_epoch.set(gauge(now.epoch));
        let current = crate::poc::phase_name(now.phase);
        for phase in ["generate", "wind_down", "validate", "inference"] {
            self.poc_phase
                .get_or_create(&PhaseLabel {
                    phase: phase.into(),
                })
                .set(i64::from(phase == current));
        }
        if let Some(epoch) = poc.last_round_epoch() {
            self.poc_round_epoch.set(gauge(epoch));
        }
        if let Some(result) = poc.latest_result() {
            self.poc_validated_epoch.set(gauge(result.info.epoch));
            let sum = |f: fn(&crate::poc::validation::NodeOutcome) -> u64| {
                gauge(result.outcomes.iter().map(f).sum())
            };
            self.poc_nonces_committed.set(sum(|o| o.count));
            self.poc_nonces_sampled.set(sum(|o| o.n_total as u64));
            self.poc_nonces_mismatched.set(sum(|o| o.n_mismatch as u64));
            self.poc_nodes.clear();
            for o in &result.outcomes {
                self.poc_nodes
                    .get_or_create(&OutcomeLabel {
                        outcome: o.outcome.into(),
                    })
                    .inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_reach_past_the_request_timeout() {
        let b = buckets_up_to(330.0);
        assert_eq!(b[0], 0.005);
        assert!(*b.last().unwrap_or(&0.0) >= 330.0, "{b:?}");
        assert!(b[b.len() - 2] < 330.0);
        let long = buckets_up_to(3600.0);
        assert!(*long.last().unwrap_or(&0.0) >= 3600.0);
        assert!(*buckets_up_to(1.0).last().unwrap_or(&0.0) >= 300.0);
    }
}
