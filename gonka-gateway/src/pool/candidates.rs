//! [`RoutableCounts`]: per model, how many routable nodes declare it, kept in step with every
//! view change so a request trace's candidate count costs a map lookup instead of a scan.

use std::collections::HashMap;
use std::sync::Arc;

use gonka_core::NodeView;

/// Per model, the routable nodes ([`NodeView::routable`]) that serve it. Updated with every
/// view change (`update`) and removal (`swap_remove`), in step with the table's positions.
#[derive(Debug, Default)]
pub(super) struct RoutableCounts {
    /// Per position, the models counted for that node (`None`: not routable, nothing counted).
    counted: Vec<Option<Arc<[Arc<str>]>>>,
    by_model: HashMap<Arc<str>, u32>,
}

impl RoutableCounts {
    /// The view at `i` changed (or was pushed). O(1) when neither its routability nor its model
    /// list changed (every slot taken or released), else O(models).
    pub fn update(&mut self, i: usize, view: &NodeView) {
        if i >= self.counted.len() {
            self.counted.resize(i + 1, None);
        }
        let now = view.routable().then(|| view.models.clone());
        match (&self.counted[i], &now) {
            (None, None) => return,
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => return,
            _ => {}
        }
        self.uncount(i);
        if let Some(models) = &now {
            for m in models.iter() {
                *self.by_model.entry(m.clone()).or_default() += 1;
            }
        }
        self.counted[i] = now;
    }

    /// The node at `i` left; the last position moves to `i` (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, i: usize) {
        if i < self.counted.len() {
            self.uncount(i);
            self.counted.swap_remove(i);
        }
    }

    /// Routable nodes serving `model`.
    pub fn get(&self, model: &str) -> u32 {
        self.by_model.get(model).copied().unwrap_or(0)
    }

    fn uncount(&mut self, i: usize) {
        let Some(models) = self.counted[i].take() else {
            return;
        };
        for m in models.iter() {
            if let Some(n) = self.by_model.get_mut(m) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.by_model.remove(m);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gonka_core::NodeStatus;

    use super::*;

    fn view(models: &[&str], routable: bool) -> NodeView {
        NodeView {
            models: models.iter().map(|m| Arc::<str>::from(*m)).collect(),
            status: NodeStatus::Inference,
            healthy: routable,
            admitted: true,
            ..NodeView::default()
        }
    }

    #[test]
    fn counts_follow_routability_models_and_removals() {
        let mut c = RoutableCounts::default();
        c.update(0, &view(&["a", "b"], true));
        c.update(1, &view(&["a"], true));
        c.update(2, &view(&["a"], false));
        assert_eq!((c.get("a"), c.get("b"), c.get("z")), (2, 1, 0));
        c.update(1, &view(&["a"], false));
        assert_eq!(c.get("a"), 1);
        c.update(0, &view(&["b"], true));
        assert_eq!((c.get("a"), c.get("b")), (0, 1));
        c.update(2, &view(&["a"], true));
        // Position 0 leaves; position 2 (routable, "a") moves to 0.
        c.swap_remove(0);
        assert_eq!((c.get("a"), c.get("b")), (1, 0));
        c.update(0, &view(&["a"], false));
        assert_eq!(c.get("a"), 0);
        c.swap_remove(1);
        c.swap_remove(0);
        assert!(c.by_model.is_empty() && c.counted.is_empty());
    }
}
