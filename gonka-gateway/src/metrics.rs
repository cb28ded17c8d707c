//! Prometheus metrics of the gateway (`/metrics` on the public listener).
//!
//! Counters and histograms are recorded on the request path; per-node gauges (in-flight, health,
//! breaker) and the queue depth are read from the [`NodePool`] at scrape time, so they cost
//! nothing per request.

use std::collections::HashMap;
use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

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

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms .. ~164 s
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// Every metric of the gateway and the registry they are encoded from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by model, node and answered status.
    pub requests: Family<RequestLabels, Counter>,
    /// End-to-end request duration in seconds by model.
    pub duration: HistogramFamily<ModelLabel>,
    /// Time to the first upstream byte in seconds by model.
    pub ttft: HistogramFamily<ModelLabel>,
    /// Tries after the first one, by model.
    pub retries: Family<ModelLabel, Counter>,
    /// Management calls made by the broker.
    pub broker_actions: Family<BrokerLabels, Counter>,
    in_flight: Family<NodeLabel, Gauge>,
    node_healthy: Family<NodeLabel, Gauge>,
    breaker_open: Family<NodeLabel, Gauge>,
    queue_depth: Gauge,
    /// Handles into the families above by model, so the request path finds its series with a
    /// map lookup by `&str` instead of building owned label strings on every request.
    by_model: RwLock<HashMap<Box<str>, ModelHandles>>,
}

/// One model's series (shared handles: updating them updates the registered families).
#[derive(Debug)]
struct ModelHandles {
    duration: Histogram,
    ttft: Histogram,
    retries: Counter,
    /// `requests` counters by node, then by status.
    requests: HashMap<Box<str>, Vec<(u16, Counter)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics registered under the `gonka_gateway` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gonka_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily<ModelLabel> = Family::new_with_constructor(latency_histogram);
        let ttft: HistogramFamily<ModelLabel> = Family::new_with_constructor(latency_histogram);
        let retries = Family::<ModelLabel, Counter>::default();
        let broker_actions = Family::<BrokerLabels, Counter>::default();
        let in_flight = Family::<NodeLabel, Gauge>::default();
        let node_healthy = Family::<NodeLabel, Gauge>::default();
        let breaker_open = Family::<NodeLabel, Gauge>::default();
        let queue_depth = Gauge::default();
        registry.register(
            "requests",
            "Proxied requests by model, node and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "End-to-end duration of proxied requests",
            duration.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from taking a node slot to the first upstream byte",
            ttft.clone(),
        );
        registry.register(
            "retries",
            "Requests retried on another node before the first byte",
            retries.clone(),
        );
        registry.register(
            "broker_actions",
            "Management API calls made by the broker",
            broker_actions.clone(),
        );
        registry.register(
            "in_flight",
            "Requests in flight per node",
            in_flight.clone(),
        );
        registry.register(
            "node_healthy",
            "1 when the node's last health check passed",
            node_healthy.clone(),
        );
        registry.register(
            "breaker_open",
            "1 when the node's circuit breaker is open",
            breaker_open.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting in the holding queue",
            queue_depth.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            ttft,
            retries,
            broker_actions,
            in_flight,
            node_healthy,
            breaker_open,
            queue_depth,
            by_model: RwLock::new(HashMap::new()),
        }
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
        let handles = map.entry(model.into()).or_insert_with(|| ModelHandles {
            duration: self.duration.get_or_create(&label).clone(),
            ttft: self.ttft.get_or_create(&label).clone(),
            retries: self.retries.get_or_create(&label).clone(),
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

    /// Records the time to the first upstream byte of one request for `model`.
    pub fn observe_ttft(&self, model: &str, seconds: f64) {
        self.with_model(model, |h| {
            h.ttft.observe(seconds);
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

    /// Refreshes the per-node gauges and queue depth from the pool and encodes everything in the
    /// Prometheus text format.
    pub fn render(&self, pool: &NodePool) -> String {
        self.in_flight.clear();
        self.node_healthy.clear();
        self.breaker_open.clear();
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
            self.breaker_open
                .get_or_create(&label)
                .set(i64::from(n.breaker_open));
        }
        self.queue_depth
            .set(i64::try_from(pool.queue_depth()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("failed to encode metrics");
        }
        out
    }
}
