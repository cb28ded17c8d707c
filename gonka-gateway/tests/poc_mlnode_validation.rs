//! PoC validation through the gateway's own ML nodes (the default `MlNodeVerifier`, upstream's
//! way): in a devnet epoch over real `gonka-mlnode` agents the gateway's ML node recomputes the
//! sampled nonces of an honest and a cheating node (`pow/generate` with `validation`), and the
//! verdicts make the honest node valid with weight and the cheater fraud. Bad `/validated`
//! callbacks — malformed, for nothing pending, from another job, with unknown nonces, for a round
//! that is over — get a clear 4xx and change nothing. The verifier keeps the `PoCVerifier`
//! contract, and moves on to the next ML node when one fails or never calls back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::poc::compute::{Artifact, RoundParams};
use gonka_core::poc::encoding::encode_vector_b64;
use gonka_core::poc::error::PocError;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::rng::{murmur, normals};
use gonka_core::poc::verdict::Verdict;
use gonka_core::poc::wire::GenerateRequest;
use gonka_core::poc::Nonce;
use gonka_core::{MemoryRegistry, NodeConfig, NodeRegistry};
use gonka_gateway::poc::{
    ArtifactStore, DevnetChain, DevnetPhaseClock, MlNodeVerifier, MlNodeVerifierSettings,
    PhaseDurations, PocConfig,
};
use gonka_gateway::{GatewayConfig, Listeners, RunningGateway};
use gonka_mlnode::poc::{PocCompute, PocSettings, PreparedRound, TinyModelCompute};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Polls `f` every 50 ms until it returns `Some` (at most 40 s).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..800 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn get_json(url: String) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn phases() -> PhaseDurations {
    PhaseDurations::within_epoch(
        Duration::from_secs(60),
        Duration::from_millis(3000),
        Duration::from_millis(500),
        Duration::from_millis(2000),
    )
    .unwrap()
}

/// Sends a random unit vector instead of the computed one for a fifth of the nonces.
#[derive(Debug)]
struct PartlyRandom(TinyModelCompute);

#[derive(Debug)]
struct PartlyRandomRound(Box<dyn PreparedRound>);

impl PocCompute for PartlyRandom {
    fn name(&self) -> &str {
        "partly-random"
    }

    fn prepare(&self, model: &str, round: RoundParams) -> Result<Box<dyn PreparedRound>, PocError> {
        Ok(Box::new(PartlyRandomRound(self.0.prepare(model, round)?)))
    }
}

impl PreparedRound for PartlyRandomRound {
    fn compute(&self, nonces: &[Nonce]) -> Result<Vec<Artifact>, PocError> {
        let mut out = self.0.compute(nonces)?;
        for a in &mut out {
            if murmur(a.nonce, 99).is_multiple_of(5) {
                let v = normals(a.nonce.wrapping_mul(7919), 12);
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                let mut unit = [0f32; 12];
                for (u, x) in unit.iter_mut().zip(&v) {
                    *u = x / norm;
                }
                a.vector_b64 = encode_vector_b64(&unit);
            }
        }
        Ok(out)
    }

    fn validate(
        &self,
        artifacts: &[Artifact],
        params: &ValidationParams,
    ) -> Result<Verdict, PocError> {
        self.0.validate(artifacts, params)
    }
}

/// A real `gonka-mlnode` agent on loopback: (management port, inference port, stop).
async fn start_agent(compute: Arc<dyn PocCompute>) -> (u16, u16, tokio::sync::oneshot::Sender<()>) {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ports = (
        mgmt.local_addr().unwrap().port(),
        inference.local_addr().unwrap().port(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = MlNodeConfig {
        poc: PocSettings {
            compute,
            callback_interval: Duration::from_millis(200),
            retry_initial: Duration::from_millis(20),
            retry_max: Duration::from_millis(100),
            ..PocSettings::default()
        },
        drain_timeout: Duration::from_millis(200),
        ..MlNodeConfig::default()
    };
    tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = rx.await;
    }));
    (ports.0, ports.1, tx)
}

/// A gateway over `registry` validating through `verifier`'s ML nodes, on a paused clock.
async fn gateway(
    registry: Arc<MemoryRegistry>,
    dir: &std::path::Path,
    name: &str,
    settings: MlNodeVerifierSettings,
) -> (
    RunningGateway,
    DevnetPhaseClock,
    Arc<MlNodeVerifier>,
    ArtifactStore,
) {
    let store = ArtifactStore::open_path(dir.join("poc.db")).await.unwrap();
    // The chain's defaults with a small seq_len, set explicitly for the CPU tiny model.
    let mut chain = DevnetChain::default();
    chain.model.seq_len = 8;
    let clock = DevnetPhaseClock::paused(phases(), name).with_chain(chain);
    let mut poc = PocConfig::new(Arc::new(clock.clone()), store.clone());
    poc.tick = Duration::from_millis(20);
    let verifier = Arc::new(MlNodeVerifier::new(Arc::clone(&poc.callbacks), settings));
    let mut config = GatewayConfig::new(registry.clone());
    config.poc = Some(poc);
    config.health_interval = Duration::from_millis(100);
    config.reconcile_interval = Duration::from_millis(300);
    let gateway = gonka_gateway::Gateway::builder(config)
        .epoch_source(Arc::new(clock.clone()))
        .verifier(verifier.clone())
        .start(Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        })
        .unwrap();
    (gateway, clock, verifier, store)
}

async fn wait_all_inference(registry: &MemoryRegistry, n: usize) {
    eventually("every ML node observed in INFERENCE", || async {
        let list = registry.list().await.ok()?;
        (list.len() == n
            && list
                .iter()
                .all(|r| r.state.current_status == gonka_core::NodeStatus::Inference))
        .then_some(())
    })
    .await;
}

async fn participants_of_epoch_1(public: std::net::SocketAddr) -> Value {
    eventually("participants of epoch 1", || async {
        let (s, body) = get_json(format!("http://{public}/v1/epochs/1/participants")).await;
        (s == 200).then_some(body)
    })
    .await
}

fn ml_nodes(p: &Value) -> Vec<Value> {
    let list = p["active_participants"]["participants"][0]["ml_nodes"][0]["ml_nodes"].clone();
    list.as_array().cloned().unwrap_or_default()
}

fn by_id<'a>(nodes: &'a [Value], id: &str) -> &'a Value {
    nodes.iter().find(|n| n["node_id"] == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devnet_epoch_validates_an_honest_and_a_cheating_node_through_its_own_ml_node() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    // Registered first, so it gets the lowest node number: the ML node that recomputes for the
    // other two (the prover's own node is asked last).
    let validator = start_agent(Arc::new(TinyModelCompute::default())).await;
    let honest = start_agent(Arc::new(TinyModelCompute::default())).await;
    let cheater = start_agent(Arc::new(PartlyRandom(TinyModelCompute::default()))).await;
    for (id, (mgmt, inference, _)) in [
        ("validator", &validator),
        ("honest", &honest),
        ("cheater", &cheater),
    ] {
        registry
            .upsert(NodeConfig::new(id, MODEL).at("127.0.0.1", *inference, *mgmt))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (gw, clock, verifier, store) = gateway(
        registry.clone(),
        dir.path(),
        "mlnode-validation",
        MlNodeVerifierSettings::default(),
    )
    .await;
    wait_all_inference(&registry, 3).await;
    clock.start();

    let p = participants_of_epoch_1(gw.public_addr).await;
    let nodes = ml_nodes(&p);
    assert_eq!(nodes.len(), 3, "{p:#}");
    let (h, c, v) = (
        by_id(&nodes, "honest"),
        by_id(&nodes, "cheater"),
        by_id(&nodes, "validator"),
    );
    let counts = store.counts(1).await.unwrap();
    let num = |id: &'static str| {
        let registry = registry.clone();
        async move { registry.get(id).await.unwrap().node.node_num as u32 }
    };
    let (validator_num, honest_num, cheater_num) = (
        num("validator").await,
        num("honest").await,
        num("cheater").await,
    );
    let count_of = |n: u32| counts.iter().find(|(x, _)| *x == n).unwrap().1;
    assert_eq!(h["validation"]["outcome"], "valid", "{h}");
    assert!(h["poc_weight"].as_u64().unwrap() > 0);
    assert_eq!(h["poc_weight"].as_u64().unwrap(), count_of(honest_num));
    assert_eq!(c["validation"]["outcome"], "fraud", "{c}");
    assert_eq!(c["poc_weight"], 0);
    assert!(c["validation"]["n_mismatch"].as_u64().unwrap() >= 10, "{c}");
    assert_eq!(v["validation"]["outcome"], "valid", "{v}");
    assert_eq!(v["poc_weight"].as_u64().unwrap(), count_of(validator_num));

    // Every verdict came from an ML node's pow/generate, never from the prover itself; the
    // honest and the cheating node were recomputed by the validator's ML node.
    let calls = verifier.calls();
    let asked = |prover: u32| {
        calls
            .iter()
            .find(|c| c.prover_node == prover)
            .unwrap_or_else(|| panic!("node {prover} was not validated by an ML node: {calls:?}"))
            .validator_node
            .clone()
    };
    assert_eq!(asked(honest_num), "validator");
    assert_eq!(asked(cheater_num), "validator");
    assert_ne!(asked(validator_num), "validator");
    assert_eq!(calls.len(), 3, "{calls:?}");
    // gonka-mlnode queued each job and posted its verdict to the gateway's `/validated`; the
    // validator ML node holds the jobs it ran, with the verdicts the gateway used.
    assert!(calls.iter().all(|c| c.via_callback), "{calls:?}");
    for (prover, fraud) in [(honest_num, false), (cheater_num, true)] {
        let call = calls.iter().find(|c| c.prover_node == prover).unwrap();
        let (s, job) = get_json(format!(
            "http://127.0.0.1:{}/api/v1/inference/pow/generate/{}",
            validator.0,
            call.request_id.as_deref().unwrap()
        ))
        .await;
        assert_eq!(s, 200, "{job}");
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["fraud_detected"], fraud, "{job}");
    }

    gw.shutdown().await;
    for (_, _, stop) in [validator, honest, cheater] {
        let _ = stop.send(());
    }
}

/// A stand-in for an upstream ML node used as the validator: it reports INFERENCE with the model
/// loaded, acknowledges the PoC commands, and queues every `pow/generate` (recorded) the way the
/// upstream ML node does (`{status: "queued", request_id: "{port}:{uuid}"}`), leaving the
/// `/validated` callback to the test.
#[derive(Debug, Default)]
struct QueueingNode {
    generate: Mutex<Vec<GenerateRequest>>,
    /// Answer every `pow/generate` with 500 (an engine that fails).
    failing: bool,
}

async fn start_queueing_node(failing: bool) -> (u16, Arc<QueueingNode>) {
    let node = Arc::new(QueueingNode {
        failing,
        ..QueueingNode::default()
    });
    async fn state() -> Json<Value> {
        Json(
            json!({"state": "INFERENCE", "inference_healthy": true, "loaded_model": MODEL,
                    "poc_status": "IDLE", "version": "stand-in"}),
        )
    }
    async fn generate(
        State(node): State<Arc<QueueingNode>>,
        Json(body): Json<GenerateRequest>,
    ) -> (axum::http::StatusCode, Json<Value>) {
        let n = body.nonces.len();
        node.generate.lock().unwrap().push(body);
        if node.failing {
            return (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"detail": "engine failed"})),
            );
        }
        let queued = json!({"status": "queued", "request_id": "5001:job-1", "queued_count": n});
        (axum::http::StatusCode::OK, Json(queued))
    }
    async fn ok() -> Json<Value> {
        Json(json!({"status": "OK"}))
    }
    let app = Router::new()
        .route("/api/v1/state", get(state))
        .route("/health", get(ok))
        .route("/api/v1/inference/pow/generate", post(generate))
        .fallback(ok)
        .with_state(node.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, node)
}

async fn post_validated(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let r = client()
        .post(format!("{url}/validated"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_validated_callbacks_get_a_clear_4xx_store_nothing_and_leave_the_round_alone() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let (stand_in, queue) = start_queueing_node(false).await;
    let prover = start_agent(Arc::new(TinyModelCompute::default())).await;
    registry
        .upsert(NodeConfig::new("validator", MODEL).at("127.0.0.1", stand_in, stand_in))
        .await
        .unwrap();
    registry
        .upsert(NodeConfig::new("prover", MODEL).at("127.0.0.1", prover.1, prover.0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gw, clock, verifier, store) = gateway(
        registry.clone(),
        dir.path(),
        "bad-callbacks",
        MlNodeVerifierSettings {
            attempt_timeout: Duration::from_secs(60),
            max_attempts: 1,
            ..MlNodeVerifierSettings::default()
        },
    )
    .await;
    wait_all_inference(&registry, 2).await;
    clock.start();

    // The validation of the prover reaches the stand-in's queue.
    let request = eventually(
        "the verification queued on the validator ML node",
        || async { queue.generate.lock().unwrap().first().cloned() },
    )
    .await;
    let prover_num = registry.get("prover").await.unwrap().node.node_num as u32;
    assert_eq!(request.node_id, prover_num);
    let artifacts = &request.validation.as_ref().unwrap().artifacts;
    assert_eq!(artifacts.len(), request.nonces.len());
    assert!(!request.nonces.is_empty());
    assert_eq!(request.params.model, MODEL);
    assert_eq!(request.params.seq_len, 8);
    assert!(request.stat_test.is_some());
    let url = request.url.clone().unwrap();
    let poc_addr = gw.poc_addr.unwrap();
    assert_eq!(
        url,
        format!("http://{poc_addr}/v2/poc-batches/Qwen%252FQwen3-32B-FP8")
    );
    let counts_before = store.counts(1).await.unwrap();
    let good = json!({
        "request_id": "job-1", "block_hash": request.block_hash, "block_height": request.block_height,
        "public_key": request.public_key, "node_id": request.node_id,
        "n_total": request.nonces.len(), "n_mismatch": 0, "mismatch_nonces": [],
        "p_value": 1.0, "fraud_detected": false,
    });
    let with = |field: &str, value: Value| {
        let mut v = good.clone();
        v[field] = value;
        v.to_string()
    };
    let unknown = (0..).find(|n| !request.nonces.contains(n)).unwrap();

    for (body, status, names) in [
        ("{not json".to_owned(), 400, "invalid validated body"),
        (with("n_total", json!("3")), 400, "invalid validated body"),
        (with("request_id", json!("job-0")), 409, "request_id"),
        (
            with("node_id", json!(prover_num + 7)),
            404,
            "no pending verification",
        ),
        (
            {
                let mut v = good.clone();
                v["n_mismatch"] = json!(1);
                v["mismatch_nonces"] = json!([unknown]);
                v.to_string()
            },
            422,
            "unknown nonces",
        ),
        (
            with("n_total", json!(request.nonces.len() + 1)),
            422,
            "exceeds",
        ),
    ] {
        let (s, text) = post_validated(&url, body.clone()).await;
        assert_eq!(s, status, "{body} -> {text}");
        assert!(text.contains(names), "{body} -> {text}");
    }
    // Nothing stored, nothing decided: the round still waits for its verdict.
    assert_eq!(store.counts(1).await.unwrap(), counts_before);
    let (s, _) = get_json(format!(
        "http://{}/v1/epochs/1/participants",
        gw.public_addr
    ))
    .await;
    assert_eq!(s, 404, "no result before the right callback");
    assert!(verifier.calls().is_empty());

    // The right callback completes the verification.
    let (s, text) = post_validated(&url, good.to_string()).await;
    assert_eq!(s, 200, "{text}");
    let p = participants_of_epoch_1(gw.public_addr).await;
    let nodes = ml_nodes(&p);
    let node = by_id(&nodes, "prover");
    assert_eq!(node["validation"]["outcome"], "valid", "{node}");
    let count = counts_before
        .iter()
        .find(|(n, _)| *n == prover_num)
        .unwrap()
        .1;
    assert_eq!(node["poc_weight"].as_u64().unwrap(), count);
    let calls = verifier.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].via_callback && calls[0].validator_node == "validator");

    // The round is over: a late (or repeated) verdict is refused and changes nothing.
    let late = with("fraud_detected", json!(true));
    let (s, text) = post_validated(&url, late).await;
    assert_eq!(s, 409, "{text}");
    assert!(
        text.contains("round at height") && text.contains("is over"),
        "{text}"
    );
    let again = participants_of_epoch_1(gw.public_addr).await;
    assert_eq!(ml_nodes(&again), nodes);

    gw.shutdown().await;
    let _ = prover.2.send(());
}

/// The default verifier keeps the `PoCVerifier` contract (gonka-core's suite) with the
/// recomputation done by a real `gonka-mlnode` agent of the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ml_node_verifier_passes_the_verifier_suite_over_a_real_ml_node() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let node = start_agent(Arc::new(TinyModelCompute::default())).await;
    registry
        .upsert(NodeConfig::new("n0", "tiny").at("127.0.0.1", node.1, node.0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The clock is never started: no round, the PoC listener only takes the verdicts.
    let (gw, _clock, verifier, _store) = gateway(
        registry.clone(),
        dir.path(),
        "suite",
        MlNodeVerifierSettings::default(),
    )
    .await;
    wait_all_inference(&registry, 1).await;
    let reference = TinyModelCompute::default().model("00C0FFEE");
    gonka_core::testing::verifier_suite(
        verifier.as_ref(),
        gonka_core::testing::VerifierFixture {
            model_name: "tiny",
            reference: &reference,
        },
    )
    .await;
    let calls = verifier.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.validator_node == "n0" && c.via_callback),
        "{calls:?}"
    );
    gw.shutdown().await;
    let _ = node.2.send(());
}

/// Honest artifacts of the tiny model for nonces 1..9 of prover node 7.
fn tiny_request() -> gonka_core::VerificationRequest {
    let round = RoundParams {
        seq_len: 4,
        ..RoundParams::new("00C0FFEE", "02ab")
    };
    let artifacts = TinyModelCompute::default()
        .prepare("tiny", round.clone())
        .unwrap()
        .compute(&(1..9).collect::<Vec<_>>())
        .unwrap();
    gonka_core::VerificationRequest {
        model: "tiny".into(),
        round,
        block_height: 7,
        node_id: 7,
        artifacts,
        params: ValidationParams::default(),
    }
}

/// An ML node that fails the `pow/generate` is skipped for the next one; when none is left the
/// verification fails with an error naming each attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_ml_node_is_skipped_and_none_left_is_a_clear_error() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let (broken_port, broken) = start_queueing_node(true).await;
    let node = start_agent(Arc::new(TinyModelCompute::default())).await;
    // The broken node gets the lower node number, so it is asked first.
    registry
        .upsert(NodeConfig::new("broken", "tiny").at("127.0.0.1", broken_port, broken_port))
        .await
        .unwrap();
    registry
        .upsert(NodeConfig::new("n1", "tiny").at("127.0.0.1", node.1, node.0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gw, _clock, verifier, _store) = gateway(
        registry.clone(),
        dir.path(),
        "retry",
        MlNodeVerifierSettings::default(),
    )
    .await;
    wait_all_inference(&registry, 2).await;
    // The prover is a third node (number 7): both ML nodes are candidates.
    let request = tiny_request();
    let verdict = gonka_core::PoCVerifier::verify(verifier.as_ref(), &request)
        .await
        .unwrap();
    assert_eq!(verdict.decision, gonka_core::Decision::Valid, "{verdict:?}");
    assert_eq!(
        broken.generate.lock().unwrap().len(),
        1,
        "the broken node was asked first"
    );
    assert_eq!(verifier.calls()[0].validator_node, "n1");

    registry.set_enabled("n1", false, 0).await.unwrap();
    let e = gonka_core::PoCVerifier::verify(verifier.as_ref(), &request)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no ML node could validate") && e.contains("broken:"),
        "{e}"
    );
    assert!(e.contains("engine failed"), "{e}");
    gw.shutdown().await;
    let _ = node.2.send(());
}

/// An ML node that queues the job but never posts `/validated` is given up after the attempt
/// timeout, and the next ML node answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ml_node_that_never_calls_back_is_given_up_for_the_next() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let (silent_port, silent) = start_queueing_node(false).await;
    let node = start_agent(Arc::new(TinyModelCompute::default())).await;
    registry
        .upsert(NodeConfig::new("silent", "tiny").at("127.0.0.1", silent_port, silent_port))
        .await
        .unwrap();
    registry
        .upsert(NodeConfig::new("n1", "tiny").at("127.0.0.1", node.1, node.0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gw, _clock, verifier, _store) = gateway(
        registry.clone(),
        dir.path(),
        "silent",
        MlNodeVerifierSettings {
            attempt_timeout: Duration::from_secs(1),
            ..MlNodeVerifierSettings::default()
        },
    )
    .await;
    wait_all_inference(&registry, 2).await;
    let request = tiny_request();
    let verdict = gonka_core::PoCVerifier::verify(verifier.as_ref(), &request)
        .await
        .unwrap();
    assert_eq!(verdict.decision, gonka_core::Decision::Valid, "{verdict:?}");
    assert_eq!(
        silent.generate.lock().unwrap().len(),
        1,
        "the silent node was asked first"
    );
    assert_eq!(verifier.calls()[0].validator_node, "n1");
    gw.shutdown().await;
    let _ = node.2.send(());
}
