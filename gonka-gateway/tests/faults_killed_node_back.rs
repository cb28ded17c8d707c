//! A killed node is routed to again about as soon as it is healthy, with the default health
//! settings (checks every 5 s while routable, every 0.5 s while out of routing): not up to a full
//! health interval later.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_gateway::GatewayConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_serves_the_next_request_once_healthy_again_with_default_health_settings() {
    let mut a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let (a_mgmt, a_inf) = (a.mgmt_addr, a.inference_addr);
    let mut config = test_config();
    let defaults = GatewayConfig::new(config.registry.clone());
    config.health_interval = defaults.health_interval;
    config.health_recovery_interval = defaults.health_recovery_interval;
    config.health_timeout = defaults.health_timeout;
    assert!(config.health_recovery_interval <= Duration::from_secs(1));
    // The request sent once the node is back waits for it at most this long: well under the
    // 5 s health interval, well over the recovery interval.
    config.queue_timeout = Duration::from_millis(2500);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 4)).await;
    wait_routable(&gw, MODEL, 1).await;

    // Killed: the next request finds it dead and its breaker opens.
    a.kill();
    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
    wait_routable(&gw, MODEL, 0).await;

    // Back and healthy: the next request is served by it.
    let back = FakeMlNode::start_on(FakeOptions::serving(MODEL), a_mgmt, a_inf);
    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap());
    assert_eq!(back.state.received(), 1);
    gw.shutdown().await;
}
