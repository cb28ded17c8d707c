//! The `pow/generate` queue on the candle path: PoC over a GGUF llama model (the tiny generated
//! one), validated in the background and judged on `{url}/validated` like the tiny CPU model's
//! jobs (`tests/poc_queue.rs`). Needs the `candle` feature.
#![cfg(feature = "candle")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::receiver::receiver;
use common::{eventually, Node};
use gonka_core::poc::wire::ValidatedPayload;
use gonka_mlnode::gguf::TinyLlama;
use gonka_mlnode::poc::{GgufLlamaCompute, PocSettings};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

const BLOCK_HASH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
const PROVER: &str = "021111111111111111111111111111111111111111111111111111111111111111";

fn request(nonces: &[u32]) -> Value {
    json!({
        "block_hash": BLOCK_HASH, "block_height": 77, "public_key": PROVER, "node_id": 0,
        "node_count": 1, "nonces": nonces, "params": {"model": "tiny-llama", "seq_len": 6},
        "stat_test": {"dist_threshold": 0.4, "p_mismatch": 0.02, "p_value_threshold": 0.01},
    })
}

async fn verdict_of(
    node: &Node,
    r: &common::receiver::Receiver,
    mut req: Value,
) -> ValidatedPayload {
    let (s, body) = node
        .post("/api/v1/inference/pow/generate", req.take())
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "queued");
    let id = body["request_id"]
        .as_str()
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    let got = eventually("the /validated callback", || async {
        r.of("validated")
            .into_iter()
            .find(|v| v["request_id"] == id.as_str())
    })
    .await;
    serde_json::from_value(got).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gguf_validation_job_is_queued_and_judged_on_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    TinyLlama::default().write_to(&path).unwrap();
    let compute = GgufLlamaCompute::open(&path).unwrap();
    let node = Node::start(MlNodeConfig {
        poc: PocSettings {
            compute: Arc::new(compute),
            retry_initial: Duration::from_millis(20),
            ..PocSettings::default()
        },
        ..MlNodeConfig::default()
    })
    .await;
    let (url, r) = receiver(0).await;
    let nonces: Vec<u32> = (0..12).collect();

    let mut honest = request(&nonces);
    honest["wait"] = json!(true);
    let (s, computed) = node.post("/api/v1/inference/pow/generate", honest).await;
    assert_eq!(s, 200, "{computed}");
    let artifacts = computed["artifacts"].as_array().unwrap().clone();
    assert_eq!(artifacts.len(), 12);

    let mut req = request(&nonces);
    req["url"] = json!(url);
    req["validation"] = json!({"artifacts": artifacts});
    let ok = verdict_of(&node, &r, req.clone()).await;
    assert_eq!(
        (ok.n_total, ok.n_mismatch, ok.fraud_detected),
        (12, 0, false)
    );
    assert_eq!((ok.block_height, ok.public_key.as_str()), (77, PROVER));

    let mut tampered = artifacts.clone();
    for i in 0..6 {
        tampered[i]["vector_b64"] = artifacts[i + 6]["vector_b64"].clone();
    }
    req["validation"] = json!({"artifacts": tampered});
    let fraud = verdict_of(&node, &r, req).await;
    assert_eq!((fraud.n_mismatch, fraud.fraud_detected), (6, true));
    assert_eq!(fraud.validated_weight(), -1);
    node.stop().await.unwrap();
}
