//! An integrator's own routing policy for an embedded gonka gateway.
//!
//! [`LastById`] picks, among the nodes that can take the request, the one whose id sorts last:
//! a policy none of the built-in ones follows, so a test can tell its picks apart.

use gonka_core::{NodeView, RequestInfo, Scheduler};

/// Picks the eligible node ([`NodeView::eligible`]) whose id sorts last.
#[derive(Debug, Default, Clone, Copy)]
pub struct LastById;

impl Scheduler for LastById {
    fn name(&self) -> &'static str {
        "last-by-id"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.eligible(request))
            .max_by(|(_, a), (_, b)| a.id.cmp(&b.id))
            .map(|(i, _)| i)
    }
}
