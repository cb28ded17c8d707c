//! PoC v2 on the ML node: `pow/init/generate` computes this node's nonces off the runtime and
//! posts them in batches to a real callback server; failed callbacks are retried without
//! duplicates; `/stop`, `/status`, `/generate` with `wait: true` (validation) and the 409/400
//! answers. Queued `/generate` jobs: `tests/poc_queue.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{eventually, Node};
use gonka_core::poc::compute::{Artifact, RoundParams};
use gonka_mlnode::poc::{PocCompute, PocSettings, TinyModelCompute};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

const BLOCK_HASH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
const PUBLIC_KEY: &str = "021111111111111111111111111111111111111111111111111111111111111111";
const MODEL: &str = "Qwen/Qwen3-32B-FP8";

#[derive(Default)]
struct Collector {
    accepted: Mutex<Vec<(String, Value)>>,
    refuse_first: AtomicUsize,
    calls: AtomicUsize,
}

async fn generated(
    State(c): State<Arc<Collector>>,
    Path(model): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let call = c.calls.fetch_add(1, Ordering::SeqCst);
    if call < c.refuse_first.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    c.accepted.lock().unwrap().push((model, body));
    StatusCode::OK
}

async fn collector(refuse_first: usize) -> (String, Arc<Collector>) {
    let c = Arc::new(Collector::default());
    c.refuse_first.store(refuse_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/v2/poc-batches/{model}/generated", post(generated))
        .with_state(c.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/v2/poc-batches/Qwen%252FQwen3-32B-FP8"),
        c,
    )
}

fn config() -> MlNodeConfig {
    MlNodeConfig {
        poc: PocSettings {
            callback_interval: Duration::from_millis(100),
            retry_initial: Duration::from_millis(20),
            retry_max: Duration::from_millis(50),
            ..PocSettings::default()
        },
        ..MlNodeConfig::default()
    }
}

fn init_body(url: &str, node_id: u32, node_count: u32) -> Value {
    json!({
        "block_hash": BLOCK_HASH, "block_height": 1200, "public_key": PUBLIC_KEY,
        "node_id": node_id, "node_count": node_count, "batch_size": 4,
        "params": {"model": MODEL, "seq_len": 8, "k_dim": 12}, "url": url,
    })
}

fn delivered(c: &Collector) -> Vec<Artifact> {
    c.accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, b)| serde_json::from_value::<Vec<Artifact>>(b["artifacts"].clone()).unwrap())
        .collect()
}

async fn stop_and_drain(node: &Node, c: &Collector) -> Value {
    let (s, _) = node.post("/api/v1/inference/pow/stop", json!({})).await;
    assert_eq!(s, 200);
    let st = eventually("every computed artifact delivered", || async {
        let (_, st) = node.get("/api/v1/inference/pow/status").await;
        (st["status"] == "IDLE" && st["pending"] == 0).then_some(st)
    })
    .await;
    assert_eq!(st["delivered"].as_u64().unwrap(), delivered(c).len() as u64);
    st
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_generate_posts_this_nodes_nonces_in_upstream_shape_until_stopped() {
    let (url, c) = collector(0).await;
    let node = Node::start(config()).await;
    let (s, body) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 1, 3))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "OK");
    let st = node.state().await;
    assert_eq!(st["state"], "POW");
    assert_eq!(st["poc_status"], "GENERATING");
    eventually("two callbacks", || async {
        (c.accepted.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    let status = stop_and_drain(&node, &c).await;
    assert_eq!(status["dropped"], 0);
    assert_eq!(node.state().await["poc_status"], "IDLE");

    let (model, first) = c.accepted.lock().unwrap()[0].clone();
    assert_eq!(model, "Qwen%2FQwen3-32B-FP8");
    assert_eq!(first["public_key"], PUBLIC_KEY);
    assert_eq!(first["block_hash"], BLOCK_HASH);
    assert_eq!(first["block_height"], 1200);
    assert_eq!(first["node_id"], 1);
    assert_eq!(
        first["encoding"],
        json!({"dtype": "f16", "k_dim": 12, "endian": "le"})
    );

    let arts = delivered(&c);
    assert!(arts.len() >= 8, "{}", arts.len());
    let nonces: Vec<u32> = arts.iter().map(|a| a.nonce).collect();
    // node 1 of 3 computes 1, 4, 7, ... in order, each once.
    let expected: Vec<u32> = (0..nonces.len() as u32).map(|x| 1 + 3 * x).collect();
    assert_eq!(nonces, expected);
    // The vectors are the reference computation's, bit for bit.
    let round = TinyModelCompute::default()
        .prepare(
            MODEL,
            RoundParams {
                seq_len: 8,
                ..RoundParams::new(BLOCK_HASH, PUBLIC_KEY)
            },
        )
        .unwrap();
    assert_eq!(round.compute(&nonces[..8]).unwrap(), arts[..8].to_vec());
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_callbacks_are_retried_and_no_nonce_is_delivered_twice() {
    let (url, c) = collector(3).await;
    let node = Node::start(config()).await;
    let (s, _) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 0, 1))
        .await;
    assert_eq!(s, 200);
    eventually("a callback accepted after the refusals", || async {
        (c.accepted.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    let status = stop_and_drain(&node, &c).await;
    assert!(c.calls.load(Ordering::SeqCst) >= 5);
    assert_eq!(status["dropped"], 0);
    let arts = delivered(&c);
    let unique: HashSet<u32> = arts.iter().map(|a| a.nonce).collect();
    assert_eq!(unique.len(), arts.len(), "a nonce was delivered twice");
    assert_eq!(status["computed"].as_u64().unwrap(), arts.len() as u64);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_round_is_a_conflict_until_stop_and_bad_requests_name_the_field() {
    let (url, c) = collector(0).await;
    let node = Node::start(config()).await;
    let (s, _) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 0, 2))
        .await;
    assert_eq!(s, 200);
    let (s, same) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 0, 2))
        .await;
    assert_eq!(s, 200, "{same}");
    assert_eq!(same["results"][0]["status"], "already_running");
    let mut other = init_body(&url, 0, 2);
    other["block_height"] = json!(1300);
    let (s, body) = node
        .post("/api/v1/inference/pow/init/generate", other.clone())
        .await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("pow/stop"),
        "{body}"
    );

    stop_and_drain(&node, &c).await;
    let (s, _) = node
        .post("/api/v1/inference/pow/init/generate", other)
        .await;
    assert_eq!(s, 200);
    node.post("/api/v1/inference/pow/stop", json!({})).await;

    let (s, body) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 2, 2))
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("node_id 2"),
        "{body}"
    );
    let mut bad = init_body(&url, 0, 1);
    bad["params"]["k_dim"] = json!(16);
    let (s, body) = node.post("/api/v1/inference/pow/init/generate", bad).await;
    assert_eq!(s, 400);
    assert!(body["detail"].as_str().unwrap().contains("k_dim"), "{body}");
    let (s, body) = node
        .post(
            "/api/v1/inference/pow/init/generate",
            json!({"block_hash": 1}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generate_with_validation_flags_tampered_artifacts() {
    let node = Node::start(config()).await;
    let nonces: Vec<u32> = (0..40).collect();
    // `wait: true`: upstream's synchronous form, answered with the result.
    let base = json!({
        "block_hash": BLOCK_HASH, "block_height": 1200, "public_key": PUBLIC_KEY, "node_id": 0,
        "nonces": nonces, "params": {"model": MODEL, "seq_len": 8}, "wait": true,
    });
    let (s, computed) = node
        .post("/api/v1/inference/pow/generate", base.clone())
        .await;
    assert_eq!(s, 200, "{computed}");
    assert_eq!(computed["status"], "completed");
    let honest = computed["artifacts"].clone();
    assert_eq!(honest.as_array().unwrap().len(), 40);

    let mut req = base.clone();
    req["validation"] = json!({"artifacts": honest});
    req["stat_test"] =
        json!({"dist_threshold": 0.4, "p_mismatch": 0.02, "p_value_threshold": 0.01});
    let (s, v) = node
        .post("/api/v1/inference/pow/generate", req.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["n_total"].clone(), v["n_mismatch"].clone()),
        (json!(40), json!(0))
    );
    assert_eq!(v["fraud_detected"], false);

    // Swap the vectors of 10 nonces: each now belongs to another nonce.
    let mut tampered = honest.as_array().unwrap().clone();
    for i in 0..10 {
        let other = tampered[i + 20]["vector_b64"].clone();
        tampered[i]["vector_b64"] = other;
    }
    req["validation"] = json!({"artifacts": tampered});
    let (s, v) = node
        .post("/api/v1/inference/pow/generate", req.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["n_mismatch"], 10);
    assert_eq!(v["fraud_detected"], true);

    req["validation"] = json!({"artifacts": []});
    let (s, body) = node.post("/api/v1/inference/pow/generate", req).await;
    assert_eq!(s, 400, "{body}");
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_everything_ends_poc_generation_too() {
    let (url, c) = collector(0).await;
    let node = Node::start(config()).await;
    let (s, _) = node
        .post("/api/v1/inference/pow/init/generate", init_body(&url, 0, 1))
        .await;
    assert_eq!(s, 200);
    assert_eq!(node.state().await["state"], "POW");
    let (s, body) = node.post("/api/v1/stop", json!({})).await;
    assert_eq!(s, 200, "{body}");
    let st = eventually("PoC idle after /api/v1/stop", || async {
        let (_, st) = node.get("/api/v1/inference/pow/status").await;
        (st["status"] == "IDLE" && st["pending"] == 0).then_some(st)
    })
    .await;
    assert_eq!(
        st["delivered"].as_u64().unwrap(),
        delivered(&c).len() as u64
    );
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}
