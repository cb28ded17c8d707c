//! The last full list of nodes, kept in memory and valid for one registry version. Used by both
//! the PostgreSQL and the SQLite registry.
//!
//! `list` reads the database's `registry_version` (one indexed row) and answers from here when it
//! matches; otherwise it re-reads every row together with their version and stores them. Since
//! every committed change to `nodes` moves the version (a trigger, whoever writes), a matching
//! version means the stored rows are exactly the ones in the database: a list after any
//! committed write, from any process, shows it.

use std::sync::{Arc, Mutex, PoisonError};

use gonka_core::NodeRecord;

/// Records of one registry version.
#[derive(Debug)]
struct Snapshot {
    version: i64,
    records: Arc<Vec<NodeRecord>>,
}

/// The cached list (see the module docs). Cheap to share; all methods take `&self`.
#[derive(Debug, Default)]
pub struct ListCache {
    snapshot: Mutex<Option<Snapshot>>,
}

impl ListCache {
    /// The cached records when they belong to `version`.
    pub fn get(&self, version: i64) -> Option<Arc<Vec<NodeRecord>>> {
        let snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        snapshot
            .as_ref()
            .filter(|s| s.version == version)
            .map(|s| Arc::clone(&s.records))
    }

    /// Keeps `records` as the list of `version`, unless a newer version is already kept (two
    /// lists racing: versions only grow, so the newer one wins).
    pub fn store(&self, version: i64, records: Arc<Vec<NodeRecord>>) {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        if snapshot.as_ref().is_some_and(|s| s.version > version) {
            return;
        }
        *snapshot = Some(Snapshot { version, records });
    }

    /// Forgets the cached list (e.g. after losing the database connection: the database may have
    /// been replaced, and its version counter with it).
    pub fn clear(&self) {
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gonka_core::{NodeConfig, NodeState};

    fn records(ids: &[&str]) -> Arc<Vec<NodeRecord>> {
        Arc::new(
            ids.iter()
                .map(|id| NodeRecord {
                    node: NodeConfig::new(*id, "m"),
                    state: NodeState::new_registered(0),
                })
                .collect(),
        )
    }

    #[test]
    fn answers_only_for_the_version_it_holds() {
        let cache = ListCache::default();
        assert!(cache.get(1).is_none());
        cache.store(3, records(&["a"]));
        assert_eq!(cache.get(3).unwrap()[0].node.id, "a");
        assert!(cache.get(4).is_none());
        assert!(cache.get(2).is_none());
    }

    #[test]
    fn an_older_list_does_not_replace_a_newer_one() {
        let cache = ListCache::default();
        cache.store(5, records(&["new"]));
        cache.store(4, records(&["old"]));
        assert_eq!(cache.get(5).unwrap()[0].node.id, "new");
        cache.store(6, records(&["newer"]));
        assert_eq!(cache.get(6).unwrap()[0].node.id, "newer");
        assert!(cache.get(5).is_none());
    }

    #[test]
    fn clear_forgets_the_list() {
        let cache = ListCache::default();
        cache.store(1, records(&["a"]));
        cache.clear();
        assert!(cache.get(1).is_none());
        cache.store(1, records(&["b"]));
        assert_eq!(cache.get(1).unwrap()[0].node.id, "b");
    }
}
