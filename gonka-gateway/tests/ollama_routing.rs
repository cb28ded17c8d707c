//! Ollama requests take the same path as OpenAI ones: a failure before the first byte is
//! retried on another node (and counted in `gonka_gateway_retries_total`), fallback models
//! serve a model with no node, and routing hints (`x-gonka-*` headers) apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use serde_json::{json, Value};

async fn post(
    gw: &gonka_gateway::RunningGateway,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .post(format!("http://{}{path}", gw.public_addr))
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_chat_failing_before_its_first_byte_is_retried_on_another_node() {
    let a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 2)).await;
    register(&registry, b.config("b", 2)).await;
    wait_routable(&gw, MODEL, 2).await;
    // least-busy breaks ties by registration order: the first try goes to `a`, which fails.
    a.state.fail_next.store(1, Ordering::SeqCst);
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    let resp = post(&gw, "/api/chat", body, &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["done"], true, "{text}");
    assert_eq!(a.state.received(), 1);
    assert_eq!(b.state.received(), 1);
    let metrics = gw.metrics.render(&gw.pool);
    assert!(
        metrics.contains(&format!(
            "gonka_gateway_retries_total{{model=\"{MODEL}\"}} 1"
        )),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_fallback_model_serves_an_ollama_request() {
    let node = FakeMlNode::start(FakeOptions::serving(OTHER_MODEL));
    let mut config = test_config();
    config
        .fallbacks
        .insert(MODEL.to_owned(), vec![OTHER_MODEL.to_owned()]);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, OTHER_MODEL, 1).await;
    let body = json!({"model": MODEL, "prompt": "hi", "stream": false});
    let resp = post(&gw, "/api/generate", body, &[]).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["done"], true);
    assert_eq!(answer["response"], "tok ".repeat(5));
    assert_eq!(node.state.received(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn routing_hint_headers_apply_to_ollama_requests() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let body = json!({"model": MODEL, "prompt": "hi", "stream": false});
    // A malformed hint is a 400 naming its header, as on /v1, and nothing is routed.
    let bad = post(
        &gw,
        "/api/generate",
        body.clone(),
        &[("x-gonka-min-vram-mb", "lots")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let error: Value = bad.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("x-gonka-min-vram-mb"),
        "{error}"
    );
    assert_eq!(node.state.arrived(), 0);
    let ok = post(&gw, "/api/generate", body, &[("x-gonka-priority", "5")]).await;
    assert_eq!(ok.status(), 200);
    gw.shutdown().await;
}
