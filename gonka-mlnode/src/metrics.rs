//! The ML node's Prometheus metrics (`GET /metrics` on the management port): requests on both
//! listeners, the engine's state, restarts and load, PoC work and `gonka_build_info`; then the
//! engine's own `/metrics` (vLLM's `vllm:*`, llama.cpp's `llamacpp:*`) fetched from a ready
//! replica with a bounded timeout and appended. An engine that is down or has no metrics leaves
//! ours alone. Names are listed in `docs/observability.md`.

use std::sync::Mutex;
use std::time::Duration;

use gonka_core::mlnode_api::{ReplicaHealth, StateReport, UpPhase};
use gonka_core::poc::wire::PowStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// How long a scrape waits for the engine's `/metrics`.
pub const ENGINE_METRICS_TIMEOUT: Duration = Duration::from_secs(2);

/// Labels of `gonka_mlnode_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `management` or `inference`.
    pub listener: String,
    /// The route (a fixed set; unknown paths are `other`).
    pub route: String,
    /// HTTP status answered.
    pub status: String,
}

/// A `listener` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// `management` or `inference`.
    pub listener: String,
}

/// A `state` label: `stopped`, `loading`, `serving`, `failed`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The engine state.
    pub state: String,
}

/// A `stage` label of PoC artifacts: `computed`, `delivered`, `pending`, `dropped`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// The stage.
    pub stage: String,
}

/// Labels of `gonka_build_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    binary: String,
    version: String,
}

type Histograms = Family<ListenerLabel, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms .. ~327 s: an inference request may run as long as the engine generates.
    Histogram::new(exponential_buckets(0.005, 2.0, 17))
}

/// The engine states `gonka_mlnode_engine_state` reports, one of them 1 at a time.
pub const ENGINE_STATES: [&str; 4] = ["stopped", "loading", "serving", "failed"];

/// The task instance states `gonka_mlnode_task_instances` counts.
pub const TASK_STATES: [&str; 6] = [
    "starting", "running", "sleeping", "waking", "stopping", "failed",
];

/// The engine state of `state` (one of [`ENGINE_STATES`]).
pub fn engine_state(state: &StateReport) -> &'static str {
    if state.inference_healthy == Some(true) {
        return "serving";
    }
    match state.up_status {
        Some(UpPhase::InProgress) => "loading",
        Some(UpPhase::Failed) => "failed",
        Some(UpPhase::Completed) => "failed",
        _ => "stopped",
    }
}

/// Every metric of the ML node.
#[derive(Debug)]
pub struct MlNodeMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms,
    engine_state: Family<StateLabel, Gauge>,
    engine_restarts: Counter,
    engine_in_flight: Gauge,
    engine_replicas_ready: Gauge,
    poc_generating: Gauge,
    poc_artifacts: Family<StageLabel, Gauge>,
    poc_block_height: Gauge,
    poc_queued_nonces: Gauge,
    task_instances: Family<StateLabel, Gauge>,
    task_wake: Histogram,
    /// Restarts seen at the last scrape (the replicas' own counters; they restart at 0 when an
    /// `up` replaces the replicas).
    restarts_seen: Mutex<u64>,
}

impl Default for MlNodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl MlNodeMetrics {
    /// A fresh set: `gonka_mlnode_*` and `gonka_build_info`.
    pub fn new() -> Self {
        let mut root = Registry::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                binary: "gonka-mlnode".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        root.register(
            "gonka_build_info",
            "Always 1; the labels name the binary and its version",
            build,
        );
        let r = root.sub_registry_with_prefix("gonka_mlnode");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: Histograms = Family::new_with_constructor(duration_histogram);
        let engine_state = Family::<StateLabel, Gauge>::default();
        let engine_restarts = Counter::default();
        let engine_in_flight = Gauge::default();
        let engine_replicas_ready = Gauge::default();
        let poc_generating = Gauge::default();
        let poc_artifacts = Family::<StageLabel, Gauge>::default();
        let poc_block_height = Gauge::default();
        let poc_queued_nonces = Gauge::default();
        let task_instances = Family::<StateLabel, Gauge>::default();
        // 50 ms .. ~27 min: a simulator wakes at once, a vLLM instance restarted may take long.
        let task_wake = Histogram::new(exponential_buckets(0.05, 2.0, 16));
        r.register(
            "task_instances",
            "Deployment task instances by state (starting, running, sleeping, waking, stopping, failed)",
            task_instances.clone(),
        );
        r.register(
            "task_wake_seconds",
            "Time from a wake of a sleeping task instance to its running again",
            task_wake.clone(),
        );
        r.register(
            "requests",
            "Requests answered, by listener, route and status",
            requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time to answer a request (to the response head; streams continue after)",
            duration.clone(),
        );
        r.register(
            "engine_state",
            "1 for the engine's state (stopped, loading, serving, failed), 0 for the others",
            engine_state.clone(),
        );
        r.register(
            "engine_restarts",
            "Engine processes restarted after they died",
            engine_restarts.clone(),
        );
        r.register(
            "engine_in_flight",
            "Requests in flight to the engines",
            engine_in_flight.clone(),
        );
        r.register(
            "engine_replicas_ready",
            "Engine replicas that serve",
            engine_replicas_ready.clone(),
        );
        r.register(
            "poc_generating",
            "1 while a PoC round generates nonces",
            poc_generating.clone(),
        );
        r.register(
            "poc_artifacts",
            "PoC artifacts of the current or last round by stage (computed, delivered, pending, dropped)",
            poc_artifacts.clone(),
        );
        r.register(
            "poc_block_height",
            "Block height of the current or last PoC round",
            poc_block_height.clone(),
        );
        r.register(
            "poc_queued_nonces",
            "Nonces waiting in the PoC generate queue",
            poc_queued_nonces.clone(),
        );
        Self {
            registry: root,
            requests,
            duration,
            engine_state,
            engine_restarts,
            engine_in_flight,
            engine_replicas_ready,
            poc_generating,
            poc_artifacts,
            poc_block_height,
            poc_queued_nonces,
            task_instances,
            task_wake,
            restarts_seen: Mutex::new(0),
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, listener: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                listener: listener.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&ListenerLabel {
                listener: listener.to_owned(),
            })
            .observe(seconds);
    }

    /// Times one finished wake of a task instance (`gonka_mlnode_task_wake_seconds`).
    pub fn observe_task_wake(&self, seconds: f64) {
        self.task_wake.observe(seconds);
    }

    /// Our metrics in the Prometheus text format (0.0.4, so an engine's text can follow), with
    /// the engine and PoC gauges set from `state`, `pow` and the queued nonces.
    pub fn render(&self, state: &StateReport, pow: &PowStatus, queued_nonces: usize) -> String {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let current = engine_state(state);
        for s in ENGINE_STATES {
            self.engine_state
                .get_or_create(&StateLabel { state: s.into() })
                .set(i64::from(s == current));
        }
        let restarts: u64 = state.replicas.iter().map(|r| u64::from(r.restarts)).sum();
        {
            let mut seen = self.restarts_seen.lock().unwrap_or_else(|e| e.into_inner());
            self.engine_restarts.inc_by(restarts.saturating_sub(*seen));
            *seen = restarts;
        }
        self.engine_in_flight.set(gauge(
            state.replicas.iter().map(|r| r.in_flight as u64).sum(),
        ));
        self.engine_replicas_ready.set(gauge(
            state
                .replicas
                .iter()
                .filter(|r| r.health == ReplicaHealth::Ready)
                .count() as u64,
        ));
        for s in TASK_STATES {
            let n = state
                .tasks
                .iter()
                .filter(|t| crate::tasks::state_name(t.state) == s)
                .count();
            self.task_instances
                .get_or_create(&StateLabel { state: s.into() })
                .set(gauge(n as u64));
        }
        self.poc_generating
            .set(i64::from(pow.status == "GENERATING"));
        for (stage, v) in [
            ("computed", pow.computed),
            ("delivered", pow.delivered),
            ("pending", pow.pending),
            ("dropped", pow.dropped),
        ] {
            self.poc_artifacts
                .get_or_create(&StageLabel {
                    stage: stage.into(),
                })
                .set(gauge(v));
        }
        self.poc_block_height
            .set(gauge(pow.block_height.unwrap_or_default()));
        self.poc_queued_nonces.set(gauge(queued_nonces as u64));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("failed to encode metrics");
        }
        to_text_format(&out)
    }
}

/// OpenMetrics text as the Prometheus text format 0.0.4: without the `# EOF` line, and with
/// each counter's metadata named as its `_total` samples.
fn to_text_format(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.strip_suffix(" counter"))
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Middleware state: the metrics and the listener's name.
#[derive(Debug, Clone)]
pub struct Counted {
    /// Where requests are counted.
    pub metrics: std::sync::Arc<MlNodeMetrics>,
    /// `management` or `inference`.
    pub listener: &'static str,
}

/// Middleware: counts each request by listener, route and status and times it to its response
/// head. The route is the matched route on the management port, a known engine route (else
/// `other`) on the inference port.
pub async fn count_requests(
    axum::extract::State(counted): axum::extract::State<Counted>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route: String = match request.extensions().get::<axum::extract::MatchedPath>() {
        Some(m) if counted.listener == "management" => m.as_str().to_owned(),
        _ => inference_route(request.uri().path()).to_owned(),
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    counted.metrics.observe_request(
        counted.listener,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The route label of an inference-port path: the known engine routes, else `other` (paths
/// are the client's: not a label value).
pub fn inference_route(path: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/tokenize",
        "/detokenize",
        "/health",
    ];
    KNOWN
        .iter()
        .find(|k| **k == path)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_their_samples_and_eof_is_dropped() {
        let text = to_text_format(
            "# HELP a_x A.\n# TYPE a_x counter\na_x_total 1\n# TYPE g gauge\ng 2\n# EOF\n",
        );
        assert_eq!(
            text,
            "# HELP a_x_total A.\n# TYPE a_x_total counter\na_x_total 1\n# TYPE g gauge\ng 2\n"
        );
    }

    #[test]
    fn unknown_inference_paths_are_other() {
        assert_eq!(
            inference_route("/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(inference_route("/v1/secret-123"), "other");
    }
}
