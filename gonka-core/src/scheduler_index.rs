//! [`SchedulerIndex`]: an incremental ordering of the node table that lets a policy pick without
//! scanning every node, and [`OrderedIndex`], the per-model ordered-set implementation that the
//! least-busy and scored policies use.
//!
//! The owner of the node table (the gateway's pool) keeps the index in step with its views: it
//! calls [`SchedulerIndex::update`] after every change of a view (insert included) and
//! [`SchedulerIndex::swap_remove`] when it removes a node with `Vec::swap_remove`. A pick then
//! costs O(log n) per model instead of O(n).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::{is_candidate, NodeView, RequestInfo};

/// An index over a node table, kept in step by the table's owner, that answers
/// [`Scheduler::pick`](crate::Scheduler::pick) without scanning every node.
///
/// Contract: after `update` was called for every position whose view changed (and
/// `swap_remove` for every removal), `pick(request, nodes)` returns exactly what the scheduler's
/// `pick(request, nodes)` returns for the same table, or `None` when no node is eligible. It never
/// returns an ineligible node: candidates are checked with [`NodeView::eligible`] against `nodes`
/// (so exclusions in [`RequestInfo::exclude`] are honoured, and a view changed without an
/// `update` is skipped, never returned).
pub trait SchedulerIndex: Send + fmt::Debug {
    /// The view at `position` was inserted or changed (`position` may equal the table length
    /// before the call, for a push).
    fn update(&mut self, position: usize, view: &NodeView);

    /// The node at `position` was removed with `Vec::swap_remove` from a table that had `len`
    /// nodes: the node that was last (at `len - 1`) now sits at `position`.
    fn swap_remove(&mut self, position: usize, len: usize);

    /// The scheduler's choice for `request` over `nodes` (the table this index follows).
    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize>;
}

/// What [`OrderedIndex`] remembers of one position: its key and the models it is filed under.
struct Filed<K> {
    key: K,
    models: Arc<[Arc<str>]>,
}

/// A [`SchedulerIndex`] that files every candidate node ([`is_candidate`](crate::is_candidate)) under each model it
/// serves, in a set ordered by `(key(view), position)`: a pick walks the set of the requested
/// model from its smallest key and returns the first node that is eligible for the request (the
/// first one, unless the request sets hardware filters). Ties go to the lower position, i.e. the
/// node listed first, as the slice-scanning policies do.
///
/// `key` must be a pure function of the view and must order nodes exactly as the policy prefers
/// them (smaller is better).
pub struct OrderedIndex<K, F> {
    key: F,
    by_model: HashMap<Arc<str>, BTreeSet<(K, usize)>>,
    filed: Vec<Option<Filed<K>>>,
}

impl<K, F> fmt::Debug for OrderedIndex<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedIndex")
            .field("models", &self.by_model.len())
            .field("positions", &self.filed.len())
            .finish()
    }
}

impl<K, F> OrderedIndex<K, F>
where
    K: Ord + Clone + Send,
    F: Fn(&NodeView) -> K + Send,
{
    /// An empty index ordering nodes by `key` (smaller is preferred).
    pub fn new(key: F) -> Self {
        Self {
            key,
            by_model: HashMap::new(),
            filed: Vec::new(),
        }
    }

    fn unfile(&mut self, position: usize) {
        let Some(Some(filed)) = self.filed.get_mut(position).map(Option::take) else {
            return;
        };
        let entry = (filed.key, position);
        for model in filed.models.iter() {
            if let Some(set) = self.by_model.get_mut(model) {
                set.remove(&entry);
                if set.is_empty() {
                    self.by_model.remove(model);
                }
            }
        }
    }

    fn file(&mut self, position: usize, view: &NodeView) {
        if self.filed.len() <= position {
            self.filed.resize_with(position + 1, || None);
        }
        if !is_candidate(view) {
            return;
        }
        let key = (self.key)(view);
        for model in view.models.iter() {
            self.by_model
                .entry(Arc::clone(model))
                .or_default()
                .insert((key.clone(), position));
        }
        self.filed[position] = Some(Filed {
            key,
            models: Arc::clone(&view.models),
        });
    }
}

impl<K, F> SchedulerIndex for OrderedIndex<K, F>
where
    K: Ord + Clone + Send,
    F: Fn(&NodeView) -> K + Send,
{
    fn update(&mut self, position: usize, view: &NodeView) {
        self.unfile(position);
        self.file(position, view);
    }

    fn swap_remove(&mut self, position: usize, len: usize) {
        self.unfile(position);
        let last = len.saturating_sub(1);
        if position < last {
            // Re-file the moved node under its new position.
            if let Some(Some(moved)) = self.filed.get_mut(last).map(Option::take) {
                let old = (moved.key, last);
                for model in moved.models.iter() {
                    if let Some(set) = self.by_model.get_mut(model) {
                        set.remove(&old);
                        set.insert((old.0.clone(), position));
                    }
                }
                self.filed[position] = Some(Filed {
                    key: old.0,
                    models: moved.models,
                });
            }
        }
        self.filed.truncate(last);
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let set = self.by_model.get(request.model.as_str())?;
        set.iter()
            .map(|&(_, position)| position)
            .find(|&position| nodes.get(position).is_some_and(|v| v.eligible(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeStatus;

    fn view(id: &str, models: &[&str], in_flight: u32) -> NodeView {
        NodeView {
            id: id.into(),
            models: models.iter().map(|m| Arc::<str>::from(*m)).collect(),
            in_flight,
            max_concurrent: 4,
            status: NodeStatus::Inference,
            healthy: true,
            admitted: true,
            ..NodeView::default()
        }
    }

    fn by_in_flight() -> OrderedIndex<u32, impl Fn(&NodeView) -> u32 + Send> {
        OrderedIndex::new(|v: &NodeView| v.in_flight)
    }

    #[test]
    fn picks_the_smallest_key_and_breaks_ties_by_position() {
        let mut nodes = vec![
            view("a", &["m"], 2),
            view("b", &["m"], 1),
            view("c", &["m"], 1),
        ];
        let mut index = by_in_flight();
        for (i, v) in nodes.iter().enumerate() {
            index.update(i, v);
        }
        let req = RequestInfo::for_model("m");
        assert_eq!(index.pick(&req, &nodes), Some(1));
        nodes[1].in_flight = 3;
        index.update(1, &nodes[1]);
        assert_eq!(index.pick(&req, &nodes), Some(2));
        assert_eq!(index.pick(&RequestInfo::for_model("other"), &nodes), None);
    }

    #[test]
    fn full_and_unhealthy_nodes_are_not_filed() {
        let mut nodes = vec![view("a", &["m"], 4), view("b", &["m"], 0)];
        nodes[1].healthy = false;
        let mut index = by_in_flight();
        for (i, v) in nodes.iter().enumerate() {
            index.update(i, v);
        }
        assert_eq!(index.pick(&RequestInfo::for_model("m"), &nodes), None);
        nodes[0].in_flight = 3;
        index.update(0, &nodes[0]);
        assert_eq!(index.pick(&RequestInfo::for_model("m"), &nodes), Some(0));
    }

    #[test]
    fn swap_remove_refiles_the_moved_node() {
        let mut nodes = vec![
            view("a", &["m"], 0),
            view("b", &["m", "n"], 1),
            view("c", &["n"], 0),
        ];
        let mut index = by_in_flight();
        for (i, v) in nodes.iter().enumerate() {
            index.update(i, v);
        }
        nodes.swap_remove(0);
        index.swap_remove(0, 3);
        // "c" moved from 2 to 0.
        assert_eq!(index.pick(&RequestInfo::for_model("n"), &nodes), Some(0));
        assert_eq!(index.pick(&RequestInfo::for_model("m"), &nodes), Some(1));
        nodes.swap_remove(1);
        index.swap_remove(1, 2);
        assert_eq!(index.pick(&RequestInfo::for_model("m"), &nodes), None);
        assert_eq!(index.pick(&RequestInfo::for_model("n"), &nodes), Some(0));
    }

    #[test]
    fn a_view_changed_without_update_is_never_returned() {
        let mut nodes = vec![view("a", &["m"], 0), view("b", &["m"], 1)];
        let mut index = by_in_flight();
        for (i, v) in nodes.iter().enumerate() {
            index.update(i, v);
        }
        nodes[0].admitted = false; // excluded for one pick, index not told
        assert_eq!(index.pick(&RequestInfo::for_model("m"), &nodes), Some(1));
    }
}
