//! `pow/generate` as upstream's engine answers it (gonka-ai/vllm `vllm/poc/routes.py`,
//! `generate_queue.py`, `callbacks.py`): jobs are queued (`{status: "queued", request_id:
//! "<port>:<id>", queued_count}`), computed in the background and their results POSTed to a
//! real callback server at `{url}/validated` or `{url}/generated`, retried until accepted, and
//! readable with `GET /api/v1/inference/pow/generate/{port}:{id}`; a full queue is 429, bad
//! input a 4xx naming the problem with nothing queued, `pow/stop` drops the jobs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::receiver::receiver;
use common::{eventually, Node};
use gonka_core::poc::wire::{GenerateResult, GeneratedPayload, JobStatus, ValidatedPayload};
use gonka_mlnode::poc::PocSettings;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

const BLOCK_HASH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
const PROVER: &str = "021111111111111111111111111111111111111111111111111111111111111111";
const MODEL: &str = "Qwen/Qwen3-32B-FP8";

fn config(max_queued_nonces: usize) -> MlNodeConfig {
    MlNodeConfig {
        poc: PocSettings {
            callback_interval: Duration::from_millis(100),
            retry_initial: Duration::from_millis(20),
            retry_max: Duration::from_millis(50),
            max_queued_nonces,
            ..PocSettings::default()
        },
        ..MlNodeConfig::default()
    }
}

fn request(nonces: &[u32]) -> Value {
    json!({
        "block_hash": BLOCK_HASH, "block_height": 1200, "public_key": PROVER, "node_id": 1,
        "node_count": 2, "nonces": nonces, "params": {"model": MODEL, "seq_len": 8},
    })
}

/// The honest artifacts of `nonces`, computed with `wait: true` (upstream's synchronous form).
async fn honest(node: &Node, nonces: &[u32]) -> Value {
    let mut req = request(nonces);
    req["wait"] = json!(true);
    let (s, body) = node.post("/api/v1/inference/pow/generate", req).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "completed");
    assert!(body["request_id"].as_str().is_some_and(|id| id.len() == 36));
    assert_eq!(
        body["encoding"],
        json!({"dtype": "f16", "k_dim": 12, "endian": "le"})
    );
    body["artifacts"].clone()
}

/// Posts `req` and checks the `queued` answer; returns the request id.
async fn queue(node: &Node, req: Value) -> String {
    let n = req["nonces"].as_array().unwrap().len();
    let (s, body) = node.post("/api/v1/inference/pow/generate", req).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "queued", "{body}");
    assert_eq!(body["queued_count"], n);
    let id = body["request_id"].as_str().unwrap().to_owned();
    let (port, engine_id) = id.split_once(':').expect("<port>:<id>");
    assert_eq!(port, "0", "the in-process backend is port 0");
    assert_eq!(engine_id.len(), 36, "a UUID like upstream's: {id}");
    id
}

async fn result(node: &Node, id: &str) -> (u16, Value) {
    node.get(&format!("/api/v1/inference/pow/generate/{id}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validation_is_queued_and_the_verdict_is_posted_to_validated() {
    let (url, r) = receiver(0).await;
    let node = Node::start(config(100_000)).await;
    let nonces: Vec<u32> = (0..40).collect();
    let artifacts = honest(&node, &nonces).await;
    assert!(r.of("generated").is_empty(), "wait: true sends no callback");

    let mut req = request(&nonces);
    req["url"] = json!(url);
    req["validation"] = json!({"artifacts": artifacts});
    req["stat_test"] =
        json!({"dist_threshold": 0.4, "p_mismatch": 0.02, "p_value_threshold": 0.01});
    let id = queue(&node, req.clone()).await;
    let got = eventually("the /validated callback", || async {
        r.of("validated").first().cloned()
    })
    .await;
    let ct = r.got.lock().unwrap()[0].1.clone();
    assert_eq!(ct, "application/json", "Go's echo Bind needs it");
    let v: ValidatedPayload = serde_json::from_value(got.clone()).unwrap();
    assert_eq!(
        v.request_id,
        id.split_once(':').unwrap().1,
        "the engine's id"
    );
    assert_eq!(
        (
            v.block_hash.as_str(),
            v.block_height,
            v.public_key.as_str(),
            v.node_id
        ),
        (BLOCK_HASH, 1200, PROVER, 1)
    );
    assert_eq!((v.n_total, v.n_mismatch, v.fraud_detected), (40, 0, false));
    assert_eq!(v.validated_weight(), 40);
    let mut keys: Vec<_> = got.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "block_hash",
            "block_height",
            "fraud_detected",
            "mismatch_nonces",
            "n_mismatch",
            "n_total",
            "node_id",
            "p_value",
            "public_key",
            "request_id"
        ]
    );
    let (s, body) = result(&node, &id).await;
    assert_eq!(s, 200, "{body}");
    let done: GenerateResult = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        (done.status, done.request_id.as_str()),
        (JobStatus::Completed, id.as_str())
    );
    assert_eq!(body["n_total"], 40);
    assert_eq!(body["fraud_detected"], false);

    // The vectors of 10 nonces swapped: judged fraud, weight -1.
    let mut tampered = artifacts.as_array().unwrap().clone();
    for i in 0..10 {
        tampered[i]["vector_b64"] = tampered[i + 20]["vector_b64"].clone();
    }
    req["validation"] = json!({"artifacts": tampered});
    let id = queue(&node, req).await;
    let engine_id = id.split_once(':').unwrap().1.to_owned();
    let fraud = eventually("the fraud verdict", || async {
        r.of("validated")
            .into_iter()
            .find(|v| v["request_id"] == engine_id.as_str())
    })
    .await;
    let fraud: ValidatedPayload = serde_json::from_value(fraud).unwrap();
    assert_eq!((fraud.n_mismatch, fraud.fraud_detected), (10, true));
    assert_eq!(fraud.mismatch_nonces, (0..10).collect::<Vec<u32>>());
    assert_eq!(fraud.validated_weight(), -1);
    assert!(r.of("generated").is_empty());
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_generation_posts_its_artifacts_to_generated_with_its_request_id() {
    let (url, r) = receiver(0).await;
    let node = Node::start(config(100_000)).await;
    let nonces = [5u32, 3, 11, 7, 2];
    let expected = honest(&node, &nonces).await;
    let mut req = request(&nonces);
    req["url"] = json!(url);
    req["batch_size"] = json!(2);
    let id = queue(&node, req).await;
    let got = eventually("the /generated callback", || async {
        r.of("generated").first().cloned()
    })
    .await;
    let batch: GeneratedPayload = serde_json::from_value(got).unwrap();
    assert_eq!(batch.request_id.as_deref(), id.split_once(':').map(|p| p.1));
    assert_eq!((batch.node_id, batch.block_height), (1, 1200));
    assert_eq!(serde_json::to_value(&batch.artifacts).unwrap(), expected);
    let (s, body) = result(&node, &id).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["artifacts"], expected);

    // Without url: queued, no callback, the result only through the GET.
    let id = queue(&node, request(&nonces)).await;
    let body = eventually("the job completed", || async {
        let (_, body) = result(&node, &id).await;
        (body["status"] == "completed").then_some(body)
    })
    .await;
    assert_eq!(body["artifacts"], expected);
    assert_eq!(r.of("generated").len(), 1);
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_callback_is_retried_until_accepted() {
    let (url, r) = receiver(2).await;
    let node = Node::start(config(100_000)).await;
    let nonces = [1u32, 2, 3];
    let artifacts = honest(&node, &nonces).await;
    let mut req = request(&nonces);
    req["url"] = json!(url);
    req["validation"] = json!({"artifacts": artifacts});
    queue(&node, req).await;
    eventually("the verdict after two refusals", || async {
        r.of("validated").first().cloned()
    })
    .await;
    assert_eq!(
        r.calls.load(Ordering::SeqCst),
        3,
        "two refused, one accepted"
    );
    assert_eq!(r.of("validated").len(), 1);
    node.stop().await.unwrap();
}

fn init_round(url: &str) -> Value {
    json!({
        "block_hash": BLOCK_HASH, "block_height": 1200, "public_key": PROVER, "node_id": 0,
        "node_count": 1, "batch_size": 4, "params": {"model": MODEL, "seq_len": 8}, "url": url,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_wait_for_the_generation_round_a_full_queue_is_429_and_stop_drops_them() {
    let (url, r) = receiver(0).await;
    let node = Node::start(config(50)).await;
    let (s, body) = node
        .post("/api/v1/inference/pow/init/generate", init_round(&url))
        .await;
    assert_eq!(s, 200, "{body}");
    let nonces: Vec<u32> = (0..40).collect();
    let mut req = request(&nonces);
    req["url"] = json!(url);
    let id = queue(&node, req.clone()).await;

    // The round has the compute: the job stays queued and a second one passes the limit.
    let (s, body) = node
        .post(
            "/api/v1/inference/pow/generate",
            request(&(0..11).collect::<Vec<_>>()),
        )
        .await;
    assert_eq!(s, 429, "{body}");
    assert_eq!(body["detail"], "Queue full: 40 nonces queued, limit is 50");
    // Like upstream's worker, the first job is taken ("running") and waits for the round to
    // end; the next one stays "queued" behind it.
    eventually("the worker took the first job", || async {
        let (s, body) = result(&node, &id).await;
        assert_eq!(s, 200, "{body}");
        (body["status"] == "running").then_some(())
    })
    .await;
    let second = queue(&node, request(&(0..10).collect::<Vec<_>>())).await;
    let (_, body) = result(&node, &second).await;
    assert_eq!(body["status"], "queued", "{body}");
    assert!(body.get("n_total").is_none() && body.get("artifacts").is_none());

    // pow/stop ends the round and drops the jobs with their results, as upstream's clear_queue.
    let (s, _) = node.post("/api/v1/inference/pow/stop", json!({})).await;
    assert_eq!(s, 200);
    let (s, body) = result(&node, &id).await;
    assert_eq!(s, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains(&id), "{body}");
    // The queue took its nonces back: a job of the full limit is accepted and runs.
    let id = queue(&node, request(&(0..50).collect::<Vec<_>>())).await;
    eventually("the job after stop completed", || async {
        let (_, body) = result(&node, &id).await;
        (body["status"] == "completed").then_some(())
    })
    .await;
    // Round batches only (they carry no request_id): the dropped jobs posted nothing.
    let batches = r.of("generated");
    assert!(!batches.is_empty(), "the round delivered its batches");
    assert!(batches.iter().all(|b| b.get("request_id").is_none()));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_a_4xx_naming_the_problem_and_queues_nothing() {
    let (url, r) = receiver(0).await;
    let node = Node::start(config(20)).await;
    // A running round keeps anything queued waiting, so the final check sees an empty queue.
    let (s, _) = node
        .post("/api/v1/inference/pow/init/generate", init_round(&url))
        .await;
    assert_eq!(s, 200);
    let nonces = [1u32, 2, 3];
    let good = {
        let mut req = request(&nonces);
        req["url"] = json!(url);
        req
    };
    let fake = json!([{"nonce": 1, "vector_b64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                      {"nonce": 2, "vector_b64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                      {"nonce": 99, "vector_b64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"block_hash": 1}), "invalid pow/generate body"),
        (
            {
                let mut r = good.clone();
                r["validation"] = json!({"artifacts": fake});
                r
            },
            "not in `nonces`: [99]",
        ),
        (
            request(&(0..10_001).collect::<Vec<_>>()),
            "nonces must hold 1 to 10000",
        ),
        (request(&[]), "nonces must hold 1 to 10000"),
        (
            {
                let mut r = good.clone();
                r["url"] = json!("ftp://x");
                r
            },
            "url must be an http(s) URL",
        ),
        (
            {
                let mut r = good.clone();
                r["params"]["k_dim"] = json!(16);
                r
            },
            "params.k_dim must be 12",
        ),
        (
            {
                let mut r = good.clone();
                r["batch_size"] = json!(0);
                r
            },
            "batch_size must be between 1",
        ),
        (
            {
                let mut r = good.clone();
                r["validation"] = json!({"artifacts": []});
                r["validation"]["artifacts"] = json!([{"nonce": 1, "vector_b64": ""}, {"nonce": 2, "vector_b64": ""},
                           {"nonce": 3, "vector_b64": ""}]);
                r["stat_test"] = json!({"p_mismatch": 2.0});
                r
            },
            "stat_test: p_mismatch",
        ),
        (
            {
                let mut r = good.clone();
                r["params"]["seq_len"] = json!(0);
                r
            },
            "seq_len",
        ),
    ];
    for (body, names) in cases {
        let (s, answer) = node.post("/api/v1/inference/pow/generate", body).await;
        assert_eq!(s, 400, "{answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(names), "{names:?} not in {detail:?}");
    }
    for (id, status, names) in [
        ("nocolon", 400, "expected port:uuid"),
        ("x:1", 400, "Invalid port"),
        (
            "5001:6f1d2c84-93ab-4e0f-b7c2-1a5d9e3f8b60",
            404,
            "no PoC backend on port 5001",
        ),
        ("0:6f1d2c84-93ab-4e0f-b7c2-1a5d9e3f8b60", 404, "not found"),
    ] {
        let (s, answer) = result(&node, id).await;
        assert_eq!(s, status, "{id}: {answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(names), "{id}: {names:?} not in {detail:?}");
    }
    // Nothing was queued: a job of the whole limit fits.
    queue(&node, request(&(0..20).collect::<Vec<_>>())).await;
    node.post("/api/v1/inference/pow/stop", json!({})).await;
    assert!(r.of("validated").is_empty());
    node.stop().await.unwrap();
}
