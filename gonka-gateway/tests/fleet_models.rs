//! Model lifecycle across the fleet through real agents: `/dashboard/api/pull` and
//! `/dashboard/api/delete` reach the agent's model endpoints (downloads come from a stand-in
//! Hugging Face hub on loopback, never the internet), `/dashboard/api/model-management` lists
//! what each node has on disk, bad input is a 4xx naming the problem; auto-pull of a model no
//! node has, and VRAM fallback to a loaded model of the same family.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../gonka-mlnode/tests/hub_support/mod.rs"]
mod hub_support;

use std::path::Path;
use std::time::Duration;

use common::{chat_body, client, eventually, register, start, test_config, wait_routable, MODEL};
use gonka_core::{GovernanceModels, NodeConfig};
use gonka_gateway::RunningGateway;
use gonka_mlnode::models::HubSettings;
use gonka_mlnode::MlNodeConfig;
use hub_support::FakeHub;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A real agent (simulator engine serving `model`) whose model cache is `cache` and whose hub
/// is `hub`; returns its node config (id `id`) and the sender that stops it.
async fn agent(
    id: &str,
    model: &str,
    cache: &Path,
    hub: &FakeHub,
) -> (NodeConfig, oneshot::Sender<()>) {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = NodeConfig::new(id, model)
        .at(
            "127.0.0.1",
            inference.local_addr().unwrap().port(),
            mgmt.local_addr().unwrap().port(),
        )
        .max_concurrent(4);
    let config = MlNodeConfig {
        model: Some(model.into()),
        models_dir: Some(cache.to_path_buf()),
        hub: HubSettings {
            endpoint: hub.url.clone(),
            max_retries: 1,
            retry_delay: Duration::from_millis(10),
            ..HubSettings::default()
        },
        ..MlNodeConfig::default()
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = rx.await;
    }));
    (node, tx)
}

async fn admin_post(
    gw: &RunningGateway,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = client()
        .post(format!("http://{}{path}", gw.admin_addr.unwrap()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn inventory(gw: &RunningGateway) -> Value {
    client()
        .get(format!(
            "http://{}/dashboard/api/model-management",
            gw.admin_addr.unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The disk entry of `model` on node `id` in the inventory, if any.
fn on_disk(inventory: &Value, id: &str, model: &str) -> Option<Value> {
    inventory["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["node_id"] == id)?["disk"]
        .as_array()?
        .iter()
        .find(|d| d["model"] == model)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_and_delete_go_through_the_agent_and_the_inventory_shows_the_disk() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    let (node, _stop) = agent("gpu-1", MODEL, cache.path(), &hub).await;
    register(&registry, node).await;
    wait_routable(&gw, MODEL, 1).await;

    let inv = inventory(&gw).await;
    assert_eq!(inv["nodes"][0]["node_id"], "gpu-1", "{inv}");
    assert_eq!(inv["nodes"][0]["loaded"][0]["name"], MODEL, "{inv}");
    assert_eq!(inv["nodes"][0]["error"], Value::Null, "{inv}");
    assert!(on_disk(&inv, "gpu-1", "org/tiny").is_none());

    let (status, body) = admin_post(
        &gw,
        "/dashboard/api/pull",
        json!({"model": "org/tiny", "node_id": "gpu-1"}).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["node_id"], "gpu-1");
    assert_eq!(body["task_id"], "org/tiny:latest");
    eventually("the pulled model is on the node's disk", || async {
        on_disk(&inventory(&gw).await, "gpu-1", "org/tiny")
            .is_some_and(|d| d["status"] == "DOWNLOADED")
    })
    .await;
    let entry = on_disk(&inventory(&gw).await, "gpu-1", "org/tiny").unwrap();
    assert!(entry["size_bytes"].as_u64().unwrap() > 4096, "{entry}");
    assert!(cache.path().join("models--org--tiny").is_dir());

    let (status, body) = admin_post(
        &gw,
        "/dashboard/api/delete",
        json!({"model": "org/tiny", "node_id": "gpu-1"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deleted");
    assert!(on_disk(&inventory(&gw).await, "gpu-1", "org/tiny").is_none());
    assert!(!cache.path().join("models--org--tiny").exists());
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_pull_and_delete_requests_are_4xx_naming_the_problem() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    let (node, _stop) = agent("gpu-1", MODEL, cache.path(), &hub).await;
    register(&registry, node).await;
    wait_routable(&gw, MODEL, 1).await;

    let cases: [(&str, String, u16, &str); 7] = [
        (
            "/dashboard/api/pull",
            "{not json".into(),
            400,
            "body must be",
        ),
        (
            "/dashboard/api/pull",
            json!({"model": "org/tiny"}).to_string(),
            400,
            "node_id",
        ),
        (
            "/dashboard/api/pull",
            json!({"model": " ", "node_id": "gpu-1"}).to_string(),
            400,
            "\"model\" is empty",
        ),
        (
            "/dashboard/api/pull",
            json!({"model": "org/tiny", "node_id": "nope"}).to_string(),
            404,
            "unknown node \"nope\"",
        ),
        (
            "/dashboard/api/delete",
            json!({"model": "org/tiny", "node_id": "nope"}).to_string(),
            404,
            "unknown node \"nope\"",
        ),
        (
            "/dashboard/api/delete",
            json!({"model": "org/absent", "node_id": "gpu-1"}).to_string(),
            404,
            "could not delete model \"org/absent\"",
        ),
        (
            "/dashboard/api/pull",
            json!({"model": "not a repo id", "node_id": "gpu-1"}).to_string(),
            400,
            "could not pull model \"not a repo id\"",
        ),
    ];
    for (path, body, want, names) in cases {
        let (status, answer) = admin_post(&gw, path, body.clone()).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{path} {body}: {answer}");
    }
    assert!(on_disk(&inventory(&gw).await, "gpu-1", "org/tiny").is_none());
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_pull_answers_503_with_retry_after_and_pulls_onto_a_node() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.governance = GovernanceModels::new([MODEL, "org/tiny"]);
    config.fleet.auto_pull = true;
    config.fleet.pull_retry_after = Duration::from_secs(7);
    let registry = config.registry.clone();
    let gw = start(config).await;
    let (node, _stop) = agent("gpu-1", MODEL, cache.path(), &hub).await;
    register(&registry, node).await;
    wait_routable(&gw, MODEL, 1).await;

    let chat = |model: &'static str| {
        let gw = gw.public_addr;
        async move {
            client()
                .post(format!("http://{gw}/v1/chat/completions"))
                .json(&chat_body(model, false))
                .send()
                .await
                .unwrap()
        }
    };
    let r = chat("org/tiny").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_pulling", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gpu-1"),
        "{body}"
    );

    // Pulled onto the node, then declared for it in the registry.
    eventually("the model is added to the node", || async {
        registry
            .get("gpu-1")
            .await
            .is_ok_and(|r| r.node.serves("org/tiny"))
    })
    .await;
    assert!(cache.path().join("models--org--tiny").is_dir());

    // A model outside the governance list is not pulled: 404 as without the flag.
    let r = chat("org/not-governed").await;
    assert_eq!(r.status(), 404);
    assert!(!cache.path().join("models--org--not-governed").exists());
    gw.shutdown().await;
}

const SMALL: &str = "Qwen/Qwen2.5-7B-Instruct";
const LARGE: &str = "Qwen/Qwen2.5-14B-Instruct";

/// A gateway with a node serving [`SMALL`] (loaded) and a node declaring [`LARGE`] that never
/// comes up (nothing listens at its address): no node has LARGE loaded.
async fn family_fleet(
    vram_fallback: bool,
) -> (RunningGateway, oneshot::Sender<()>, tempfile::TempDir) {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.queue_timeout = Duration::from_millis(300);
    config.fleet.vram_fallback = vram_fallback;
    let registry = config.registry.clone();
    let gw = start(config).await;
    let (small, stop) = agent("small", SMALL, cache.path(), &hub).await;
    register(&registry, small).await;
    register(
        &registry,
        NodeConfig::new("large", LARGE).at("127.0.0.1", 1, 1),
    )
    .await;
    wait_routable(&gw, SMALL, 1).await;
    (gw, stop, cache)
}

async fn chat_at(gw: &RunningGateway, model: &str) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(model, false))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vram_fallback_routes_to_a_loaded_model_of_the_same_family_and_says_so() {
    let (gw, _stop, _cache) = family_fleet(true).await;
    let r = chat_at(&gw, LARGE).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-gonka-vram-fallback"], SMALL);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], SMALL, "{body}");

    // The loaded model itself: no fallback header.
    let r = chat_at(&gw, SMALL).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-gonka-vram-fallback").is_none());

    // Another family is not a fallback.
    let r = chat_at(&gw, MODEL).await;
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_vram_fallback_a_model_loaded_nowhere_waits_and_gets_503() {
    let (gw, _stop, _cache) = family_fleet(false).await;
    let r = chat_at(&gw, LARGE).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("x-gonka-vram-fallback").is_none());
    gw.shutdown().await;
}
