//! Shared helpers of the gateway integration tests.
#![allow(dead_code)]

pub mod deploy_fleet;
pub mod fake_mlnode;
pub mod gateway_process;
pub mod phased_load;
pub mod sim_agent;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::{MemoryRegistry, NodeRegistry};
use gonka_gateway::{GatewayConfig, Listeners, RunningGateway};

pub const MODEL: &str = "Qwen/Qwen3-32B-FP8";
pub const OTHER_MODEL: &str = "Qwen/QwQ-32B";

/// A gateway config over a fresh memory registry with fast health checks and a short queue.
pub fn test_config() -> GatewayConfig {
    let mut c = GatewayConfig::new(Arc::new(MemoryRegistry::new()));
    c.health_interval = Duration::from_millis(100);
    c.health_timeout = Duration::from_millis(500);
    c.reconcile_interval = Duration::from_millis(300);
    c.broker_timeout = Duration::from_millis(500);
    c.broker_up_timeout = Duration::from_millis(500);
    c.queue_timeout = Duration::from_secs(5);
    c.drain_timeout = Duration::from_secs(2);
    c
}

/// Starts a gateway on loopback with public and admin listeners.
pub async fn start(config: GatewayConfig) -> RunningGateway {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    gonka_gateway::start(config, listeners).unwrap()
}

/// Polls `check` every 20 ms for up to 10 s; panics with `what` when it never holds.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(10), check).await;
}

/// Polls `check` up to `limit / 20 ms` times, 20 ms apart (about `limit` when checks are quick),
/// until it holds; panics with `what` when it never does.
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let pause = Duration::from_millis(20);
    let polls = (limit.as_millis() / pause.as_millis()).max(1);
    for _ in 0..polls {
        if check().await {
            return;
        }
        tokio::time::sleep(pause).await;
    }
    panic!("timed out after {polls} polls ({limit:?}) waiting for: {what}");
}

/// Waits until the gateway lists `model` in `/v1/models` with `n` nodes routable for it.
pub async fn wait_routable(gw: &RunningGateway, model: &str, n: usize) {
    eventually(&format!("{n} routable nodes for {model}"), || async {
        gw.pool
            .snapshot()
            .iter()
            .filter(|s| s.view.routable() && s.view.serves(model))
            .count()
            == n
    })
    .await;
}

pub async fn register(registry: &Arc<dyn NodeRegistry>, config: gonka_core::NodeConfig) {
    registry.upsert(config).await.unwrap();
}

pub fn chat_body(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]
    })
}

/// `GET url` answered as JSON (`null` when the body is not JSON).
pub async fn get_json(url: &str) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
