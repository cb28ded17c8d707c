//! Supervision and proxying against a real llama.cpp `llama-server` on CPU. Runs when
//! `LLAMA_SERVER` (the binary) and `GONKA_TINY_GGUF` (a tiny GGUF model) are set, otherwise
//! prints a skip line (`scripts/llama-server.sh` prints a `LLAMA_SERVER`; `gonka-mlnode tiny-model
//! OUT.gguf` writes a model for `GONKA_TINY_GGUF`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{alive, sse_data, Node};
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::MlNodeConfig;
use serde_json::json;

#[tokio::test]
async fn real_llama_server_streams_through_the_proxy_and_stops_cleanly() {
    let (Ok(bin), Ok(gguf)) = (
        std::env::var("LLAMA_SERVER"),
        std::env::var("GONKA_TINY_GGUF"),
    ) else {
        println!("skipped: LLAMA_SERVER or GONKA_TINY_GGUF unset");
        return;
    };
    let mut config = MlNodeConfig {
        engine: EngineKind::Llamacpp,
        engine_cmd: Some(bin),
        grace_period: Duration::from_secs(5),
        startup_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(20),
        ..MlNodeConfig::default()
    };
    config.model_files.insert("tiny".into(), gguf.into());
    let node = Node::start(config).await;
    let body = json!({"model": "tiny", "additional_args": ["-c", "2048", "-np", "2", "-t", "1"]});
    node.post("/api/v1/inference/up?wait=false", body).await;
    let state = node.wait_inference_healthy().await;
    let pid = u32::try_from(state["pid"].as_u64().unwrap()).unwrap();

    let models: serde_json::Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "tiny");
    let text = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({
            "model": "tiny", "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 8, "seed": 1, "stream": true, "stream_options": {"include_usage": true}
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let usage: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 8);

    node.post("/api/v1/inference/down", json!({})).await;
    assert!(!alive(pid));
    node.stop().await.unwrap();
}
