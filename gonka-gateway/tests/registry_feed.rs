//! The gateway follows the registry's change feed and re-lists when the feed lags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::{
    BatchItemResult, MemoryRegistry, NodeConfig, NodeRecord, NodeRegistry, RegistryEvent,
    StatusUpdate,
};
use tokio::sync::broadcast;

/// A memory registry whose change feed is a tiny channel the test controls, so it can be made to
/// lag (and whose writes made through `quiet` send no event at all).
#[derive(Debug)]
struct LaggyRegistry {
    inner: MemoryRegistry,
    feed: broadcast::Sender<RegistryEvent>,
}

#[async_trait]
impl NodeRegistry for LaggyRegistry {
    async fn upsert(&self, config: NodeConfig) -> gonka_core::Result<NodeRecord> {
        let r = self.inner.upsert(config).await?;
        let _ = self.feed.send(RegistryEvent::Upserted(r.clone()));
        Ok(r)
    }
    async fn upsert_batch(
        &self,
        configs: Vec<NodeConfig>,
    ) -> gonka_core::Result<Vec<BatchItemResult>> {
        self.inner.upsert_batch(configs).await
    }
    async fn get(&self, id: &str) -> gonka_core::Result<NodeRecord> {
        self.inner.get(id).await
    }
    async fn list(&self) -> gonka_core::Result<Vec<NodeRecord>> {
        self.inner.list().await
    }
    async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        epoch: u64,
    ) -> gonka_core::Result<NodeRecord> {
        self.inner.set_enabled(id, enabled, epoch).await
    }
    async fn update_status(
        &self,
        id: &str,
        update: StatusUpdate,
    ) -> gonka_core::Result<NodeRecord> {
        self.inner.update_status(id, update).await
    }
    async fn delete(&self, id: &str) -> gonka_core::Result<NodeRecord> {
        self.inner.delete(id).await
    }
    fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.feed.subscribe()
    }
}

// Single-threaded: the gateway's tasks cannot run between the test's sends, so the feed lags.
#[tokio::test(flavor = "current_thread")]
async fn a_lagging_feed_makes_the_gateway_re_list_the_registry() {
    let seen = FakeMlNode::start(FakeOptions::serving(MODEL));
    let missed = FakeMlNode::start(FakeOptions::serving(MODEL));
    let (feed, _) = broadcast::channel(2);
    let registry = Arc::new(LaggyRegistry {
        inner: MemoryRegistry::new(),
        feed,
    });
    let mut config = test_config();
    config.registry = registry.clone();
    let gw = start(config).await;

    registry.upsert(seen.config("seen", 2)).await.unwrap();
    wait_routable(&gw, MODEL, 1).await;

    // A write the feed never reports, then more events than the channel holds: the gateway's
    // receiver lags and must re-list to find `missed`.
    registry
        .inner
        .upsert(missed.config("missed", 2))
        .await
        .unwrap();
    let record = registry.get("seen").await.unwrap();
    for _ in 0..5 {
        let _ = registry.feed.send(RegistryEvent::Upserted(record.clone()));
    }
    wait_routable(&gw, MODEL, 2).await;
    let mut ids = gw.pool.ids();
    ids.sort();
    assert_eq!(ids, vec!["missed".to_owned(), "seen".to_owned()]);

    // Deletions missed while lagging are noticed the same way.
    registry.inner.delete("seen").await.unwrap();
    let record = registry.get("missed").await.unwrap();
    for _ in 0..5 {
        let _ = registry.feed.send(RegistryEvent::Upserted(record.clone()));
    }
    eventually("seen dropped after re-list", || async {
        gw.pool.ids() == vec!["missed".to_owned()]
    })
    .await;
    gw.shutdown().await;
}
