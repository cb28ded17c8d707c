//! `least-busy`: the eligible node with the lowest `in_flight / max_concurrent`.

use gonka_core::{NodeView, RequestInfo, Scheduler};

use super::cmp_load;

/// Picks the eligible node with the lowest load (`in_flight / max_concurrent`); ties go to the
/// node listed first (registration order). Gonka's default policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastBusy;

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
}
