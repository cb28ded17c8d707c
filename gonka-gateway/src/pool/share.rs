//! This replica's share of every node's `max_concurrent` when several gateway replicas route to
//! one fleet: each enforces only its part, so together they never send a node more than its
//! limit (`gonka_core::deploy::concurrency_share`: an even split, at least 1 each).

use std::sync::Arc;

use gonka_core::deploy::concurrency_share;

use super::NodePool;

/// Replica `rank` (0-based) of `replicas` live ones, ordered by replica id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaShare {
    /// This replica's position among the live ones.
    pub rank: u32,
    /// How many replicas are alive (at least 1).
    pub replicas: u32,
}

impl Default for ReplicaShare {
    /// Alone: the whole limit.
    fn default() -> Self {
        Self {
            rank: 0,
            replicas: 1,
        }
    }
}

impl ReplicaShare {
    /// This replica's part of `max_concurrent`.
    pub fn of(self, max_concurrent: u32) -> u32 {
        if self.replicas <= 1 {
            return max_concurrent;
        }
        concurrency_share(max_concurrent, self.replicas, self.rank).min(max_concurrent.max(1))
    }
}

impl NodePool {
    /// Sets this replica's share and re-derives every node's limit from it; waiters are served
    /// at once when the share grew. Returns whether it changed.
    pub fn set_replica_share(self: &Arc<Self>, share: ReplicaShare) -> bool {
        let share = ReplicaShare {
            rank: share.rank.min(share.replicas.max(1) - 1),
            replicas: share.replicas.max(1),
        };
        let epoch = self.epoch.current_epoch();
        let mut guard = self.lock();
        let t = &mut *guard;
        if t.share == share {
            return false;
        }
        t.share = share;
        for i in 0..t.entries.len() {
            t.entries[i].fill_view(&mut t.views[i], epoch, share);
            t.reindex(i);
        }
        let orphans = self.serve_waiters(t);
        drop(guard);
        drop(orphans);
        true
    }

    /// This replica's share now.
    pub fn replica_share(&self) -> ReplicaShare {
        self.lock().share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_limit_and_alone_takes_all() {
        assert_eq!(ReplicaShare::default().of(7), 7);
        for max in 1..20u32 {
            for replicas in 1..6u32 {
                let total: u32 = (0..replicas)
                    .map(|rank| ReplicaShare { rank, replicas }.of(max))
                    .sum();
                if max >= replicas {
                    assert_eq!(total, max, "max {max} replicas {replicas}");
                } else {
                    // Fewer slots than replicas: each keeps one so none is shut out.
                    assert_eq!(total, replicas);
                }
            }
        }
    }
}
