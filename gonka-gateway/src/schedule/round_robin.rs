//! `round-robin`: eligible nodes in turn.

use std::sync::atomic::{AtomicUsize, Ordering};

use gonka_core::{NodeView, RequestInfo, Scheduler};

/// Starts each pick one position after the previous start and takes the first eligible node from
/// there, wrapping around.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let len = nodes.len();
        if len == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % len;
        (0..len)
            .map(|k| (start + k) % len)
            .find(|&i| nodes[i].eligible(request))
    }
}
