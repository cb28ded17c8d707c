//! Upstream's `/{version}` URL prefix (issue 13 item 3): every route an upstream network node
//! calls, on the management and the inference port, answers under `/v3.0.8/...` exactly as
//! without it, and the unprefixed routes keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Node;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

const PREFIX: &str = "/v3.0.8";

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn management_routes_answer_with_and_without_the_version_prefix() {
    let node = Node::start(MlNodeConfig::default()).await;
    for prefix in [PREFIX, ""] {
        let (status, state) = node.get(&format!("{prefix}/api/v1/state")).await;
        assert_eq!(status, 200, "{prefix}/api/v1/state");
        assert_eq!(state["state"], "STOPPED");
        for path in [
            "/health",
            "/api/v1/inference/pow/status",
            "/api/v1/inference/up/status",
            "/api/v1/gpu/devices",
        ] {
            let (status, _) = node.get(&format!("{prefix}{path}")).await;
            assert_eq!(status, 200, "{prefix}{path}");
        }
    }

    let up = json!({"model": "Qwen/Qwen3-32B-FP8", "dtype": "auto", "additional_args": []});
    let (status, _) = node
        .post(&format!("{PREFIX}/api/v1/inference/up"), up)
        .await;
    assert!(
        (200..300).contains(&status),
        "prefixed up answered {status}"
    );
    let state = node.wait_inference_healthy().await;
    assert_eq!(state["loaded_model"], "Qwen/Qwen3-32B-FP8");
    let (_, prefixed) = node.get(&format!("{PREFIX}/api/v1/state")).await;
    assert_eq!(prefixed["state"], "INFERENCE");

    let (status, body) = node.post(&format!("{PREFIX}/api/v1/stop"), json!({})).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_prefixed_route_is_404_and_a_non_version_segment_is_not_stripped() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node.get(&format!("{PREFIX}/api/v1/nope")).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("/api/v1/nope"));
    // `/v3/...` is not a version (no dot): nothing is stripped, nothing matches.
    let (status, _) = node.get("/v3/api/v1/state").await;
    assert_eq!(status, 404);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn the_token_is_still_required_under_the_prefix() {
    let node = Node::start(MlNodeConfig {
        token: Some("s3cret".into()),
        ..MlNodeConfig::default()
    })
    .await;
    let (status, _) = node.get(&format!("{PREFIX}/api/v1/state")).await;
    assert_eq!(status, 401);
    let (status, _) = node.get(&format!("{PREFIX}/health")).await;
    assert_eq!(status, 200);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn inference_routes_answer_with_and_without_the_version_prefix() {
    let node = Node::start(MlNodeConfig::default()).await;
    let client = common::client();
    // No engine yet: /health is 503 under both paths.
    for prefix in [PREFIX, ""] {
        let (status, _) = get(&client, format!("{}{prefix}/health", node.inference)).await;
        assert_eq!(status, 503, "{prefix}/health before up");
    }
    node.post(
        "/api/v1/inference/up",
        json!({"model": "m-served", "dtype": "auto", "additional_args": []}),
    )
    .await;
    node.wait_inference_healthy().await;
    for prefix in [PREFIX, ""] {
        let (status, _) = get(&client, format!("{}{prefix}/health", node.inference)).await;
        assert_eq!(status, 200, "{prefix}/health");
        let (status, models) = get(&client, format!("{}{prefix}/v1/models", node.inference)).await;
        assert_eq!(status, 200, "{prefix}/v1/models");
        assert_eq!(models["data"][0]["id"], "m-served");
        let r = client
            .post(format!("{}{prefix}/v1/chat/completions", node.inference))
            .json(&json!({
                "model": "m-served",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{prefix}/v1/chat/completions");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
    }
    node.stop().await.unwrap();
}
