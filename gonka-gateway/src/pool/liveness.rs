//! What keeps the pool honest about nodes and slots over time: heartbeats of self-registered
//! agents (a node that misses them leaves the routable set) and the zombie reaper (a slot held
//! past its limit is returned), plus the per-node facts `/fleet/status` shows.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::NodeRecord;
use tokio::time::Instant;

use super::entry::{Heartbeat, NodeSource, Observation};
use super::{NodePool, NodeSnapshot};

/// A node as `/fleet/status` shows it: the scheduler's view plus where it came from.
#[derive(Debug, Clone)]
pub struct FleetNode {
    /// View, breaker and health as [`NodePool::snapshot`] gives them.
    pub snapshot: NodeSnapshot,
    /// Its registry record (host, ports, declared models).
    pub record: NodeRecord,
    /// How the gateway knows it.
    pub source: NodeSource,
    /// Unix milliseconds of its agent's last heartbeat, when it sends them.
    pub last_heartbeat_ms: Option<u64>,
    /// The model its engine reported loaded (last health check or heartbeat), if any.
    pub loaded_model: Option<String>,
}

impl FleetNode {
    /// Models in the node's engine memory: the view's `loaded` list when the node reports one,
    /// else the model its state report names while it passes (empty otherwise).
    pub fn loaded(&self) -> Vec<gonka_core::LoadedModel> {
        if !self.snapshot.view.loaded.is_empty() {
            return self.snapshot.view.loaded.to_vec();
        }
        match &self.loaded_model {
            Some(m) if self.snapshot.health_passed => vec![gonka_core::LoadedModel {
                name: Arc::from(m.as_str()),
                context_length: 0,
            }],
            _ => Vec::new(),
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl NodePool {
    /// Stores a heartbeat of node `id`'s agent: `observation` (from the agent's state report) is
    /// taken exactly as a health check's, and the node stays routable for `ttl` unless another
    /// heartbeat or a passed health check follows. Returns `false` when no such node is in the
    /// pool (the agent should register first).
    pub fn heartbeat(
        self: &Arc<Self>,
        id: &str,
        observation: Observation,
        ttl: Duration,
        source: NodeSource,
    ) -> bool {
        let generation = {
            let t = self.lock();
            match t.index.get(id) {
                Some(&i) => t.entries[i].generation,
                None => return false,
            }
        };
        self.observe(id, generation, observation);
        let mut t = self.lock();
        let Some(i) = t.position(id, generation) else {
            return false;
        };
        let now = Instant::now();
        let e = &mut t.entries[i];
        e.source = source;
        e.heartbeat = Some(Heartbeat {
            at_ms: unix_ms(),
            expires: now + ttl,
            expired: false,
        });
        true
    }

    /// Takes out of routing every node whose agent's heartbeat expired by `now` (its last one is
    /// older than its time to live) and that has not been taken out for it yet; a later heartbeat
    /// or passed health check brings it back. Returns their ids.
    pub fn expire_heartbeats(self: &Arc<Self>, now: Instant) -> Vec<String> {
        let epoch = self.epoch.current_epoch();
        let mut guard = self.lock();
        let t = &mut *guard;
        let mut expired = Vec::new();
        for i in 0..t.entries.len() {
            let e = &mut t.entries[i];
            let Some(h) = e.heartbeat.as_mut() else {
                continue;
            };
            if h.expired || h.expires > now {
                continue;
            }
            h.expired = true;
            if !e.observed.passed {
                continue;
            }
            e.observed.passed = false;
            e.fill_view(&mut t.views[i], epoch, t.share);
            t.reindex(i);
            expired.push(t.entries[i].record.node.id.clone());
        }
        drop(guard);
        for id in &expired {
            tracing::warn!(node = %id, "heartbeats missed: node out of routing");
        }
        expired
    }

    /// The zombie reaper: returns every in-flight slot taken at or before `now - older_than`
    /// (a request stuck past the limit: its slot counts no more against `max_concurrent`; the
    /// request itself goes on, and its release later changes nothing). Returns how many.
    pub fn reap_stuck(self: &Arc<Self>, now: Instant, older_than: Duration) -> usize {
        let mut guard = self.lock();
        let t = &mut *guard;
        let mut total = 0;
        for i in 0..t.entries.len() {
            let e = &mut t.entries[i];
            let before = e.slots.len();
            e.slots
                .retain(|_, taken| now.saturating_duration_since(*taken) < older_than);
            let reaped = before - e.slots.len();
            if reaped == 0 {
                continue;
            }
            let v = &mut t.views[i];
            v.in_flight = v
                .in_flight
                .saturating_sub(u32::try_from(reaped).unwrap_or(u32::MAX));
            t.reindex(i);
            tracing::warn!(node = %t.views[i].id, reaped, "zombie reaper returned stuck in-flight slots");
            total += reaped;
        }
        let orphans = if total > 0 {
            self.serve_waiters(t)
        } else {
            Vec::new()
        };
        drop(guard);
        drop(orphans);
        self.reaped
            .fetch_add(u64::try_from(total).unwrap_or(u64::MAX), Ordering::Relaxed);
        total
    }

    /// In-flight slots the zombie reaper returned since the pool was made.
    pub fn reaped_slots(&self) -> u64 {
        self.reaped.load(Ordering::Relaxed)
    }

    /// Every node with its record and heartbeat facts (for `/fleet/status`).
    pub fn fleet(&self) -> Vec<FleetNode> {
        let t = self.lock();
        t.views
            .iter()
            .zip(&t.entries)
            .map(|(v, e)| FleetNode {
                snapshot: NodeSnapshot {
                    view: v.clone(),
                    breaker_open: e.breaker.is_open(),
                    health_passed: e.observed.passed,
                },
                record: e.record.clone(),
                source: e.source,
                last_heartbeat_ms: e.heartbeat.map(|h| h.at_ms),
                loaded_model: e.observed.loaded_model.clone(),
            })
            .collect()
    }

    /// The first model loaded on a routable node (its view's `loaded` list, or the model its
    /// state report names) for which `wanted` holds. A scan of every node: used only by opt-in
    /// features (VRAM fallback).
    pub fn find_loaded(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let t = self.lock();
        t.views.iter().zip(&t.entries).find_map(|(v, e)| {
            if !v.routable() {
                return None;
            }
            v.loaded
                .iter()
                .map(|l| l.name.as_ref())
                .chain(e.observed.loaded_model.as_deref())
                .find(|m| v.serves(m) && wanted(m))
                .map(str::to_owned)
        })
    }

    /// Requests waiting in the holding queue now.
    pub fn queued(&self) -> usize {
        self.lock().waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gonka_core::{ManualEpoch, NodeConfig, NodeState, NodeStatus, RequestInfo};

    fn pool_with(id: &str, max_concurrent: u32) -> Arc<NodePool> {
        let pool = Arc::new(NodePool::new(
            Arc::new(crate::schedule::LeastBusy),
            Arc::new(ManualEpoch::new(0)),
            8,
            3,
        ));
        pool.apply(NodeRecord {
            node: NodeConfig::new(id, "m").max_concurrent(max_concurrent),
            state: NodeState::new_registered(0),
        });
        pool
    }

    fn serving() -> Observation {
        Observation {
            passed: true,
            status: NodeStatus::Inference,
            ..Observation::default()
        }
    }

    #[tokio::test]
    async fn a_heartbeat_makes_a_node_routable_and_missing_them_takes_it_out() {
        let pool = pool_with("n", 1);
        assert_eq!(pool.routable_nodes(), 0);
        assert!(!pool.heartbeat(
            "nope",
            serving(),
            Duration::from_secs(15),
            NodeSource::Heartbeat
        ));
        assert!(pool.heartbeat(
            "n",
            serving(),
            Duration::from_secs(15),
            NodeSource::Heartbeat
        ));
        assert_eq!(pool.routable_nodes(), 1);
        let fleet = pool.fleet();
        assert_eq!(fleet[0].source, NodeSource::Heartbeat);
        assert!(fleet[0].last_heartbeat_ms.is_some());

        // Not yet expired: nothing changes.
        assert!(pool.expire_heartbeats(Instant::now()).is_empty());
        assert_eq!(pool.routable_nodes(), 1);
        // Past the time to live: out of routing, once.
        let later = Instant::now() + Duration::from_secs(16);
        assert_eq!(pool.expire_heartbeats(later), vec!["n".to_owned()]);
        assert_eq!(pool.routable_nodes(), 0);
        assert!(pool.expire_heartbeats(later).is_empty());
        // A new heartbeat brings it back.
        assert!(pool.heartbeat("n", serving(), Duration::from_secs(15), NodeSource::Mdns));
        assert_eq!(pool.routable_nodes(), 1);
        assert_eq!(pool.fleet()[0].source, NodeSource::Mdns);
    }

    #[tokio::test]
    async fn a_passed_health_check_brings_back_a_node_whose_heartbeats_expired() {
        let pool = pool_with("n", 1);
        pool.heartbeat(
            "n",
            serving(),
            Duration::from_millis(1),
            NodeSource::Heartbeat,
        );
        let later = Instant::now() + Duration::from_secs(1);
        assert_eq!(pool.expire_heartbeats(later).len(), 1);
        assert_eq!(pool.routable_nodes(), 0);
        let generation = pool.record("n").unwrap().1;
        pool.observe("n", generation, serving());
        assert_eq!(pool.routable_nodes(), 1);
    }

    #[tokio::test]
    async fn the_reaper_returns_a_stuck_slot_once_and_its_late_release_changes_nothing() {
        let pool = pool_with("n", 1);
        pool.heartbeat(
            "n",
            serving(),
            Duration::from_secs(60),
            NodeSource::Heartbeat,
        );
        let request = [RequestInfo::for_model("m")];
        let stuck = pool.try_acquire(&request, &[]).unwrap();
        assert!(
            pool.try_acquire(&request, &[]).is_none(),
            "max_concurrent 1 is taken"
        );
        assert_eq!(pool.in_flight(), 1);

        // Younger than the limit: kept.
        assert_eq!(pool.reap_stuck(Instant::now(), Duration::from_secs(300)), 0);
        assert_eq!(pool.in_flight(), 1);
        // Past it: returned, and the node takes a request again.
        let later = Instant::now() + Duration::from_secs(301);
        assert_eq!(pool.reap_stuck(later, Duration::from_secs(300)), 1);
        assert_eq!(pool.in_flight(), 0);
        assert_eq!(pool.reaped_slots(), 1);
        let fresh = pool.try_acquire(&request, &[]).unwrap();
        assert_eq!(pool.in_flight(), 1);
        // The stuck request ends at last: the fresh slot is still counted.
        drop(stuck);
        assert_eq!(pool.in_flight(), 1);
        drop(fresh);
        assert_eq!(pool.in_flight(), 0);
    }
}
