//! Deployment endpoint API keys on the public API, with real servers: a group's key is accepted
//! beside `--api-key` but only for its own model (another model answers 403 naming the model
//! and the key's deployment, on /v1 and on Ollama's API), its requests go to its group's nodes,
//! and once the group is deleted the key stops working within a refresh (401). On a gateway
//! without `--api-key` the scoping holds all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::deploy_fleet::{ask, DeployFleet};
use common::{client, eventually, test_config};
use gonka_admin::client::TaskAction;
use serde_json::{json, Value};

const STATIC_KEY: &str = "sk-static-operator-key";

/// A fleet with group `svc-a` running on node a (serving `svc-a`) and node b serving `other`.
async fn fleet(api_keys: &[&str]) -> (DeployFleet, gonka_admin::client::CreatedTaskGroup) {
    let mut config = test_config();
    config.api_keys = api_keys.iter().map(|k| k.to_string()).collect();
    let mut fleet = DeployFleet::start(config).await;
    fleet.add_node("a", "svc-a").await;
    fleet.add_node("b", "other").await;
    let g = fleet
        .create_group(json!({"name": "svc-a", "estimated_gpu_memory_mb": 1000}))
        .await;
    fleet.run_group_on(&g, &["a"]).await;
    fleet.wait_running(&g.task_group.id, 1).await;
    (fleet, g)
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_key_serves_its_own_model_only_and_dies_with_its_group() {
    let (fleet, g) = fleet(&[STATIC_KEY]).await;
    let key = g.api_key.clone().unwrap();
    let (http, base) = (client(), fleet.public());

    // Its own model: accepted although it is not an --api-key, routed to its group.
    let own = ask(&http, &base, "svc-a", Some(&key)).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.node.as_deref(), Some("a"));
    assert_eq!(own.route.as_deref(), Some(g.model_route.id.as_str()));
    // Another model: 403 in OpenAI's shape, naming the model and the key's deployment.
    let resp = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&common::chat_body("other", false))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(body["error"]["code"], "key_scope");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`other`") && message.contains("`svc-a`"),
        "{message}"
    );
    // The same through Ollama's API.
    let resp = http
        .post(format!("{base}/api/chat"))
        .bearer_auth(&key)
        .json(&json!({"model": "other", "stream": false,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("svc-a"), "{body}");
    // The operator's key is not scoped; a wrong key is refused.
    assert_eq!(
        ask(&http, &base, "other", Some(STATIC_KEY)).await.status,
        200
    );
    assert_eq!(
        ask(&http, &base, "svc-a", Some("sk-wrong")).await.status,
        401
    );

    // The group is stopped and deleted: its key stops working within a refresh.
    for t in &g.tasks {
        fleet
            .admin
            .task_action(&t.id, TaskAction::Stop)
            .await
            .unwrap();
    }
    let now = 2;
    gonka_core::deploy::store::refresh_group(fleet.store.as_ref(), &g.task_group.id, now)
        .await
        .unwrap();
    fleet
        .admin
        .delete_task_group(&g.task_group.id)
        .await
        .unwrap();
    eventually("the deleted group's key is refused", || async {
        ask(&http, &base, "svc-a", Some(&key)).await.status == 401
    })
    .await;
    assert_eq!(
        ask(&http, &base, "svc-a", Some(STATIC_KEY)).await.status,
        200
    );
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_api_keys_an_endpoint_key_is_still_scoped_to_its_model() {
    let (fleet, g) = fleet(&[]).await;
    let key = g.api_key.clone().unwrap();
    let (http, base) = (client(), fleet.public());
    assert_eq!(ask(&http, &base, "svc-a", Some(&key)).await.status, 200);
    assert_eq!(ask(&http, &base, "other", Some(&key)).await.status, 403);
    // The gateway is open: no key, or any other key, reaches every model.
    assert_eq!(ask(&http, &base, "other", None).await.status, 200);
    assert_eq!(
        ask(&http, &base, "other", Some("sk-anything")).await.status,
        200
    );
    fleet.gw.shutdown().await;
}
