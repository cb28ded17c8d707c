//! A request too large for the engine is the client's error: the engine's 413 reaches the client
//! once, no other node is tried, and no node's breaker or error rate counts it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use serde_json::Value;

/// The engines read bodies up to this size (axum's body limit answers 413 past it, without
/// reading the body); the gateway's own limit is far larger.
const ENGINE_LIMIT: usize = 64 * 1024;

fn big_chat() -> Value {
    serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "x".repeat(2 * 1024 * 1024)}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_too_large_for_the_engine_is_one_413_tried_on_one_node_and_not_held_against_it() {
    let nodes: Vec<FakeMlNode> = (0..3)
        .map(|_| {
            FakeMlNode::start(FakeOptions {
                body_limit: Some(ENGINE_LIMIT),
                ..FakeOptions::serving(MODEL)
            })
        })
        .collect();
    let config = test_config();
    let threshold = config.breaker_threshold;
    let registry = config.registry.clone();
    let gw = start(config).await;
    for (i, n) in nodes.iter().enumerate() {
        register(&registry, n.config(&format!("n{i}"), 4)).await;
    }
    wait_routable(&gw, MODEL, 3).await;

    // As many as open a breaker, were they counted as failures.
    for round in 1..=threshold as usize {
        let resp = client()
            .post(format!("http://{}/v1/chat/completions", gw.public_addr))
            .json(&big_chat())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 413, "{body}");
        let arrived: usize = nodes.iter().map(|n| n.state.arrived()).sum();
        assert_eq!(arrived, round, "one node tried per request");
    }
    for s in gw.pool.snapshot() {
        assert!(!s.breaker_open, "{}: breaker open", s.view.id);
        assert_eq!(s.view.error_rate, 0.0, "{}: failure counted", s.view.id);
        assert!(s.view.routable(), "{}", s.view.id);
    }
    // The nodes serve ordinary requests as before.
    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.shutdown().await;
}
