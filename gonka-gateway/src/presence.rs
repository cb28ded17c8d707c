//! Gateway replicas sharing one fleet: each announces itself in the deployment store (a lease
//! `replica/{id}` renewed every interval, gone after three missed beats), reads which replicas
//! are alive, and takes its share of every node's `max_concurrent`
//! ([`crate::pool::NodePool::set_replica_share`]). Two replicas behind a load balancer then send
//! a node no more than its limit in total, beyond one replica's share for at most one interval
//! while a replica joins or leaves.

use std::sync::Arc;
use std::time::Duration;

use gonka_core::deploy::DeploymentStore;
use tokio::sync::watch;

use crate::task_driver::{Clock, SystemClock};

use crate::pool::{NodePool, ReplicaShare};

/// The lease-name prefix of replica announcements.
pub const REPLICA_PREFIX: &str = "replica/";

/// Beats a replica may miss before the others count it gone.
pub const MISSED_BEATS: u32 = 3;

/// One replica's presence loop.
#[derive(Debug, Clone)]
pub struct Presence {
    /// Where replicas announce themselves (the deployment store: shared by replicas on one
    /// PostgreSQL database).
    pub store: Arc<dyn DeploymentStore>,
    /// The pool whose limits follow the share.
    pub pool: Arc<NodePool>,
    /// This replica's id (unique per process: host, port and pid).
    pub id: String,
    /// Time between beats (1 s by default).
    pub interval: Duration,
}

impl Presence {
    /// One beat: renews this replica's announcement, reads the live replicas and applies the
    /// share. Returns the share in force.
    ///
    /// # Errors
    /// The store's errors (the share in force is kept).
    pub async fn beat(&self) -> gonka_core::Result<ReplicaShare> {
        let name = format!("{REPLICA_PREFIX}{}", self.id);
        let ttl = u64::try_from(self.interval.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(MISSED_BEATS))
            .max(1);
        let now = SystemClock.now_ms();
        self.store.acquire_lease(&name, &self.id, now, ttl).await?;
        let live = self.store.live_leases(REPLICA_PREFIX, now).await?;
        let rank = live.iter().position(|n| *n == name).unwrap_or(live.len());
        let replicas = u32::try_from(live.len().max(rank + 1)).unwrap_or(u32::MAX);
        let share = ReplicaShare {
            rank: u32::try_from(rank).unwrap_or(u32::MAX),
            replicas,
        };
        if self.pool.set_replica_share(share) {
            tracing::info!(
                replica = %self.id,
                rank = share.rank,
                replicas = share.replicas,
                "gateway replicas changed: this one now enforces its share of every node's max_concurrent"
            );
        }
        Ok(share)
    }

    /// Beats every `interval` until `stop` turns true. A failed beat is logged; the share in
    /// force stays (a replica cut off from the store keeps its last share rather than taking
    /// every node's whole limit).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.beat().await {
                tracing::warn!(error = %e, "replica presence beat failed; keeping the last share");
            }
        }
    }
}
