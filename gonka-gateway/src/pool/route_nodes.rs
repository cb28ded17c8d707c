//! What routing by model route asks the pool: whether a set of nodes (a task group's) has one
//! that could take a request for a model, and which other nodes declare that model (they are
//! excluded, so the scheduler chooses among the group's nodes only).

use std::sync::Arc;

use gonka_core::RequestInfo;

use super::NodePool;

impl NodePool {
    /// For each list of node ids in `sets`, whether one of its nodes, not in `excluded`, could
    /// take a request for `model` now, a free slot aside ([`gonka_core::NodeView::could_take`]:
    /// routable and serving `model`). One lock for all the lists; O(total ids).
    pub fn could_take_any(
        &self,
        model: &str,
        sets: &[&[Arc<str>]],
        excluded: &[Arc<str>],
    ) -> Vec<bool> {
        let request = RequestInfo::for_model(model);
        let t = self.lock();
        sets.iter()
            .map(|ids| {
                ids.iter().any(|id| {
                    !excluded.contains(id)
                        && t.index
                            .get(&**id)
                            .is_some_and(|&i| t.views[i].could_take(&request))
                })
            })
            .collect()
    }

    /// Ids of the nodes that declare `model` and are not in `keep`: the nodes to exclude so that
    /// a request for `model` goes to a node of `keep` only. O(nodes).
    pub fn others_serving(&self, model: &str, keep: &[Arc<str>]) -> Vec<Arc<str>> {
        let t = self.lock();
        t.views
            .iter()
            .filter(|v| v.serves(model) && !keep.contains(&v.id))
            .map(|v| v.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use gonka_core::{ManualEpoch, NodeConfig, NodeRecord, NodeState, NodeStatus};

    use super::*;
    use crate::pool::Observation;
    use crate::schedule::LeastBusy;

    fn pool() -> Arc<NodePool> {
        Arc::new(NodePool::new(
            Arc::new(LeastBusy),
            Arc::new(ManualEpoch::new(0)),
            8,
            3,
        ))
    }

    fn add(pool: &Arc<NodePool>, id: &str, model: &str, healthy: bool) {
        let g = pool
            .apply(NodeRecord {
                node: NodeConfig::new(id, model).max_concurrent(1),
                state: NodeState::new_registered(0),
            })
            .generation;
        pool.observe(
            id,
            g,
            Observation {
                passed: healthy,
                status: NodeStatus::Inference,
                loaded_model: Some(model.into()),
                ..Observation::default()
            },
        );
    }

    fn ids(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn a_set_is_usable_when_one_of_its_nodes_could_take_the_model() {
        let p = pool();
        add(&p, "a", "svc", true);
        add(&p, "b", "svc", false);
        add(&p, "c", "other", true);
        let (a, b, c, none) = (ids(&["a"]), ids(&["b"]), ids(&["c"]), ids(&["zz"]));
        assert_eq!(
            p.could_take_any("svc", &[&a, &b, &c, &none], &[]),
            vec![true, false, false, false]
        );
        // A full node could still take the request once its slot frees.
        let held = p
            .try_acquire(&[RequestInfo::for_model("svc")], &[])
            .unwrap();
        assert_eq!(p.could_take_any("svc", &[&a], &[]), vec![true]);
        drop(held);
        assert_eq!(p.could_take_any("svc", &[&a], &a), vec![false]);
    }

    #[test]
    fn the_others_serving_a_model_are_every_declaring_node_outside_the_set() {
        let p = pool();
        add(&p, "a", "svc", true);
        add(&p, "b", "svc", false);
        add(&p, "c", "other", true);
        let mut others = p.others_serving("svc", &ids(&["a"]));
        others.sort();
        assert_eq!(others, ids(&["b"]));
        assert!(p.others_serving("svc", &ids(&["a", "b"])).is_empty());
    }
}
