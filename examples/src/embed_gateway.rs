//! The gateway inside your own service, routing with your own [`Scheduler`].
//!
//! [`PreferPrefix`] is an ordinary `Scheduler`: it prefers nodes whose id starts with a label
//! (a naming convention such as `fast-…` for a pool of faster GPUs) and, among the preferred
//! nodes or when none is eligible, takes the least loaded. [`start`] builds a gateway from an
//! in-memory registry and that scheduler with [`Gateway::builder`].
//!
//! Contract of every scheduler: pick only nodes for which [`NodeView::eligible`] holds (the one
//! eligibility rule: admission, health, status, free slot, model, hints, exclusions), and `None`
//! only when there is none. `gonka_core::testing::scheduler_suite` checks it.

use std::sync::Arc;

use gonka_core::{MemoryRegistry, NodeView, RequestInfo, Scheduler};
use gonka_gateway::{Gateway, GatewayConfig, Listeners, RunningGateway, StartupError};

/// Prefers eligible nodes whose id starts with `prefix`; the least loaded wins among them, and
/// among all eligible nodes when no preferred one is. Ties go to the node listed first.
#[derive(Debug, Clone)]
pub struct PreferPrefix {
    prefix: String,
}

impl PreferPrefix {
    /// A scheduler preferring nodes whose id starts with `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }
}

impl Scheduler for PreferPrefix {
    fn name(&self) -> &'static str {
        "prefer-prefix"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        // Preferred nodes first, then the lower load; strict comparison keeps the first on ties.
        let better = |a: &NodeView, b: &NodeView| {
            let preferred = |v: &NodeView| v.id.starts_with(&self.prefix);
            preferred(b)
                .cmp(&preferred(a))
                .then(a.load().total_cmp(&b.load()))
                .is_lt()
        };
        let mut best: Option<usize> = None;
        for (i, node) in nodes.iter().enumerate() {
            if node.eligible(request) && best.is_none_or(|b| better(node, &nodes[b])) {
                best = Some(i);
            }
        }
        best
    }
}

/// Starts a gateway over `registry` on `listeners`, routing with [`PreferPrefix`] for
/// `prefix`. Register nodes in `registry` (its change feed reaches the gateway at once) and
/// send OpenAI requests to `listeners.public`.
///
/// # Errors
/// As [`gonka_gateway::start`].
pub fn start(
    registry: Arc<MemoryRegistry>,
    prefix: &str,
    listeners: Listeners,
) -> Result<RunningGateway, StartupError> {
    let mut config = GatewayConfig::new(registry.clone());
    config.health_interval = std::time::Duration::from_millis(100);
    Gateway::builder(config)
        .registry(registry)
        .scheduler(Arc::new(PreferPrefix::new(prefix)))
        .start(listeners)
}
