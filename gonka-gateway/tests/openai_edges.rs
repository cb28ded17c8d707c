//! The public API's edges in OpenAI's shape: 404 and 405 bodies (405 with `Allow`),
//! `GET /v1/models/{id}`, `Retry-After` on 429/503 (also in `routing.rs`), no internal address in
//! a 502, `/v1/embeddings` and operator-chosen routes passed through to real simulated ML nodes
//! (and the `openai` Python SDK's `models.retrieve` and `embeddings.create`), and optional CORS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use serde_json::{json, Value};

async fn start_devnet(config: DevnetConfig) -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: 1,
        ready_timeout: Duration::from_secs(30),
        ..config
    };
    config.gateway.health_interval = Duration::from_millis(100);
    devnet::start(config, listeners).await.unwrap()
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow_in_the_openai_shape() {
    let gw = start(test_config()).await;
    let base = format!("http://{}", gw.public_addr);
    let resp = client()
        .get(format!("{base}/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let resp = client()
        .get(format!("{base}/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "method GET is not allowed on /v1/chat/completions",
            "type": "invalid_request_error", "code": "method_not_allowed", "param": null}})
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_model_is_retrieved_by_an_id_with_a_slash_and_an_unknown_one_is_404() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let base = format!("http://{}", gw.public_addr);
    let resp = client()
        .get(format!("{base}/v1/models/{MODEL}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], MODEL);
    assert_eq!(body["object"], "model");
    let resp = client()
        .get(format!("{base}/v1/models/nobody/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_502_names_the_node_but_not_its_address() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    // The management API answers (the node is routable) but nothing listens on its inference
    // port: every try fails to connect.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let config_n1 = gonka_core::NodeConfig::new("n1", MODEL)
        .at("127.0.0.1", dead_port, node.mgmt_addr.port())
        .max_concurrent(2);
    let mut config = test_config();
    config.max_tries = 1;
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, config_n1).await;
    wait_routable(&gw, MODEL, 1).await;
    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("node n1"), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains(&dead_port.to_string()), "{message}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embeddings_and_allowed_routes_pass_through_to_the_engine() {
    let mut config = DevnetConfig::default();
    config.gateway.passthrough_routes = vec!["/v1/embeddings".into(), "/tokenize".into()];
    let net = start_devnet(config).await;
    let base = format!("http://{}", net.gateway.public_addr);
    let resp = client()
        .post(format!("{base}/v1/embeddings"))
        .json(&json!({"model": devnet::DEFAULT_MODEL, "input": ["a b", "c"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    let resp = client()
        .post(format!("{base}/tokenize"))
        .json(&json!({"model": devnet::DEFAULT_MODEL, "prompt": "one two three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["count"], 3);
    // A route nobody allowed stays unknown.
    let resp = client()
        .post(format!("{base}/v1/rerank"))
        .json(&json!({"model": devnet::DEFAULT_MODEL}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // A model nobody serves is 404 on a passthrough route too.
    let resp = client()
        .post(format!("{base}/v1/embeddings"))
        .json(&json!({"model": "nobody/none", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openai_python_sdk_retrieves_models_and_creates_embeddings() {
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    let net = start_devnet(DevnetConfig::default()).await;
    let base = format!("http://{}/v1", net.gateway.public_addr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_edges.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&base)
        .arg(devnet::DEFAULT_MODEL)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["retrieved_id"], devnet::DEFAULT_MODEL);
    assert_eq!(
        out["retrieve_unknown"],
        json!({"status": 404, "code": "model_not_found"})
    );
    assert_eq!(out["embedding_count"], 3);
    assert_eq!(out["embedding_dims"], json!([16, 16, 16]));
    assert_eq!(out["same_input_same_vector"], true);
    assert_eq!(out["different_input_different_vector"], true);
    assert_eq!(out["embedding_usage"], 6);
    assert_eq!(out["float_matches_base64"], true);
    net.shutdown().await;
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_preflights_for_listed_origins() {
    let gw = start(test_config()).await;
    let resp = client()
        .get(format!("http://{}/v1/models", gw.public_addr))
        .header("origin", "https://chat.example.com")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    gw.shutdown().await;

    let mut config = test_config();
    config.cors_origins = vec!["https://chat.example.com".into()];
    let gw = start(config).await;
    let preflight = |origin: &'static str| {
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("http://{}/v1/chat/completions", gw.public_addr),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let resp = preflight("https://chat.example.com").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://chat.example.com"
    );
    let methods = resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let resp = preflight("https://evil.example.net").await.unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
    gw.shutdown().await;
}

#[tokio::test]
async fn invalid_passthrough_routes_refuse_to_start_naming_the_route() {
    for (routes, want) in [
        (vec!["/v1/chat/completions"], "built-in"),
        (vec!["v1/x"], "starting with /"),
        (vec!["/v1/{x}"], "may not contain"),
        (vec!["/a", "/a"], "twice"),
    ] {
        let mut config = test_config();
        config.passthrough_routes = routes.iter().map(|r| r.to_string()).collect();
        let listeners = Listeners {
            public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: None,
        };
        let e = gonka_gateway::start(config, listeners).unwrap_err();
        assert!(e.to_string().contains(want), "{routes:?}: {e}");
    }
}

#[tokio::test]
async fn routes_merged_at_start_also_answer_an_openai_405() {
    use gonka_gateway::poc::{ArtifactStore, DevnetPhaseClock, PhaseDurations, PocConfig};
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open_path(dir.path().join("poc.db"))
        .await
        .unwrap();
    let phases = PhaseDurations::within_epoch(
        Duration::from_secs(600),
        Duration::from_secs(300),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .unwrap();
    let clock = DevnetPhaseClock::paused(phases, "openai-405");
    let mut config = test_config();
    config.poc = Some(PocConfig::new(std::sync::Arc::new(clock), store));
    let gw = start(config).await;
    // The PoC participants route is merged into the public router when PoC is on.
    let resp = client()
        .post(format!(
            "http://{}/v1/epochs/current/participants",
            gw.public_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET,HEAD");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    gw.shutdown().await;
}
