//! Deployment task instances on process engines, with the fake engine standing in for vLLM and
//! SGLang (no GPU here): the command line (served name, weights, sleep mode, context), the GPU
//! binding environment, the pid file in the state directory, vLLM's in-engine sleep (the process
//! stays) and SGLang's restart sleep (the process stops and a request starts it again).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{answers, eventually, fake_engine_config, free_port, Node};
use gonka_mlnode::engine::EngineKind;
use serde_json::{json, Value};

async fn chat(node: &Node, model: &str) -> u16 {
    node.client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn launches(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_vllm_instance_gets_its_name_gpus_and_sleep_mode_and_sleeps_in_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let log = dir.path().join("launch.jsonl");
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.state_dir = Some(state_dir.clone());
    config.task_gpu_vendor = Some("amd".into());
    let node = Node::start(config).await;
    let port = free_port();
    let launch = json!({
        "model": "chat-v", "model_path": "org/weights", "engine": "vllm",
        "gpu_ids": ["2", "3"], "port": port, "max_model_len": 4096,
        "args": ["--fake-launch-log", log.to_str().unwrap()],
    });
    let (code, t) = node.put_task("t-v", &launch).await;
    assert_eq!(code, 202, "{t}");
    assert_eq!(t["sleep_mode"], "engine_sleep");
    node.wait_task("t-v", "running").await;

    let started = launches(&log);
    assert_eq!(started.len(), 1);
    let argv: Vec<&str> = started[0]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let line = argv.join(" ");
    assert!(line.starts_with("serve org/weights "), "{line}");
    for part in [
        "--served-model-name chat-v",
        "--max-model-len 4096",
        "--enable-sleep-mode",
        &format!("--port {port}"),
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert_eq!(
        started[0]["env"],
        json!({"HIP_VISIBLE_DEVICES": "2,3", "VLLM_SERVER_DEV_MODE": "1"})
    );
    assert!(state_dir.join("engine-task-t-v.pid").exists());
    assert_eq!(chat(&node, "chat-v").await, 200);

    let (code, t) = node.post("/api/v1/tasks/t-v/sleep", json!({})).await;
    assert_eq!(code, 202, "{t}");
    eventually("the engine asleep", || async {
        let v: Value = common::client()
            .get(format!("http://127.0.0.1:{port}/is_sleeping"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["is_sleeping"] == true).then_some(())
    })
    .await;
    assert_eq!(chat(&node, "chat-v").await, 200, "woken by the request");
    assert_eq!(node.wait_task("t-v", "running").await["error"], Value::Null);
    assert_eq!(
        launches(&log).len(),
        1,
        "the process stayed through the sleep"
    );

    let r = node
        .client
        .delete(format!("{}/api/v1/tasks/t-v", node.mgmt))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!answers(port).await);
    assert!(!state_dir.join("engine-task-t-v.pid").exists());
    node.stop().await.unwrap();
}

#[tokio::test]
async fn an_sglang_instance_sleeps_by_stopping_and_a_request_starts_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("launch.jsonl");
    let node = Node::start(fake_engine_config(EngineKind::Sglang)).await;
    let port = free_port();
    let launch = json!({
        "model": "chat-s", "model_path": "org/s-weights", "engine": "sglang",
        "gpu_ids": ["1"], "port": port, "tensor_parallel_size": 2,
        "args": ["--fake-launch-log", log.to_str().unwrap()],
    });
    let (code, t) = node.put_task("t-s", &launch).await;
    assert_eq!(code, 202, "{t}");
    assert_eq!(t["sleep_mode"], "restart");
    node.wait_task("t-s", "running").await;
    let line = launches(&log)[0]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        line.contains("--model-path org/s-weights")
            && line.contains("--served-model-name chat-s")
            && line.contains("--tp-size 2"),
        "{line}"
    );

    assert_eq!(node.post("/api/v1/tasks/t-s/sleep", json!({})).await.0, 202);
    eventually("the process stopped", || async {
        (!answers(port).await).then_some(())
    })
    .await;
    assert_eq!(chat(&node, "chat-s").await, 200, "woken by the request");
    assert_eq!(launches(&log).len(), 2, "started again on wake");
    let state = node.state().await;
    assert_eq!(state["tasks"][0]["state"], "running", "{state}");
    node.stop().await.unwrap();
    assert!(!answers(port).await, "shutdown stops the instance");
}

#[tokio::test]
async fn a_request_for_an_instance_whose_engine_gave_up_is_a_503_naming_the_model() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.backoff.max_failures = 2;
    let node = Node::start(config).await;
    let port = free_port();
    let launch = json!({
        "model": "chat-crash", "model_path": "org/w", "engine": "vllm", "port": port,
        "args": ["--fake-crash-after", "0.1"],
    });
    assert_eq!(node.put_task("t-c", &launch).await.0, 202);
    let t = node.wait_task("t-c", "failed").await;
    assert!(t["error"].as_str().unwrap().contains("giving up"), "{t}");
    let r = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": "chat-crash", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("chat-crash"), "{message}");
    // A failed instance is replaced by a new launch, even a different one.
    let relaunch =
        json!({"model": "chat-crash", "model_path": "org/w", "engine": "vllm", "port": port});
    assert_eq!(node.put_task("t-c", &relaunch).await.0, 202);
    node.wait_task("t-c", "running").await;
    assert_eq!(chat(&node, "chat-crash").await, 200);
    node.stop().await.unwrap();
}
