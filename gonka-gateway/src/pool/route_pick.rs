//! A model route's own load-balancing algorithm (`round_robin`, `random`, `least_connections`):
//! how a request routed by a model route chooses among the nodes of the route's task group,
//! instead of the gateway's scheduler (`--policy`), which keeps choosing for every other request.

use std::sync::Arc;

use gonka_core::RequestInfo;

use super::Table;

/// A model route's load-balancing algorithm (`ModelRoute.spec.algorithm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RouteAlgorithm {
    /// The group's eligible nodes in turn (the route's default).
    #[default]
    RoundRobin,
    /// A uniformly drawn eligible node.
    Random,
    /// The eligible node with the fewest requests in flight from this gateway; ties in turn.
    LeastConnections,
}

impl RouteAlgorithm {
    /// The algorithm named `name` on the wire (`round_robin`, `random`, `least_connections`);
    /// any other name (validation refuses them) is round robin.
    pub fn from_name(name: &str) -> Self {
        match name {
            "random" => Self::Random,
            "least_connections" => Self::LeastConnections,
            _ => Self::RoundRobin,
        }
    }
}

/// How a request routed by a model route picks its node: among `nodes` (the route's group, in a
/// stable order) by `algorithm`, for the requests of a chain whose model is `model`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoutePick {
    /// The model the route serves (the chain's other models use the scheduler).
    pub model: String,
    /// The nodes of the route's group the request may go to.
    pub nodes: Vec<Arc<str>>,
    /// The route's algorithm.
    pub algorithm: RouteAlgorithm,
    /// The request's turn: the route's request count for round robin (and least connections'
    /// ties), a uniform draw for random.
    pub turn: u64,
}

impl RoutePick {
    /// Whether this pick applies to `request`.
    pub(super) fn applies(&self, request: &RequestInfo) -> bool {
        self.model == request.model
    }

    /// The node (pool position) for `request` among `nodes` that are eligible now
    /// ([`gonka_core::NodeView::eligible`]: routable, serving the model, a free slot, not
    /// excluded), by the algorithm; `None` when none is. O(nodes of the route).
    pub(super) fn pick(&self, t: &Table, request: &RequestInfo) -> Option<usize> {
        let eligible: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|id| t.index.get(&**id).copied())
            .filter(|&i| t.views[i].eligible(request))
            .collect();
        if eligible.is_empty() {
            return None;
        }
        let len = eligible.len() as u64;
        // `turn % len` < len, which came from a usize.
        let start = usize::try_from(self.turn % len).unwrap_or(0);
        match self.algorithm {
            RouteAlgorithm::RoundRobin | RouteAlgorithm::Random => Some(eligible[start]),
            RouteAlgorithm::LeastConnections => {
                let rotated = eligible[start..].iter().chain(&eligible[..start]);
                rotated.min_by_key(|&&i| t.views[i].in_flight).copied()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use gonka_core::{ManualEpoch, NodeConfig, NodeRecord, NodeState, NodeStatus};

    use super::*;
    use crate::pool::{NodePool, Observation};
    use crate::schedule::LeastBusy;

    fn pool(nodes: &[&str]) -> Arc<NodePool> {
        let pool = Arc::new(NodePool::new(
            Arc::new(LeastBusy),
            Arc::new(ManualEpoch::new(0)),
            8,
            3,
        ));
        for id in nodes {
            let g = pool
                .apply(NodeRecord {
                    node: NodeConfig::new(*id, "svc").max_concurrent(4),
                    state: NodeState::new_registered(0),
                })
                .generation;
            pool.observe(
                id,
                g,
                Observation {
                    passed: true,
                    status: NodeStatus::Inference,
                    loaded_model: Some("svc".into()),
                    ..Observation::default()
                },
            );
        }
        pool
    }

    fn pick(algorithm: RouteAlgorithm, turn: u64) -> RoutePick {
        RoutePick {
            model: "svc".into(),
            nodes: vec![Arc::from("a"), Arc::from("b"), Arc::from("c")],
            algorithm,
            turn,
        }
    }

    #[test]
    fn names_map_to_algorithms_with_round_robin_by_default() {
        assert_eq!(RouteAlgorithm::from_name("random"), RouteAlgorithm::Random);
        assert_eq!(
            RouteAlgorithm::from_name("least_connections"),
            RouteAlgorithm::LeastConnections
        );
        assert_eq!(
            RouteAlgorithm::from_name("round_robin"),
            RouteAlgorithm::RoundRobin
        );
        assert_eq!(RouteAlgorithm::from_name("?"), RouteAlgorithm::RoundRobin);
    }

    #[test]
    fn round_robin_takes_the_route_nodes_in_turn_and_only_them() {
        let p = pool(&["outside", "a", "b", "c"]);
        let request = RequestInfo::for_model("svc");
        let t = p.lock();
        let names: Vec<String> = (0..6)
            .map(|turn| {
                let i = pick(RouteAlgorithm::RoundRobin, turn)
                    .pick(&t, &request)
                    .unwrap();
                t.views[i].id.to_string()
            })
            .collect();
        assert_eq!(names, ["a", "b", "c", "a", "b", "c"]);
        // Excluded nodes are skipped, the turn goes on among the others.
        let request = RequestInfo {
            exclude: vec![Arc::from("b")],
            ..RequestInfo::for_model("svc")
        };
        let i = pick(RouteAlgorithm::RoundRobin, 1)
            .pick(&t, &request)
            .unwrap();
        assert_eq!(&*t.views[i].id, "c");
        // Another model is none of the route's business.
        assert!(!pick(RouteAlgorithm::RoundRobin, 0).applies(&RequestInfo::for_model("x")));
    }

    #[test]
    fn least_connections_takes_the_node_with_fewest_in_flight() {
        let p = pool(&["a", "b", "c"]);
        let request = RequestInfo::for_model("svc");
        let only = |id: &str| RequestInfo {
            exclude: ["a", "b", "c"]
                .iter()
                .filter(|n| **n != id)
                .map(|n| Arc::from(*n))
                .collect(),
            ..RequestInfo::for_model("svc")
        };
        let _a1 = p.try_acquire(&[only("a")], &[]).unwrap();
        let _a2 = p.try_acquire(&[only("a")], &[]).unwrap();
        let _c1 = p.try_acquire(&[only("c")], &[]).unwrap();
        let t = p.lock();
        for turn in 0..3 {
            let i = pick(RouteAlgorithm::LeastConnections, turn)
                .pick(&t, &request)
                .unwrap();
            assert_eq!(&*t.views[i].id, "b", "turn {turn}");
        }
    }
}
