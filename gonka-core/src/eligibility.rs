//! The one eligibility rule: whether a node can take a request now.
//!
//! Every place that decides "can this node take this request" asks this module: the policies'
//! slice scans ([`NodeView::eligible`]), the incremental indexes ([`is_candidate`]), the gateway's
//! node pool (admission for the epoch through [`AdminState::admits`]) and its retry path
//! ([`NodeView::could_take`]). The rule, in the order it is checked ([`NodeView::check`]):
//!
//! 1. admitted for the current epoch (enabled, or disabled in an epoch that is not over yet);
//! 2. healthy (health checks pass and the circuit breaker is closed);
//! 3. in `INFERENCE`;
//! 4. not out of memory: its memory pressure is not [`MemoryPressure::Critical`] and it does
//!    not report 0 MiB of engine memory free (nodes that report no memory pass);
//! 5. not explicitly excluded by the request (a node already tried for it);
//! 6. serving the requested model;
//! 7. passing the hardware hints the request sets: GPU type (case-insensitive substring), minimum
//!    VRAM, engine (case-insensitive); a hint on a property the node does not report excludes it;
//! 8. with a free slot (`in_flight < max_concurrent`).

use crate::{AdminState, MemoryPressure, NodeStatus, NodeView, RequestInfo};

/// Why a node cannot take a request: the first rule of the module docs that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ineligible {
    /// Disabled by the operator and its epoch is over.
    NotAdmitted,
    /// Health checks fail or the circuit breaker is open.
    Unhealthy,
    /// Not in `INFERENCE` (PoC, stopped, unknown).
    NotInference,
    /// Out of memory: critical memory pressure, or no engine memory free.
    OutOfMemory,
    /// The request excludes this node (already tried).
    Excluded,
    /// The node does not serve the requested model.
    Model,
    /// The request's GPU type hint does not match (or the node reports no GPU type).
    GpuType,
    /// The node has less VRAM than the request's hint (or reports none).
    Vram,
    /// The request's engine hint does not match (or the node reports no engine).
    Engine,
    /// Every slot is taken (`in_flight >= max_concurrent`). The only reason that can go away
    /// without a change of the node's state, configuration or health.
    Full,
}

impl AdminState {
    /// Whether the operator's admin state lets the node serve in `epoch`: enabled, or disabled
    /// in an epoch that is not over yet (a node disabled in epoch E keeps serving until E ends).
    pub fn admits(&self, epoch: u64) -> bool {
        self.enabled || epoch <= self.epoch
    }
}

impl RequestInfo {
    /// Whether the request excludes the node `id` (see [`RequestInfo::exclude`]).
    pub fn excludes(&self, id: &str) -> bool {
        self.exclude.iter().any(|x| &**x == id)
    }
}

impl NodeView {
    /// Whether the node takes requests at all, request and capacity aside: admitted, healthy, in
    /// `INFERENCE` and not out of memory (rules 1–4).
    pub fn routable(&self) -> bool {
        self.admitted
            && self.healthy
            && self.status == NodeStatus::Inference
            && !self.out_of_memory()
    }

    /// Whether the node is out of memory (rule 4): its pressure is
    /// [`MemoryPressure::Critical`], or it reports 0 MiB of engine memory free.
    pub fn out_of_memory(&self) -> bool {
        self.memory_pressure == MemoryPressure::Critical || self.memory_free_mb == Some(0)
    }

    /// The whole rule (see the module docs): `Ok` when the node can take `request` now, else the
    /// first reason it cannot.
    ///
    /// # Errors
    /// The first failing rule, as an [`Ineligible`].
    pub fn check(&self, request: &RequestInfo) -> Result<(), Ineligible> {
        if !self.admitted {
            return Err(Ineligible::NotAdmitted);
        }
        if !self.healthy {
            return Err(Ineligible::Unhealthy);
        }
        if self.status != NodeStatus::Inference {
            return Err(Ineligible::NotInference);
        }
        if self.out_of_memory() {
            return Err(Ineligible::OutOfMemory);
        }
        if request.excludes(&self.id) {
            return Err(Ineligible::Excluded);
        }
        if !self.serves(&request.model) {
            return Err(Ineligible::Model);
        }
        if let Some(want) = request.gpu_type.as_deref() {
            if !self
                .gpu_type
                .as_deref()
                .is_some_and(|g| contains_ci(g, want))
            {
                return Err(Ineligible::GpuType);
            }
        }
        if let Some(want) = request.min_vram_mb {
            if self.vram_mb.is_none_or(|v| v < want) {
                return Err(Ineligible::Vram);
            }
        }
        if let Some(want) = request.engine.as_deref() {
            if !self
                .engine
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(want))
            {
                return Err(Ineligible::Engine);
            }
        }
        if !self.has_capacity() {
            return Err(Ineligible::Full);
        }
        Ok(())
    }

    /// Whether the node can take `request` now: [`check`](Self::check) passes. The contract of
    /// every [`Scheduler`](crate::Scheduler): it only ever picks such a node.
    pub fn eligible(&self, request: &RequestInfo) -> bool {
        self.check(request).is_ok()
    }

    /// Whether the node could take `request` once a slot frees: every rule but the free slot
    /// holds. A request that no node could take must not wait in a holding queue.
    pub fn could_take(&self, request: &RequestInfo) -> bool {
        matches!(self.check(request), Ok(()) | Err(Ineligible::Full))
    }
}

/// Whether a view can take a request of some model it serves, request-specific rules (model,
/// hints, exclusions) aside: [`NodeView::routable`] with a free slot. For every request,
/// `view.eligible(request)` implies `is_candidate(view)`; indexes file only such nodes.
pub fn is_candidate(view: &NodeView) -> bool {
    view.routable() && view.has_capacity()
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
