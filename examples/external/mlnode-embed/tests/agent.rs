//! The home-made engine passes gonka's `InferenceBackend` suite, and the gonka agent, driven
//! through its management API, launches it and proxies inference to it.

use std::time::Duration;

use mlnode_embed::{agent, ShoutBackend};
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[tokio::test]
async fn shout_backend_conforms() {
    gonka_core::testing::backend_suite(&ShoutBackend::default(), 0).await;
}

async fn state(client: &reqwest::Client, mgmt: &str) -> Value {
    let response = client.get(format!("{mgmt}/api/v1/state")).send().await;
    response.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_agent_serves_through_the_home_made_engine() {
    let mgmt_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mgmt = format!("http://{}", mgmt_listener.local_addr().unwrap());
    let inference = format!("http://{}", inference_listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(gonka_mlnode::run_agent(
        agent(gonka_mlnode::MlNodeConfig::default()),
        mgmt_listener,
        inference_listener,
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let up = client
        .post(format!("{mgmt}/api/v1/inference/up?wait=true"))
        .json(&json!({"model": "shout-model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 200);
    let mut last = Value::Null;
    for _ in 0..600 {
        last = state(&client, &mgmt).await;
        if last["state"] == "INFERENCE" && last["inference_healthy"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["state"], "INFERENCE", "{last:#}");
    assert_eq!(last["engine"], "shout");
    assert_eq!(last["loaded_model"], "shout-model");

    let answer: Value = client
        .post(format!("{inference}/v1/chat/completions"))
        .json(&json!({"model": "shout-model", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "HELLO");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .expect("run_agent returns after shutdown")
        .unwrap()
        .unwrap();
}
