//! The openai Python SDK streams a chat completion from the simulator through the inference
//! proxy and gets every token (script: tests/python/stream_chat.py). Runs when `GONKA_PYTHON`
//! is set (scripts/test.sh sets it); otherwise prints a skip line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Node;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;

#[tokio::test]
async fn openai_python_sdk_streams_every_token_through_the_proxy() {
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    let config = MlNodeConfig {
        model: Some("sim-model".into()),
        simulator: SimulatorConfig {
            inter_token_latency: Duration::from_millis(2),
            output_tokens: 64,
            ..SimulatorConfig::default()
        },
        ..MlNodeConfig::default()
    };
    let node = Node::start(config).await;
    node.wait_inference_healthy().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/stream_chat.py");
    let base_url = format!("{}/v1", node.inference);
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .args([
                script,
                "--base-url",
                &base_url,
                "--model",
                "sim-model",
                "--max-tokens",
                "24",
                "--seed",
                "11",
            ])
            .env("NO_PROXY", "127.0.0.1,localhost")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python script finished within 120 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "script failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["chunks"], 24);
    assert_eq!(report["completion_tokens"], 24);
    assert_eq!(report["text"], report["expected"]);
    assert_eq!(report["finish_reason"], "length");
    node.stop().await.unwrap();
}
