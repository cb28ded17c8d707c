//! The [`Scheduler`] trait: the synchronous hot path that picks a node for a request.

use std::sync::Arc;

use crate::NodeStatus;

/// What the scheduler knows about a request.
#[derive(Debug, Clone, Default, PartialEq)]
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

    /// The eligibility rule of DESIGN.md: admitted, healthy, in INFERENCE, serving the model,
    /// with a free slot, and passing the hardware filters the request sets (a filter on a
    /// property the node does not report excludes the node).
    pub fn eligible(&self, req: &RequestInfo) -> bool {
        self.admitted
            && self.healthy
            && self.status == NodeStatus::Inference
            && self.has_capacity()
            && self.serves(&req.model)
            && req.gpu_type.as_deref().is_none_or(|want| {
                self.gpu_type
                    .as_deref()
                    .is_some_and(|g| contains_ci(g, want))
            })
            && req
                .min_vram_mb
                .is_none_or(|want| self.vram_mb.is_some_and(|v| v >= want))
            && req.engine.as_deref().is_none_or(|want| {
                self.engine
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(want))
            })
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

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// Picks the node for a request. Implementations are the routing policies (least-busy,
/// round-robin, power-of-two, scored).
///
/// Contract: `pick` is synchronous, does no I/O, and returns the index of a node in `nodes` for
/// which [`NodeView::eligible`] holds, or `None` when there is none. It must never return an
/// ineligible node. It is called concurrently from many tasks.
pub trait Scheduler: Send + Sync + std::fmt::Debug {
    /// Short policy name as used in `--policy` (e.g. `least-busy`).
    fn name(&self) -> &'static str;

    /// Index of the chosen node in `nodes`, or `None` when no node is eligible.
    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize>;

    /// A fresh incremental index that answers [`Scheduler::pick`] for a node table without
    /// scanning it (see [`SchedulerIndex`]), or `None` when the policy has none (the default;
    /// the table's owner then calls `pick`). Each call returns a new, empty index that the
    /// caller fills with `update` for every node.
    fn index(&self) -> Option<Box<dyn crate::SchedulerIndex>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> NodeView {
        NodeView {
            id: "a".into(),
            models: vec![Arc::<str>::from("m")].into(),
            max_concurrent: 2,
            status: NodeStatus::Inference,
            healthy: true,
            admitted: true,
            ..NodeView::default()
        }
    }

    #[test]
    fn eligible_needs_every_condition() {
        let req = RequestInfo::for_model("m");
        assert!(view().eligible(&req));
        assert!(!view().eligible(&RequestInfo::for_model("other")));
        assert!(!NodeView {
            healthy: false,
            ..view()
        }
        .eligible(&req));
        assert!(!NodeView {
            admitted: false,
            ..view()
        }
        .eligible(&req));
        assert!(!NodeView {
            in_flight: 2,
            ..view()
        }
        .eligible(&req));
        assert!(!NodeView {
            status: NodeStatus::Poc,
            ..view()
        }
        .eligible(&req));
    }

    #[test]
    fn hardware_filters_exclude_unknown_hardware() {
        let req = RequestInfo {
            gpu_type: Some("h100".into()),
            ..RequestInfo::for_model("m")
        };
        assert!(!view().eligible(&req));
        let v = NodeView {
            gpu_type: Some("NVIDIA H100 80GB".into()),
            ..view()
        };
        assert!(v.eligible(&req));
        let req = RequestInfo {
            min_vram_mb: Some(80_000),
            ..RequestInfo::for_model("m")
        };
        assert!(!NodeView {
            vram_mb: Some(40_000),
            ..view()
        }
        .eligible(&req));
    }
}
