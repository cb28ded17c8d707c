//! Kubernetes-style probes of the management port: `/livez` checks only that the process
//! serves; `/readyz` is 200 while the engine serves or the node is idle on purpose and 503
//! (naming why) while it loads, after its engine was killed, and after an up failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{alive, eventually, fake_engine_config, Node};
use gonka_mlnode::engine::EngineKind;
use serde_json::{json, Value};

fn up_body(model: &str) -> Value {
    json!({"model": model, "dtype": "auto", "additional_args": []})
}

#[tokio::test]
async fn readyz_is_ready_when_idle_on_purpose_and_after_a_down() {
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    assert_eq!(
        node.get("/readyz").await,
        (200, json!({"ready": true, "reason": "idle"}))
    );
    let (status, _) = node.post("/api/v1/inference/up", up_body("m")).await;
    assert_eq!(status, 200);
    assert_eq!(
        node.get("/readyz").await,
        (200, json!({"ready": true, "reason": "serving"}))
    );
    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        node.get("/readyz").await,
        (200, json!({"ready": true, "reason": "idle"}))
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn readyz_is_503_after_an_up_failed_and_names_the_reason_while_livez_stays_200() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.engine_cmd = Some("/nonexistent/gonka-probe-engine".into());
    let node = Node::start(config).await;
    let (status, _) = node.post("/api/v1/inference/up", up_body("m")).await;
    assert_eq!(status, 500);
    let (code, ready) = node.get("/readyz").await;
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["ready"], false);
    let reason = ready["reason"].as_str().unwrap();
    assert!(reason.starts_with("engine failed"), "{reason}");
    assert!(
        reason.contains("/nonexistent/gonka-probe-engine"),
        "{reason}"
    );
    assert_eq!(node.get("/livez").await, (200, json!({"status": "alive"})));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn readyz_is_503_while_a_killed_engine_is_restarted_and_200_once_it_serves_again() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    // A restart delay long enough that the probe sees the gap between death and restart.
    config.backoff.initial = std::time::Duration::from_secs(2);
    config.backoff.max = std::time::Duration::from_secs(2);
    let node = Node::start(config).await;
    let (status, _) = node.post("/api/v1/inference/up", up_body("m")).await;
    assert_eq!(status, 200);
    let state = node.state().await;
    let pid = u32::try_from(state["pid"].as_u64().unwrap()).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Not ready from when the agent sees the engine gone until a new one serves.
    let not_ready = eventually("readyz 503 after the engine was killed", || async {
        let (code, body) = node.get("/readyz").await;
        (code == 503).then_some(body)
    })
    .await;
    assert_eq!(not_ready["ready"], false);
    assert!(not_ready["reason"].is_string(), "{not_ready}");
    eventually("readyz 200 once the restarted engine serves", || async {
        let (code, body) = node.get("/readyz").await;
        (code == 200 && body["reason"] == "serving").then_some(())
    })
    .await;
    assert!(!alive(pid));
    node.stop().await.unwrap();
}
