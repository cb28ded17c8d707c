//! The ML node agent with a custom engine: the engine passes the shared `InferenceBackend`
//! suite, and driven through the management API the agent launches it and proxies to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gonka_examples::embed_mlnode::{agent, EchoBackend};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[tokio::test]
async fn echo_backend_conforms_to_the_inference_backend_suite() {
    gonka_core::testing::backend_suite(&EchoBackend::new(), 0).await;
}

async fn state(client: &reqwest::Client, mgmt: &str) -> Value {
    client
        .get(format!("{mgmt}/api/v1/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `/api/v1/state` (at most 600 × 50 ms) until `pred` holds; returns that state.
async fn wait_state(
    client: &reqwest::Client,
    mgmt: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = state(client, mgmt).await;
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}; last state: {last:#}");
}

#[tokio::test]
async fn the_agent_launches_the_custom_backend_and_proxies_to_it() {
    let mgmt_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mgmt = format!("http://{}", mgmt_listener.local_addr().unwrap());
    let inference = format!("http://{}", inference_listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(gonka_mlnode::run_agent(
        agent(MlNodeConfig::default()),
        mgmt_listener,
        inference_listener,
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let before = state(&client, &mgmt).await;
    assert_eq!(before["state"], "STOPPED");

    let up = client
        .post(format!("{mgmt}/api/v1/inference/up?wait=true"))
        .json(&json!({"model": "echo-model", "dtype": "auto", "additional_args": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 200, "{}", up.text().await.unwrap());
    let running = wait_state(&client, &mgmt, "INFERENCE on the echo engine", |s| {
        s["state"] == "INFERENCE" && s["inference_healthy"] == true
    })
    .await;
    assert_eq!(running["engine"], "echo", "{running:#}");
    assert_eq!(running["loaded_model"], "echo-model");
    let engine_url = running["replicas"][0]["base_url"].as_str().unwrap();
    assert!(engine_url.starts_with("http://127.0.0.1:"), "{engine_url}");

    // Through the agent's inference proxy: the custom engine answers.
    let answer: Value = client
        .post(format!("{inference}/v1/chat/completions"))
        .json(&json!({"model": "echo-model", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "echo: hello");

    let down = client
        .post(format!("{mgmt}/api/v1/inference/down"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 200);
    let after = wait_state(&client, &mgmt, "STOPPED after down", |s| {
        s["state"] == "STOPPED"
    })
    .await;
    assert_eq!(after["inference_healthy"], false);
    assert!(
        client
            .get(format!("{engine_url}/v1/models"))
            .send()
            .await
            .is_err(),
        "the echo engine's port is released after down"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .expect("run_agent returns after shutdown")
        .unwrap()
        .unwrap();
}
