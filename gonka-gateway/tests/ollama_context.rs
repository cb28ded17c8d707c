//! Ollama's `options.num_ctx` and `/api/ps` against a node that reports its loaded context
//! (a fake ML node on loopback): a `num_ctx` goes to the gateway's context protection, which
//! strips one the loaded context holds before the engine sees it and keeps a larger one; an
//! absurd one is a 400 naming the field; `/api/ps` shows the node's loaded model with its
//! context window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use serde_json::{json, Value};

async fn gateway_with_context(context: u32) -> (gonka_gateway::RunningGateway, FakeMlNode) {
    let node = FakeMlNode::start(FakeOptions {
        context_length: Some(context),
        ..FakeOptions::serving(MODEL)
    });
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    eventually("the loaded context reaches the gateway", || async {
        gw.pool.snapshot().iter().any(|s| {
            s.view
                .loaded
                .first()
                .is_some_and(|l| l.context_length == context)
        })
    })
    .await;
    (gw, node)
}

async fn chat(gw: &gonka_gateway::RunningGateway, options: Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/api/chat", gw.public_addr))
        .json(&json!({"model": MODEL, "stream": false, "options": options,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn num_ctx_goes_to_context_protection_stripped_when_the_loaded_context_holds_it() {
    let (gw, node) = gateway_with_context(8_192).await;
    let resp = chat(&gw, json!({"num_ctx": 4_096, "temperature": 0.1})).await;
    assert_eq!(resp.status(), 200);
    let body = node.state.last_body.lock().unwrap().clone().unwrap();
    assert!(body.get("num_ctx").is_none(), "{body}");
    assert!(body.get("options").is_none(), "{body}");
    assert_eq!(body["temperature"], 0.1);
    // One the loaded context does not hold reaches the protection too, which leaves it for the
    // engine (the only node has nothing bigger).
    let resp = chat(&gw, json!({"num_ctx": 16_384})).await;
    assert_eq!(resp.status(), 200);
    let body = node.state.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["num_ctx"], 16_384, "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_absurd_num_ctx_is_a_400_naming_it_and_reaches_no_node() {
    let (gw, node) = gateway_with_context(8_192).await;
    for absurd in [json!(0), json!(-8), json!(1e15), json!("big")] {
        let resp = chat(&gw, json!({ "num_ctx": absurd })).await;
        assert_eq!(resp.status(), 400, "{absurd}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("options.num_ctx"),
            "{body}"
        );
    }
    assert_eq!(node.state.arrived(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn ps_shows_the_loaded_model_with_its_context_and_node() {
    let (gw, _node) = gateway_with_context(32_768).await;
    let ps: Value = client()
        .get(format!("http://{}/api/ps", gw.public_addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = ps["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{ps}");
    assert_eq!(models[0]["name"], MODEL);
    assert_eq!(models[0]["node_id"], "n1");
    assert_eq!(models[0]["context_length"], 32_768);
    gw.shutdown().await;
}
