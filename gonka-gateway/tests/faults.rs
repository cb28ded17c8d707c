//! Fault handling: killed and returning nodes, hung management calls, and admin changes taking
//! effect without restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::{ManualEpoch, NodeStatus};
use serde_json::Value;

async fn chat(addr: std::net::SocketAddr, stream: bool) -> (u16, String) {
    let resp = client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&chat_body(MODEL, stream))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_causes_no_client_error_for_requests_that_had_not_started_streaming() {
    let mut a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    // Health checks are slow here, so the gateway still believes `a` is up after the kill and
    // the requests really hit the dead node first.
    config.health_interval = Duration::from_secs(60);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 8)).await;
    register(&registry, b.config("b", 8)).await;
    wait_routable(&gw, MODEL, 2).await;

    a.kill();
    let addr = gw.public_addr;
    let requests: Vec<_> = (0..8)
        .map(|i| tokio::spawn(async move { chat(addr, i % 2 == 0).await }))
        .collect();
    for r in requests {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("tok"), "{body}");
    }
    assert_eq!(
        b.state.received(),
        8,
        "every request ended on the live node"
    );
    // The dead node's breaker opened: it is out of routing without waiting for a health check.
    let snapshot = gw.pool.snapshot();
    let dead = snapshot.iter().find(|n| &*n.view.id == "a").unwrap();
    assert!(dead.breaker_open);
    assert!(!dead.view.healthy);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_comes_back_is_used_again_after_one_passed_health_check() {
    let mut a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let (a_mgmt, a_inf) = (a.mgmt_addr, a.inference_addr);
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 4)).await;
    register(&registry, b.config("b", 4)).await;
    wait_routable(&gw, MODEL, 2).await;

    a.kill();
    wait_routable(&gw, MODEL, 1).await;
    for _ in 0..3 {
        assert_eq!(chat(gw.public_addr, false).await.0, 200);
    }
    assert_eq!(b.state.received(), 3);

    let a2 = FakeMlNode::start_on(FakeOptions::serving(MODEL), a_mgmt, a_inf);
    wait_routable(&gw, MODEL, 2).await;
    // least-busy prefers the first registered node when both are idle: `a` serves again.
    assert_eq!(chat(gw.public_addr, false).await.0, 200);
    assert_eq!(a2.state.received(), 1);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_inference_up_hangs_does_not_stall_other_nodes() {
    let hung = FakeMlNode::start(FakeOptions {
        state: "STOPPED",
        ..FakeOptions::serving(MODEL)
    });
    hung.state.hang_up.store(true, Ordering::SeqCst);
    let fine = FakeMlNode::start(FakeOptions {
        state: "STOPPED",
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    // Far longer than the test waits: only per-node concurrency lets `fine` come up.
    config.broker_timeout = Duration::from_secs(30);
    config.broker_up_timeout = Duration::from_secs(30);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, hung.config("hung", 4)).await;
    register(&registry, fine.config("fine", 4)).await;

    eventually("the hung node got inference/up", || async {
        hung.state.up_calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    wait_routable(&gw, MODEL, 1).await;
    eventually("registry shows fine in INFERENCE", || async {
        registry.get("fine").await.unwrap().state.current_status == NodeStatus::Inference
    })
    .await;
    assert_eq!(fine.state.up_calls.load(Ordering::SeqCst), 1);
    assert_eq!(chat(gw.public_addr, false).await.0, 200);
    assert_eq!(fine.state.received(), 1);
    assert_ne!(
        registry.get("hung").await.unwrap().state.current_status,
        NodeStatus::Inference
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_inference_up_is_recorded_as_failed_with_its_reason() {
    let hung = FakeMlNode::start(FakeOptions {
        state: "STOPPED",
        ..FakeOptions::serving(MODEL)
    });
    hung.state.hang_up.store(true, Ordering::SeqCst);
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, hung.config("hung", 4)).await;
    eventually("failure recorded", || async {
        let s = registry.get("hung").await.unwrap().state;
        s.current_status == NodeStatus::Failed && s.failure_reason.contains("inference/up")
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn the_broker_brings_a_stopped_node_to_inference_and_the_admin_api_shows_it() {
    let node = FakeMlNode::start(FakeOptions {
        state: "STOPPED",
        ..FakeOptions::serving(MODEL)
    });
    let config = test_config();
    let gw = start(config).await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    let resp = client()
        .post(format!("{admin}/admin/v1/nodes"))
        .json(&node.config("n1", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    wait_routable(&gw, MODEL, 1).await;
    eventually("admin API shows INFERENCE", || async {
        let nodes: Value = client()
            .get(format!("{admin}/admin/v1/nodes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        nodes[0]["state"]["current_status"] == "INFERENCE"
            && nodes[0]["state"]["failure_reason"] == ""
    })
    .await;
    assert_eq!(node.state.up_calls.load(Ordering::SeqCst), 1);
    assert_eq!(chat(gw.public_addr, true).await.0, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn disable_and_delete_through_the_admin_api_remove_the_node_from_routing() {
    let a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let epoch = Arc::new(ManualEpoch::new(5));
    let mut config = test_config();
    config.epoch = epoch.clone();
    config.queue_timeout = Duration::from_millis(300);
    let gw = start(config).await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    for (id, n) in [("a", &a), ("b", &b)] {
        let resp = client()
            .post(format!("{admin}/admin/v1/nodes"))
            .json(&n.config(id, 4))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    wait_routable(&gw, MODEL, 2).await;

    let resp = client()
        .post(format!("{admin}/admin/v1/nodes/a/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Disabled in epoch 5: once the pool has the change, `a` still serves until the epoch is over.
    eventually("the pool sees a disabled", || async {
        gw.pool
            .record("a")
            .is_some_and(|(record, _)| !record.state.admin_state.enabled)
    })
    .await;
    assert_eq!(chat(gw.public_addr, false).await.0, 200);
    assert_eq!(a.state.received(), 1, "still serving in its epoch");
    epoch.advance();
    wait_routable(&gw, MODEL, 1).await;
    for _ in 0..3 {
        assert_eq!(chat(gw.public_addr, false).await.0, 200);
    }
    assert_eq!(
        a.state.received(),
        1,
        "disabled node left out after its epoch"
    );
    assert_eq!(b.state.received(), 3);

    let resp = client()
        .delete(format!("{admin}/admin/v1/nodes/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    eventually("b gone from the pool", || async {
        !gw.pool.ids().contains(&"b".to_owned())
    })
    .await;
    let (status, body) = chat(gw.public_addr, false).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(b.state.received(), 3);

    let resp = client()
        .post(format!("{admin}/admin/v1/nodes/a/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_routable(&gw, MODEL, 1).await;
    assert_eq!(chat(gw.public_addr, false).await.0, 200);
    assert_eq!(a.state.received(), 2, "re-enabled node serves again");
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.drain_timeout = Duration::from_secs(10);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let addr = gw.public_addr;
    let stream = tokio::spawn(async move { chat(addr, true).await });
    eventually("stream started", || async { node.state.active() == 1 }).await;
    let shutdown = tokio::spawn(gw.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished(), "drain waits for the stream");
    node.state.open_gate();
    let (status, body) = stream.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn ml_nodes_with_a_management_token_need_the_gateway_to_send_it() {
    let node = FakeMlNode::start(FakeOptions {
        token: Some("mgmt-secret"),
        state: "STOPPED",
        ..FakeOptions::serving(MODEL)
    });
    // Without the token: the node is never routable and the broker records why.
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    eventually("failure recorded", || async {
        let s = registry.get("n1").await.unwrap().state;
        s.current_status == NodeStatus::Failed && s.failure_reason.contains("401")
    })
    .await;
    assert!(gw.pool.servable_models().is_empty());
    gw.shutdown().await;

    // With it: brought up and served.
    let mut config = test_config();
    config.mlnode_token = Some("mgmt-secret".into());
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    assert_eq!(chat(gw.public_addr, false).await.0, 200);
    gw.shutdown().await;
}
