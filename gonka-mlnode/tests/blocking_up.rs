//! `POST /api/v1/inference/up` blocks like upstream's (issue 13 items 1 and 2): it answers once
//! the engine serves (200) or has failed (500 naming the reason); meanwhile `/api/v1/state` says
//! `INFERENCE` with `inference_healthy: false` and the inference port's `/health` is 503. The
//! simulator's load time makes the engine slow to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Node;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

fn slow_node(load_time: Duration) -> MlNodeConfig {
    MlNodeConfig {
        simulator: SimulatorConfig {
            load_time,
            ..SimulatorConfig::default()
        },
        ..MlNodeConfig::default()
    }
}

fn up_body(model: &str) -> Value {
    json!({"model": model, "dtype": "auto", "additional_args": []})
}

/// Sends a blocking up in its own task, as upstream's network node does.
fn spawn_up(node: &Node, path: &str, model: &str) -> JoinHandle<(u16, Value)> {
    let client = node.client.clone();
    let url = format!("{}{path}", node.mgmt);
    let body = up_body(model);
    tokio::spawn(async move {
        let r = client.post(url).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

async fn inference_health(node: &Node, prefix: &str) -> u16 {
    node.client
        .get(format!("{}{prefix}/health", node.inference))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn while_the_engine_loads_up_waits_state_is_honest_and_health_is_503() {
    // Loads far longer than the test runs: only the down below ends the start.
    let node = Node::start(slow_node(Duration::from_secs(600))).await;
    let up = spawn_up(&node, "/v3.0.8/api/v1/inference/up", "Qwen/Qwen3-235B");
    let state = node
        .wait_state("the engine loading", |s| {
            s["replicas"][0]["health"] == "starting"
        })
        .await;
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["inference_healthy"], false);
    assert_eq!(state["up_status"], "in_progress");
    for prefix in ["", "/v3.0.8"] {
        assert_eq!(
            inference_health(&node, prefix).await,
            503,
            "{prefix}/health"
        );
    }
    assert!(
        !up.is_finished(),
        "inference/up answered while the engine loads"
    );
    // A second blocking up for the same model waits for the same start.
    let again = spawn_up(&node, "/api/v1/inference/up", "Qwen/Qwen3-235B");
    // The immediate form still answers at once.
    let (status, body) = node
        .post(
            "/api/v1/inference/up?wait=false",
            up_body("Qwen/Qwen3-235B"),
        )
        .await;
    assert_eq!((status, body), (200, json!({"status": "starting"})));

    let (status, _) = node.post("/api/v1/stop", json!({})).await;
    assert_eq!(status, 200);
    for waiting in [up, again] {
        let (status, body) = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("inference/up did not answer after the stop")
            .unwrap();
        assert_eq!(status, 500);
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("Qwen/Qwen3-235B") && detail.contains("cancelled"),
            "{detail}"
        );
    }
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_blocking_up_answers_200_once_the_engine_serves() {
    let node = Node::start(slow_node(Duration::from_millis(300))).await;
    let (status, body) = node
        .post("/api/v1/inference/up", up_body("slow-model"))
        .await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    // No waiting: the answer came when the engine already served.
    let state = node.state().await;
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["inference_healthy"], true);
    assert_eq!(state["loaded_model"], "slow-model");
    assert_eq!(inference_health(&node, "").await, 200);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_blocking_up_whose_engine_fails_answers_500_naming_the_reason() {
    let mut config = common::fake_engine_config(gonka_mlnode::engine::EngineKind::Vllm);
    config.engine_cmd = Some("/nonexistent/gonka-test-engine".into());
    let node = Node::start(config).await;
    let (status, body) = node.post("/api/v1/inference/up", up_body("m")).await;
    assert_eq!(status, 500);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("/nonexistent/gonka-test-engine"),
        "{detail}"
    );
    let state = node.state().await;
    assert_eq!(state["state"], "STOPPED");
    assert_eq!(state["inference_healthy"], false);
    node.stop().await.unwrap();
}
