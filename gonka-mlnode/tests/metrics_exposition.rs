//! `GET /metrics` of the ML node over real HTTP: requests, engine state and PoC gauges, build
//! info, and the engine's own metrics appended while an engine serves (none when it is down).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{fake_engine_config, Node};
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

fn up(model: &str, args: &[&str]) -> Value {
    json!({"model": model, "dtype": "auto", "additional_args": args})
}

fn simulator_loading_for(load_time: Duration) -> MlNodeConfig {
    MlNodeConfig {
        simulator: gonka_mlnode::simulator::SimulatorConfig {
            load_time,
            ..Default::default()
        },
        ..MlNodeConfig::default()
    }
}

async fn metrics_text(node: &Node) -> String {
    let r = node
        .client
        .get(format!("{}/metrics", node.mgmt))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_serving_node_counts_requests_and_passes_the_engines_metrics_through() {
    let node = Node::start(simulator_loading_for(Duration::ZERO)).await;
    node.post("/api/v1/inference/up?wait=false", up("Qwen/QwQ-32B", &[]))
        .await;
    node.wait_inference_healthy().await;
    let r = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": "Qwen/QwQ-32B", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let text = metrics_text(&node).await;
    for expected in [
        format!(
            "gonka_build_info{{binary=\"gonka-mlnode\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "gonka_mlnode_requests_total{listener=\"inference\",route=\"/v1/chat/completions\",status=\"200\"} 1".into(),
        "gonka_mlnode_engine_state{state=\"serving\"} 1".into(),
        "gonka_mlnode_engine_state{state=\"loading\"} 0".into(),
        "gonka_mlnode_engine_replicas_ready 1".into(),
        "# TYPE gonka_mlnode_engine_restarts_total counter".into(),
        "gonka_mlnode_poc_generating 0".into(),
        // The engine's own metrics, appended.
        "vllm:request_success_total{engine=\"simulator\"} 1".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("# EOF"), "{text}");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_loading_engine_shows_as_loading() {
    // Loads for a minute: the scrape happens while it loads.
    let node = Node::start(simulator_loading_for(Duration::from_secs(60))).await;
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up("Qwen/QwQ-32B", &[]))
        .await;
    assert_eq!(status, 202);
    let text = metrics_text(&node).await;
    assert!(
        text.contains("gonka_mlnode_engine_state{state=\"loading\"} 1"),
        "{text}"
    );
    node.post("/api/v1/inference/down", json!({})).await;
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_dead_engine_is_failed_and_its_restarts_are_counted() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.backoff.max_failures = 2;
    let node = Node::start(config).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        up("m", &["--fake-crash-after", "0.2"]),
    )
    .await;
    node.wait_state("the engine given up", |s| {
        s["replicas"][0]["health"] == "failed"
    })
    .await;
    let text = metrics_text(&node).await;
    assert!(
        text.contains("gonka_mlnode_engine_state{state=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("gonka_mlnode_engine_restarts_total 1"),
        "{text}"
    );
    // No engine to pass through: ours only.
    assert!(!text.contains("vllm:"), "{text}");
    node.stop().await.unwrap();
}
