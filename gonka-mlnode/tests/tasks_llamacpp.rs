//! A deployment task instance on the real llama.cpp `llama-server` (path in `LLAMA_SERVER`, built
//! by scripts/llama-server.sh) serving a tiny random GGUF model the test writes: exact greedy text
//! through the inference port under the task's model name, then a sleep (llama.cpp sleeps by
//! stopping its process) and a request that starts it again and gets the same text, the wake in
//! the metrics, and DELETE leaving no process. Without `LLAMA_SERVER` it prints a skip line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod llamacpp_support;

use std::collections::BTreeMap;

use common::{answers, eventually, Node};
use gonka_mlnode::engine::EngineKind;
use llamacpp_support::{
    engine_config, free_port, llama_server, tiny_model, EXPECTED_HELLO, FAST_ARGS,
};
use serde_json::{json, Value};

async fn hello(node: &Node, model: &str) -> (u16, Value) {
    let r = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({
            "model": model,
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 12,
            "temperature": 0,
        }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_llamacpp_instance_sleeps_by_stopping_and_a_request_restarts_it() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model_file = tiny_model(dir.path());
    let state_dir = dir.path().join("state");
    let mut config = engine_config(EngineKind::Llamacpp, &server, BTreeMap::new());
    config.state_dir = Some(state_dir.clone());
    let node = Node::start(config).await;
    let port = free_port();
    let launch = json!({
        "model": "tiny-chat", "model_path": model_file.to_str().unwrap(), "engine": "llamacpp",
        "port": port, "args": FAST_ARGS,
    });
    let (code, t) = node.put_task("t-llama", &launch).await;
    assert_eq!(code, 202, "{t}");
    assert_eq!(t["sleep_mode"], "restart");
    node.wait_task("t-llama", "running").await;
    assert!(state_dir.join("engine-task-t-llama.pid").exists());
    let (code, answer) = hello(&node, "tiny-chat").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], EXPECTED_HELLO);
    assert_eq!(
        answer["model"], "tiny-chat",
        "llama-server answers its --alias"
    );

    let (code, t) = node.post("/api/v1/tasks/t-llama/sleep", json!({})).await;
    assert_eq!((code, t["state"].as_str()), (202, Some("sleeping")), "{t}");
    eventually("llama-server stopped", || async {
        (!answers(port).await && !state_dir.join("engine-task-t-llama.pid").exists()).then_some(())
    })
    .await;

    let (code, answer) = hello(&node, "tiny-chat").await;
    assert_eq!(code, 200, "woken by the request: {answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], EXPECTED_HELLO);
    node.wait_task("t-llama", "running").await;
    let metrics = node
        .client
        .get(format!("{}/metrics", node.mgmt))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gonka_mlnode_task_wake_seconds_count 1"),
        "{metrics}"
    );

    let r = node
        .client
        .delete(format!("{}/api/v1/tasks/t-llama", node.mgmt))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!answers(port).await);
    assert!(!state_dir.join("engine-task-t-llama.pid").exists());
    node.stop().await.unwrap();
}
