//! Kubernetes-style probes of the gateway: `/livez` is 200 while it serves; `/readyz` (public and
//! admin listeners) is 200 only when the registry answers and a node is routable (or
//! `ready_without_nodes` is set), else 503 naming the failing check; `/v1/status` reports the
//! same checks with node counts, always 200.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::{
    BatchItemResult, MemoryRegistry, NodeConfig, NodeRecord, NodeRegistry, RegistryEvent,
    StatusUpdate,
};
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// A memory registry whose reads fail while `down` is set, as a database that went away.
#[derive(Debug, Default)]
struct FlakyRegistry {
    inner: MemoryRegistry,
    down: AtomicBool,
}

impl FlakyRegistry {
    fn check(&self) -> gonka_core::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(gonka_core::Error::Unavailable(
                std::io::Error::other("database connection refused").into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl NodeRegistry for FlakyRegistry {
    async fn upsert(&self, config: NodeConfig) -> gonka_core::Result<NodeRecord> {
        self.check()?;
        self.inner.upsert(config).await
    }
    async fn upsert_batch(
        &self,
        configs: Vec<NodeConfig>,
    ) -> gonka_core::Result<Vec<BatchItemResult>> {
        self.check()?;
        self.inner.upsert_batch(configs).await
    }
    async fn get(&self, id: &str) -> gonka_core::Result<NodeRecord> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn list(&self) -> gonka_core::Result<Vec<NodeRecord>> {
        self.check()?;
        self.inner.list().await
    }
    async fn set_enabled(&self, id: &str, on: bool, epoch: u64) -> gonka_core::Result<NodeRecord> {
        self.check()?;
        self.inner.set_enabled(id, on, epoch).await
    }
    async fn update_status(&self, id: &str, u: StatusUpdate) -> gonka_core::Result<NodeRecord> {
        self.check()?;
        self.inner.update_status(id, u).await
    }
    async fn delete(&self, id: &str) -> gonka_core::Result<NodeRecord> {
        self.check()?;
        self.inner.delete(id).await
    }
    fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.inner.watch()
    }
}

async fn get(url: String) -> (u16, Value) {
    let resp = client().get(url).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_gateway_without_routable_nodes_is_alive_but_not_ready() {
    let gw = start(test_config()).await;
    let public = format!("http://{}", gw.public_addr);
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    assert_eq!(
        get(format!("{public}/livez")).await,
        (200, json!({"status": "alive"}))
    );
    assert_eq!(get(format!("{admin}/livez")).await.0, 200);
    for base in [&public, &admin] {
        let (code, body) = get(format!("{base}/readyz")).await;
        assert_eq!(code, 503, "{body}");
        assert_eq!(body["status"], "not ready");
        assert_eq!(body["checks"]["registry"]["ok"], true);
        assert_eq!(body["checks"]["nodes"]["ok"], false);
        let why = body["checks"]["nodes"]["detail"].as_str().unwrap();
        assert!(why.contains("no routable node"), "{why}");
    }
    let resp = client()
        .get(format!("{public}/readyz"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    let (code, status) = get(format!("{public}/v1/status")).await;
    assert_eq!(code, 200);
    assert_eq!(status["status"], "not ready");
    assert_eq!(status["routable_nodes"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_routable_node_makes_the_gateway_ready_and_losing_it_makes_it_unready() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    let public = format!("http://{}", gw.public_addr);
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let (code, body) = get(format!("{public}/readyz")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["checks"]["nodes"]["detail"], "1 routable");
    let (_, status) = get(format!("{public}/v1/status")).await;
    assert_eq!(
        (status["nodes"].clone(), status["routable_nodes"].clone()),
        (json!(1), json!(1))
    );

    registry.delete("n1").await.unwrap();
    wait_routable(&gw, MODEL, 0).await;
    assert_eq!(get(format!("{public}/readyz")).await.0, 503);
    gw.shutdown().await;
}

#[tokio::test]
async fn ready_without_nodes_is_ready_with_zero_nodes_but_not_with_the_registry_down() {
    let registry = Arc::new(FlakyRegistry::default());
    let mut config = test_config();
    config.registry = registry.clone();
    config.ready_without_nodes = true;
    let gw = start(config).await;
    let public = format!("http://{}", gw.public_addr);
    let (code, body) = get(format!("{public}/readyz")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "ready");

    registry.down.store(true, Ordering::SeqCst);
    let (code, body) = get(format!("{public}/readyz")).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["checks"]["registry"]["ok"], false);
    let why = body["checks"]["registry"]["detail"].as_str().unwrap();
    assert!(why.contains("database connection refused"), "{why}");
    assert_eq!(get(format!("{public}/livez")).await.0, 200);

    registry.down.store(false, Ordering::SeqCst);
    assert_eq!(get(format!("{public}/readyz")).await.0, 200);
    gw.shutdown().await;
}
