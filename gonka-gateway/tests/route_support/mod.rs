//! Helpers of the route-algorithm, task-health and GPU-autoscaling tests, beside
//! `common::deploy_fleet`: a simulator ML node with settings of the test's choosing (latency,
//! simulated GPUs), and waiting on a condition.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gonka_core::{NodeConfig, NodeRegistry};
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running simulator agent: its management URL and what stops it.
pub struct SimNode {
    pub mgmt: String,
    pub inference: String,
    stop: Option<oneshot::Sender<()>>,
}

impl SimNode {
    /// Stops the agent (as a crashed node).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts a `gonka-mlnode` simulator agent `id` serving `model` with `simulator` settings and
/// `agent` (its other fields; `model` and `simulator` are set here), with `slots` slots, and
/// registers it in `registry`.
pub async fn start_sim_node(
    registry: &Arc<dyn NodeRegistry>,
    id: &str,
    model: &str,
    simulator: SimulatorConfig,
    agent: MlNodeConfig,
    slots: u32,
) -> SimNode {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mgmt_port, inference_port) = (
        mgmt.local_addr().unwrap().port(),
        inference.local_addr().unwrap().port(),
    );
    let node = NodeConfig::new(id, model)
        .at("127.0.0.1", inference_port, mgmt_port)
        .max_concurrent(slots);
    let agent = MlNodeConfig {
        model: Some(model.into()),
        simulator: SimulatorConfig {
            model: model.into(),
            ..simulator
        },
        drain_timeout: Duration::from_millis(200),
        ..agent
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(agent, mgmt, inference, async {
        let _ = stopped.await;
    }));
    registry.upsert(node).await.unwrap();
    SimNode {
        mgmt: format!("http://127.0.0.1:{mgmt_port}"),
        inference: format!("http://127.0.0.1:{inference_port}"),
        stop: Some(stop),
    }
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
