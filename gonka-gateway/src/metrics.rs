//! Prometheus metrics of the gateway (`/metrics` on the public listener).
//!
//! Counters and histograms are recorded on the request path; per-node gauges (in-flight, health,
//! breaker) and the queue depth are read from the [`NodePool`] at scrape time, so they cost
//! nothing per request.

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
        }
    }

    /// Counts one answered request.
    pub fn count_request(&self, model: &str, node: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                model: model.to_owned(),
                node: node.to_owned(),
                status: status.to_string(),
            })
            .inc();
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
