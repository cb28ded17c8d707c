//! The models a node serves through deployment task instances: its agent runs one engine
//! instance per task and routes requests to it by model name (the task group's name), so a node
//! running a group's task serves that model beside the ones it is registered with.

use std::collections::HashMap;
use std::sync::Arc;

use super::NodePool;

impl NodePool {
    /// Sets, per node id, the models of the task instances on it (nodes absent from `models`
    /// run none). Views, the declared-model counts and the scheduler index follow; waiters are
    /// served when a node gained a model. Returns how many nodes changed.
    pub fn set_task_models(self: &Arc<Self>, models: &HashMap<String, Vec<String>>) -> usize {
        let epoch = self.epoch.current_epoch();
        let mut guard = self.lock();
        let t = &mut *guard;
        let mut changed = 0;
        for i in 0..t.entries.len() {
            let mut wanted: Vec<Arc<str>> = models
                .get(&t.entries[i].record.node.id)
                .map(|m| m.iter().map(|s| Arc::from(s.as_str())).collect())
                .unwrap_or_default();
            wanted.sort();
            wanted.dedup();
            if *t.entries[i].task_models == *wanted {
                continue;
            }
            t.count_models(i, false);
            t.entries[i].task_models = Arc::from(wanted);
            t.count_models(i, true);
            let share = t.share;
            t.entries[i].fill_view(&mut t.views[i], epoch, share);
            t.reindex(i);
            changed += 1;
        }
        let orphans = if changed > 0 {
            self.serve_waiters(t)
        } else {
            Vec::new()
        };
        drop(guard);
        drop(orphans);
        changed
    }
}
