//! Keeps the [`NodePool`] in step with the registry change feed (re-listing when the feed lags)
//! and runs one health-check task and one broker task per node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::{NodeRecord, NodeRegistry, RegistryEvent};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::health;
use crate::pool::NodePool;

struct NodeTasks {
    generation: u64,
    kick: Arc<Notify>,
    handles: [JoinHandle<()>; 2],
}

impl Drop for NodeTasks {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Follows the registry and owns the per-node tasks; dropping it stops them.
pub(crate) struct Supervisor {
    pub registry: Arc<dyn NodeRegistry>,
    pub pool: Arc<NodePool>,
    pub broker: Broker,
    pub health: health::CheckTiming,
    /// Bounds the health checks in progress at once (see [`health::MAX_CONCURRENT_CHECKS`]).
    checks: Arc<tokio::sync::Semaphore>,
    tasks: HashMap<String, NodeTasks>,
}

impl Supervisor {
    pub fn new(
        registry: Arc<dyn NodeRegistry>,
        pool: Arc<NodePool>,
        broker: Broker,
        health: health::CheckTiming,
    ) -> Self {
        Self {
            registry,
            pool,
            broker,
            health,
            checks: Arc::new(tokio::sync::Semaphore::new(health::MAX_CONCURRENT_CHECKS)),
            tasks: HashMap::new(),
        }
    }

    /// Loads the registry, then follows its change feed until the feed closes.
    pub async fn run(mut self) {
        let mut feed = self.registry.watch();
        self.relist().await;
        loop {
            match feed.recv().await {
                Ok(RegistryEvent::Upserted(record)) => self.upsert(record),
                Ok(RegistryEvent::Deleted(record)) => self.delete(&record.node.id),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "registry feed lagged; re-listing");
                    feed = feed.resubscribe();
                    self.relist().await;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::warn!("registry feed closed; node set frozen");
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    async fn relist(&mut self) {
        let mut backoff = Duration::from_millis(100);
        let records = loop {
            match self.registry.list().await {
                Ok(r) => break r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot list registry; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let keep: std::collections::HashSet<&str> =
            records.iter().map(|r| r.node.id.as_str()).collect();
        for id in self.pool.ids() {
            if !keep.contains(id.as_str()) {
                self.delete(&id);
            }
        }
        for record in records {
            self.upsert(record);
        }
    }

    fn upsert(&mut self, record: NodeRecord) {
        let id = record.node.id.clone();
        let applied = self.pool.apply(record);
        let current = self
            .tasks
            .get(&id)
            .is_some_and(|t| t.generation == applied.generation);
        if !current {
            tracing::info!(node = %id, "node added to the pool");
            let kick = Arc::new(Notify::new());
            let health = tokio::spawn(health::run_checks(
                self.pool.clone(),
                self.broker.client.clone(),
                id.clone(),
                applied.generation,
                self.health,
                self.checks.clone(),
            ));
            let broker = tokio::spawn(self.broker.clone().run_node(
                id.clone(),
                applied.generation,
                kick.clone(),
            ));
            self.tasks.insert(
                id,
                NodeTasks {
                    generation: applied.generation,
                    kick,
                    handles: [health, broker],
                },
            );
        } else if applied.needs_reconcile {
            if let Some(t) = self.tasks.get(&id) {
                t.kick.notify_one();
            }
        }
    }

    fn delete(&mut self, id: &str) {
        if self.pool.remove(id) {
            tracing::info!(node = id, "node removed from the pool");
        }
        self.tasks.remove(id);
    }
}
