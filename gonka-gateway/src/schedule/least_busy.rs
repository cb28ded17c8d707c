//! `least-busy`: the eligible node with the lowest `in_flight / max_concurrent`.

use std::cmp::Ordering;

use gonka_core::{NodeView, OrderedIndex, RequestInfo, Scheduler, SchedulerIndex};

use super::cmp_load;

/// Picks the eligible node with the lowest load (`in_flight / max_concurrent`); ties go to the
/// node listed first (registration order). Gonka's default policy.
///
/// `pick` scans the slice (O(n)); [`Scheduler::index`] gives an [`OrderedIndex`] keyed by load
/// that answers the same pick in O(log n), which the gateway's pool uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastBusy;

/// A node's load `in_flight / max_concurrent` as an exact rational, ordered without floats.
#[derive(Debug, Clone, Copy)]
pub struct LoadKey {
    in_flight: u32,
    max_concurrent: u32,
}

impl LoadKey {
    /// The load key of a view.
    pub fn of(view: &NodeView) -> Self {
        Self {
            in_flight: view.in_flight,
            max_concurrent: view.max_concurrent,
        }
    }

    fn cross(self, other: Self) -> (u64, u64) {
        (
            u64::from(self.in_flight) * u64::from(other.max_concurrent.max(1)),
            u64::from(other.in_flight) * u64::from(self.max_concurrent.max(1)),
        )
    }
}

impl PartialEq for LoadKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for LoadKey {}

impl PartialOrd for LoadKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LoadKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (lhs, rhs) = self.cross(*other);
        lhs.cmp(&rhs)
    }
}

impl Scheduler for LeastBusy {
    fn name(&self) -> &'static str {
        "least-busy"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, node) in nodes.iter().enumerate() {
            if !node.eligible(request) {
                continue;
            }
            match best {
                Some(b) if cmp_load(node, &nodes[b]).is_ge() => {}
                _ => {
                    if node.in_flight == 0 {
                        return Some(i);
                    }
                    best = Some(i);
                }
            }
        }
        best
    }

    fn index(&self) -> Option<Box<dyn SchedulerIndex>> {
        Some(Box::new(OrderedIndex::new(LoadKey::of)))
    }
}
