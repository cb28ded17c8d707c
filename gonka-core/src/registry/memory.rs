//! An in-memory [`NodeRegistry`]: for tests, examples and embedding without persistence.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    apply_status_update, find_endpoint_conflict, BatchItemResult, RegistryEvent, StatusUpdate,
};
use crate::validation::normalize_host;
use crate::{Error, NodeConfig, NodeRecord, NodeRegistry, NodeState, Result};

/// Capacity of the change-feed channel of the built-in registries.
pub const WATCH_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
struct Inner {
    nodes: HashMap<String, NodeRecord>,
    /// Normalized host → ids of the nodes on it, so the endpoint check of one write looks only
    /// at the nodes sharing its host (a batch of n nodes is O(n), not O(n²)).
    by_host: HashMap<String, Vec<String>>,
    next_num: u64,
    markers: std::collections::BTreeSet<String>,
}

impl Inner {
    fn upsert(&mut self, mut config: NodeConfig) -> Result<NodeRecord> {
        let host = normalize_host(&config.host);
        let same_host = self
            .by_host
            .get(&host)
            .into_iter()
            .flatten()
            .filter_map(|id| self.nodes.get(id).map(|r| &r.node));
        if let Some(conflict) = find_endpoint_conflict(&config, same_host) {
            return Err(Error::Conflict(conflict));
        }
        let old_host = self
            .nodes
            .get(&config.id)
            .map(|r| normalize_host(&r.node.host));
        if old_host.as_deref() != Some(host.as_str()) {
            if let Some(old) = &old_host {
                self.unindex(old, &config.id);
            }
            self.by_host
                .entry(host)
                .or_default()
                .push(config.id.clone());
        }
        let record = match self.nodes.get_mut(&config.id) {
            Some(existing) => {
                config.node_num = existing.node.node_num;
                existing.node = config;
                existing.clone()
            }
            None => {
                self.next_num += 1;
                config.node_num = self.next_num;
                let record = NodeRecord {
                    node: config,
                    state: NodeState::new_registered(0),
                };
                self.nodes.insert(record.node.id.clone(), record.clone());
                record
            }
        };
        Ok(record)
    }

    fn unindex(&mut self, host: &str, id: &str) {
        if let Some(ids) = self.by_host.get_mut(host) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.by_host.remove(host);
            }
        }
    }

    fn remove(&mut self, id: &str) -> Option<NodeRecord> {
        let record = self.nodes.remove(id)?;
        self.unindex(&normalize_host(&record.node.host), id);
        Some(record)
    }

    fn modify(&mut self, id: &str, f: impl FnOnce(&mut NodeState)) -> Result<NodeRecord> {
        let record = self
            .nodes
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        f(&mut record.state);
        Ok(record.clone())
    }
}

/// A [`NodeRegistry`] kept in process memory. Nothing survives the process; every method is
/// "durable" as soon as it returns in the sense of the trait contract. Cheap to create.
#[derive(Debug)]
pub struct MemoryRegistry {
    inner: Mutex<Inner>,
    events: broadcast::Sender<RegistryEvent>,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        Self {
            inner: Mutex::new(Inner::default()),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated (every change is a
        // single insert/assignment), so a poisoned lock is safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: RegistryEvent) {
        // No receiver is not an error.
        let _ = self.events.send(event);
    }
}

#[async_trait]
impl NodeRegistry for MemoryRegistry {
    async fn upsert(&self, config: NodeConfig) -> Result<NodeRecord> {
        let record = self.lock().upsert(config)?;
        self.emit(RegistryEvent::Upserted(record.clone()));
        Ok(record)
    }

    async fn upsert_batch(&self, configs: Vec<NodeConfig>) -> Result<Vec<BatchItemResult>> {
        let results: Vec<BatchItemResult> = {
            let mut inner = self.lock();
            configs.into_iter().map(|c| inner.upsert(c)).collect()
        };
        for record in results.iter().flatten() {
            self.emit(RegistryEvent::Upserted(record.clone()));
        }
        Ok(results)
    }

    async fn get(&self, id: &str) -> Result<NodeRecord> {
        self.lock()
            .nodes
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })
    }

    async fn list(&self) -> Result<Vec<NodeRecord>> {
        let mut all: Vec<NodeRecord> = self.lock().nodes.values().cloned().collect();
        all.sort_by_key(|r| r.node.node_num);
        Ok(all)
    }

    async fn set_enabled(&self, id: &str, enabled: bool, epoch: u64) -> Result<NodeRecord> {
        let record = self.lock().modify(id, |s| {
            s.admin_state.enabled = enabled;
            s.admin_state.epoch = epoch;
        })?;
        self.emit(RegistryEvent::Upserted(record.clone()));
        Ok(record)
    }

    async fn update_status(&self, id: &str, update: StatusUpdate) -> Result<NodeRecord> {
        let record = self
            .lock()
            .modify(id, |s| apply_status_update(s, &update))?;
        self.emit(RegistryEvent::Upserted(record.clone()));
        Ok(record)
    }

    async fn delete(&self, id: &str) -> Result<NodeRecord> {
        let record = self
            .lock()
            .remove(id)
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        self.emit(RegistryEvent::Deleted(record.clone()));
        Ok(record)
    }

    fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    async fn marker(&self, name: &str) -> Result<bool> {
        Ok(self.lock().markers.contains(name))
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        self.lock().markers.insert(name.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[tokio::test]
    async fn moving_a_node_to_another_host_frees_its_old_endpoint() {
        let r = MemoryRegistry::new();
        r.upsert(NodeConfig::new("a", "m").at("h1", 5000, 8080))
            .await
            .unwrap();
        r.upsert(NodeConfig::new("b", "m").at("h2", 5000, 8080))
            .await
            .unwrap();
        // a moves onto b's host: conflict.
        assert!(matches!(
            r.upsert(NodeConfig::new("a", "m").at("H2", 5000, 9000))
                .await,
            Err(Error::Conflict(_))
        ));
        // a moves to h3; h1's endpoint is free for c.
        r.upsert(NodeConfig::new("a", "m").at("h3", 5000, 8080))
            .await
            .unwrap();
        r.upsert(NodeConfig::new("c", "m").at("h1", 5000, 8080))
            .await
            .unwrap();
        assert!(matches!(
            r.upsert(NodeConfig::new("d", "m").at("http://h3", 8080, 1))
                .await,
            Err(Error::Conflict(_))
        ));
        r.delete("a").await.unwrap();
        r.upsert(NodeConfig::new("d", "m").at("http://h3", 8080, 1))
            .await
            .unwrap();
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    #[tokio::test]
    async fn memory_registry_conforms() {
        crate::testing::registry_suite(super::MemoryRegistry::new()).await;
    }
}
