//! The PoC driver takes each round's parameters from the epoch source: the devnet clock sends
//! the chain's defaults (`seq_len` 256, `k_dim` 12, the standard RNG) in `pow/init/generate`
//! unless a smaller `seq_len` (and the stronger RNG) is set explicitly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use gonka_core::{MemoryRegistry, ModelStageParams, NodeConfig, NodeRegistry};
use gonka_gateway::poc::{
    ArtifactStore, DevnetChain, DevnetPhaseClock, PhaseClock, PhaseDurations, PocConfig,
    DEVNET_PUBLIC_KEY,
};
use gonka_gateway::{Gateway, GatewayConfig, Listeners};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

type Seen = Arc<Mutex<Vec<Value>>>;

/// An ML node's management port that records every `pow/init/generate` body and answers every
/// other call with `{}`.
async fn recording_node() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    async fn init(State(seen): State<Seen>, Json(body): Json<Value>) -> Json<Value> {
        seen.lock().unwrap().push(body);
        Json(json!({"status": "OK", "backends": 1}))
    }
    let app = Router::new()
        .route("/api/v1/inference/pow/init/generate", post(init))
        .fallback(|| async { Json(json!({})) })
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

/// Runs one gateway with PoC over `clock` and returns the first `pow/init/generate` body its
/// driver sends (waiting at most 20 s).
async fn first_init_generate(clock: DevnetPhaseClock) -> Value {
    let (port, seen) = recording_node().await;
    let registry = Arc::new(MemoryRegistry::new());
    registry
        .upsert(NodeConfig::new("n0", MODEL).at("127.0.0.1", port, port))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open_path(dir.path().join("poc.db"))
        .await
        .unwrap();
    let mut poc = PocConfig::new(Arc::new(clock.clone()), store);
    poc.tick = Duration::from_millis(20);
    let mut config = GatewayConfig::new(registry.clone());
    config.poc = Some(poc);
    let gateway = Gateway::builder(config)
        .poc_epoch_source(Arc::new(clock.clone()))
        .start(Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        })
        .unwrap();
    clock.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Some(b) = seen.lock().unwrap().first().cloned() {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no pow/init/generate within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    gateway.shutdown().await;
    body
}

fn phases() -> PhaseDurations {
    let s = Duration::from_secs;
    PhaseDurations::within_epoch(s(120), s(60), s(1), s(1)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devnet_round_sends_the_chains_default_seq_len() {
    let clock = DevnetPhaseClock::paused(phases(), "chain-defaults");
    let body = first_init_generate(clock.clone()).await;
    assert_eq!(body["params"]["model"], MODEL, "{body}");
    assert_eq!(body["params"]["seq_len"], 256, "{body}");
    assert_eq!(body["params"]["k_dim"], 12, "{body}");
    assert_eq!(body["public_key"], DEVNET_PUBLIC_KEY);
    assert_eq!(body["block_hash"], clock.now().block_hash);
    assert_eq!(body["block_height"], clock.now().poc_start_block_height);
    assert!(
        !body["poc_stronger_rng"].as_bool().unwrap_or(false),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_seq_len_and_rng_reach_the_round() {
    let clock = DevnetPhaseClock::paused(phases(), "explicit").with_chain(DevnetChain {
        model: ModelStageParams {
            seq_len: 16,
            ..ModelStageParams::default()
        },
        stronger_rng: true,
        public_key: format!("03{}", "ab".repeat(32)),
    });
    let body = first_init_generate(clock).await;
    assert_eq!(body["params"]["seq_len"], 16, "{body}");
    assert_eq!(body["poc_stronger_rng"], true, "{body}");
    assert_eq!(body["public_key"], format!("03{}", "ab".repeat(32)));
}
