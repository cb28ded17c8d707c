//! The [`Scheduler`] trait: the synchronous hot path that picks a node for a request.

use std::sync::Arc;

use crate::NodeStatus;

/// What the scheduler knows about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RequestInfo {
    /// Requested model (governance name).
    pub model: String,
    /// Estimated prompt size in tokens (0 when unknown).
    pub prompt_tokens: u32,
    /// Higher is more urgent; 0 is normal.
    pub priority: i32,
    /// Required GPU type substring (seed 002 filter), e.g. `"H100"`.
    pub gpu_type: Option<String>,
    /// Minimum GPU memory per device in MiB the request needs (seed 002 "VRAM fit").
    pub min_vram_mb: Option<u64>,
    /// Preferred engine (`"vllm"`, `"sglang"`, `"llamacpp"`, `"simulator"`).
    pub engine: Option<String>,
    /// Ids of nodes that must not take the request (e.g. the nodes a retry already tried).
    pub exclude: Vec<Arc<str>>,
}

impl RequestInfo {
    /// A request for `model` with no other constraint.
    pub fn for_model(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }
}

/// A snapshot of one node as the scheduler sees it. Built by the gateway from the registry, the
/// health checker and its own counters; cheap to clone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeView {
    /// Node id.
    pub id: Arc<str>,
    /// Models the node serves.
    pub models: Arc<[Arc<str>]>,
    /// Requests in flight on this node now.
    pub in_flight: u32,
    /// The node's `max_concurrent`.
    pub max_concurrent: u32,
    /// Last observed status; only `INFERENCE` nodes take requests.
    pub status: NodeStatus,
    /// Health checks pass and the circuit breaker is closed.
    pub healthy: bool,
    /// Administratively allowed to serve now (enabled, or disabled but its epoch is not over).
    pub admitted: bool,
    /// Requests waiting for this node (engine-side queue), when known.
    pub queue_depth: u32,
    /// Observed median latency in milliseconds (0 when unknown).
    pub latency_p50_ms: f32,
    /// Observed 95th percentile latency in milliseconds (0 when unknown).
    pub latency_p95_ms: f32,
    /// Observed 75th percentile latency in milliseconds (0 when unknown).
    pub latency_p75_ms: f32,
    /// Recent error rate in [0, 1].
    pub error_rate: f32,
    /// Recent availability in [0, 1] (share of passed health checks).
    pub availability: f32,
    /// GPU type, when known.
    pub gpu_type: Option<Arc<str>>,
    /// GPU memory per device in MiB, when known.
    pub vram_mb: Option<u64>,
    /// Engine kind, when known.
    pub engine: Option<Arc<str>>,
    /// Models loaded in the engine's memory now, with their context windows ("hot"); empty when
    /// the node reports none.
    pub loaded: Arc<[LoadedModel]>,
    /// Models whose weights are on the node's disk but not loaded ("warm").
    pub disk_models: Arc<[Arc<str>]>,
    /// Total engine (accelerator) memory in MiB, when reported.
    pub memory_total_mb: Option<u64>,
    /// Free engine (accelerator) memory in MiB, when reported.
    pub memory_free_mb: Option<u64>,
    /// Memory pressure as the node classifies it.
    pub memory_pressure: MemoryPressure,
}

/// A model loaded in an engine's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LoadedModel {
    /// Model name as clients send it.
    pub name: Arc<str>,
    /// Context window the model was loaded with, in tokens (0 when unknown).
    pub context_length: u32,
}

/// How close a node is to running out of memory.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MemoryPressure {
    /// Room to spare (or not reported).
    #[default]
    Normal,
    /// Little room left; loading another model may not fit.
    Elevated,
    /// Out of memory or about to be: the node takes no new requests.
    Critical,
}

impl MemoryPressure {
    /// The class of a memory with `free_mb` of `total_mb` free: `Critical` below 1 % free and
    /// under 512 MiB (engines that reserve their memory up front, such as vLLM at its default
    /// `--gpu-memory-utilization 0.9`, stay out of it), `Elevated` below 10 % free, else
    /// `Normal` (also when `total_mb` is 0, i.e. unknown).
    pub fn classify(total_mb: u64, free_mb: u64) -> Self {
        if total_mb == 0 {
            return Self::Normal;
        }
        let free = free_mb.min(total_mb);
        if free * 100 < total_mb && free < 512 {
            Self::Critical
        } else if free * 10 < total_mb {
            Self::Elevated
        } else {
            Self::Normal
        }
    }

    /// The lower-case name (`normal`, `elevated`, `critical`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Elevated => "elevated",
            Self::Critical => "critical",
        }
    }
}

/// One signal's contribution to a node's score (see [`Scheduler::explain`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SignalScore {
    /// Signal name, e.g. `"thermal"` or `"queue_depth"`.
    pub signal: &'static str,
    /// Its signed contribution to the total.
    pub value: f32,
}

/// Why a scoring policy ranks a node where it does: its total score and each signal's part.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ScoreBreakdown {
    /// The score the policy ranks by (higher is better).
    pub total: f32,
    /// Each signal's contribution; they add up to `total`.
    pub signals: Vec<SignalScore>,
}

impl NodeView {
    /// Whether the node serves `model`.
    pub fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|m| &**m == model)
    }

    /// Whether the node has a free slot (`in_flight < max_concurrent`).
    pub fn has_capacity(&self) -> bool {
        self.in_flight < self.max_concurrent
    }

    /// Load as a fraction of capacity: `in_flight / max_concurrent` (1.0 when capacity is 0).
    pub fn load(&self) -> f64 {
        if self.max_concurrent == 0 {
            1.0
        } else {
            f64::from(self.in_flight) / f64::from(self.max_concurrent)
        }
    }
}

/// Picks the node for a request. Implementations are the routing policies (least-busy,
/// round-robin, power-of-two, scored, model-aware).
///
/// Contract: `pick` is synchronous, does no I/O, and returns the index of a node in `nodes` for
/// which [`NodeView::eligible`] holds (the one eligibility rule, exclusions in
/// [`RequestInfo::exclude`] included), or `None` when there is none. It must never return an
/// ineligible node. It is called concurrently from many tasks. `gonka_core::testing` (feature
/// `testing`) has the conformance suite every implementation runs.
pub trait Scheduler: Send + Sync + std::fmt::Debug {
    /// Short policy name as used in `--policy` (e.g. `least-busy`).
    fn name(&self) -> &'static str;

    /// Index of the chosen node in `nodes`, or `None` when no node is eligible.
    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize>;

    /// A fresh incremental index that answers [`Scheduler::pick`] for a node table without
    /// scanning it (see [`crate::SchedulerIndex`]), or `None` when the policy has none (the default;
    /// the table's owner then calls `pick`). Each call returns a new, empty index that the
    /// caller fills with `update` for every node.
    fn index(&self) -> Option<Box<dyn crate::SchedulerIndex>> {
        None
    }

    /// The score breakdown of `node` for `request` under this policy, for request traces; `None`
    /// (the default) for policies that do not score. Pure and cheap enough to call once per
    /// routed request for the chosen node.
    fn explain(&self, request: &RequestInfo, node: &NodeView) -> Option<ScoreBreakdown> {
        let _ = (request, node);
        None
    }
}
