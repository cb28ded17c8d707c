//! PoC across the network node and real `gonka-mlnode` agents on loopback: one devnet epoch
//! with 3 nodes yields participants weighted by the nonces each produced; a node that sends
//! random vectors for part of its nonces is caught at the default thresholds (sample 200,
//! dist 0.4, p_mismatch 0.02, p-value 0.01); a disabled node takes no part and gets no weight;
//! a repeated callback is counted once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::poc::compute::{Artifact, RoundParams};
use gonka_core::poc::encoding::encode_vector_b64;
use gonka_core::poc::error::PocError;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::rng::{murmur, normals};
use gonka_core::poc::verdict::Verdict;
use gonka_core::poc::Nonce;
use gonka_core::{MemoryRegistry, NodeConfig, NodeRegistry};
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::poc::{
    ArtifactStore, DevnetChain, DevnetPhaseClock, DevnetPoc, Phase, PhaseClock, PhaseDurations,
    PocConfig,
};
use gonka_gateway::{GatewayConfig, Listeners};
use gonka_mlnode::poc::{PocCompute, PocSettings, PreparedRound, TinyModelCompute};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// The chain's defaults with a `seq_len` of 8, set explicitly so the CPU tiny model is quick.
fn short_chain() -> DevnetChain {
    let mut chain = DevnetChain::default();
    chain.model.seq_len = 8;
    chain
}

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

async fn get(url: String) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn phases() -> PhaseDurations {
    PhaseDurations::within_epoch(
        Duration::from_secs(30),
        Duration::from_millis(3000),
        Duration::from_millis(500),
        Duration::from_millis(2000),
    )
    .unwrap()
}

fn node_settings(compute: Arc<dyn PocCompute>) -> PocSettings {
    PocSettings {
        compute,
        callback_interval: Duration::from_millis(200),
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ..PocSettings::default()
    }
}

async fn participants_of_epoch_1(public: std::net::SocketAddr) -> Value {
    eventually("participants of epoch 1", || async {
        let (s, body) = get(format!("http://{public}/v1/epochs/1/participants")).await;
        (s == 200).then_some(body)
    })
    .await
}

fn ml_nodes(p: &Value) -> Vec<Value> {
    let list = p["active_participants"]["participants"][0]["ml_nodes"][0]["ml_nodes"].clone();
    list.as_array().cloned().unwrap_or_default()
}

/// The CPU verifier, recording which ML nodes it was asked about.
#[derive(Debug, Default)]
struct Recording {
    node_ids: std::sync::Mutex<Vec<u32>>,
}

impl Recording {
    fn node_ids(&self) -> Vec<u32> {
        self.node_ids.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl gonka_core::PoCVerifier for Recording {
    async fn verify(
        &self,
        request: &gonka_core::VerificationRequest,
    ) -> gonka_core::Result<Verdict> {
        self.node_ids.lock().unwrap().push(request.node_id);
        gonka_core::poc::ComputeVerifier::new(Arc::new(TinyModelCompute::default()))
            .verify(request)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devnet_epoch_with_three_nodes_weights_participants_by_the_nonces_they_produced() {
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let mut config = DevnetConfig {
        ml_nodes: 3,
        ready_timeout: Duration::from_secs(30),
        poc: Some(DevnetPoc {
            phases: phases(),
            chain: short_chain(),
            mlnode: node_settings(Arc::new(TinyModelCompute::default())),
            ..DevnetPoc::default()
        }),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    config.gateway.reconcile_interval = Duration::from_millis(500);
    let net = devnet::start(config, listeners).await.unwrap();
    let public = net.gateway.public_addr;
    let admin = net.gateway.admin_addr.unwrap();

    // Generate phase: the broker's intended status of every node is POC, the nodes report POW.
    eventually("every node switched to PoC", || async {
        let (_, nodes) = get(format!("http://{admin}/admin/v1/nodes")).await;
        let all = nodes.as_array()?;
        (all.len() == 3 && all.iter().all(|n| n["state"]["intended_status"] == "POC")).then_some(())
    })
    .await;
    let mgmt = net.nodes[0].mgmt_addr;
    eventually("the ML node reporting PoC generation", || async {
        let (_, state) = get(format!("http://{mgmt}/api/v1/state")).await;
        // A serving node stays INFERENCE during PoC, as upstream's does.
        (state["poc_status"] == "GENERATING").then_some(())
    })
    .await;

    let p = participants_of_epoch_1(public).await;
    let active = &p["active_participants"];
    assert_eq!(active["epoch_id"], 1);
    let participant = &active["participants"][0];
    let nodes = ml_nodes(&p);
    assert_eq!(nodes.len(), 3, "{p:#}");
    let mut total = 0;
    for (n, entry) in net.nodes.iter().zip(&nodes) {
        let (_, status) = get(format!(
            "http://{}/api/v1/inference/pow/status",
            n.mgmt_addr
        ))
        .await;
        let delivered = status["delivered"].as_u64().unwrap();
        assert_eq!(entry["node_id"], n.id.as_str());
        assert_eq!(entry["validation"]["outcome"], "valid", "{entry}");
        assert!(delivered > 0, "{status}");
        assert_eq!(
            entry["count"].as_u64().unwrap(),
            delivered,
            "{entry} vs {status}"
        );
        assert_eq!(entry["poc_weight"].as_u64().unwrap(), delivered);
        total += delivered;
    }
    assert_eq!(participant["weight"].as_u64().unwrap(), total);
    assert_eq!(participant["models"], json!([devnet::DEFAULT_MODEL]));
    assert_eq!(p["excluded_participants"], json!([]));
    let (s, current) = get(format!("http://{public}/v1/epochs/current/participants")).await;
    assert_eq!(s, 200);
    assert_eq!(current["active_participants"]["epoch_id"], 1);

    // After the PoC every node is brought back to inference.
    eventually("every node back to INFERENCE", || async {
        let (_, nodes) = get(format!("http://{admin}/admin/v1/nodes")).await;
        nodes
            .as_array()?
            .iter()
            .all(|n| {
                n["state"]["intended_status"] == "INFERENCE"
                    && n["state"]["current_status"] == "INFERENCE"
            })
            .then_some(())
    })
    .await;
    net.shutdown().await;
}

/// Sends a random unit vector instead of the computed one for every nonce `n` with
/// `murmur(n, 99) % 5 == 0` (a fifth of the nonces).
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

async fn start_agent(compute: Arc<dyn PocCompute>) -> (u16, u16, tokio::sync::oneshot::Sender<()>) {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ports = (
        mgmt.local_addr().unwrap().port(),
        inference.local_addr().unwrap().port(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = MlNodeConfig {
        poc: node_settings(compute),
        drain_timeout: Duration::from_millis(200),
        ..MlNodeConfig::default()
    };
    tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = rx.await;
    }));
    (ports.0, ports.1, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partly_random_vectors_are_caught_and_a_disabled_node_gets_no_weight() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let honest = start_agent(Arc::new(TinyModelCompute::default())).await;
    let cheater = start_agent(Arc::new(PartlyRandom(TinyModelCompute::default()))).await;
    let disabled = start_agent(Arc::new(TinyModelCompute::default())).await;
    for (id, (mgmt, inference, _)) in [
        ("honest", &honest),
        ("cheater", &cheater),
        ("disabled", &disabled),
    ] {
        registry
            .upsert(NodeConfig::new(id, MODEL).at("127.0.0.1", *inference, *mgmt))
            .await
            .unwrap();
    }
    registry.set_enabled("disabled", false, 0).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open_path(dir.path().join("poc.db"))
        .await
        .unwrap();
    let clock = DevnetPhaseClock::paused(phases(), "fraud-test").with_chain(short_chain());
    let mut poc = PocConfig::new(Arc::new(clock.clone()), store.clone());
    poc.tick = Duration::from_millis(20);
    let mut config = GatewayConfig::new(registry.clone());
    config.poc = Some(poc);
    // Validation goes through the PoCVerifier given to the builder.
    let verifier = Arc::new(Recording::default());
    // The clock gives the epoch and every round's parameters (seq_len 8, set explicitly).
    let gateway = gonka_gateway::Gateway::builder(config)
        .poc_epoch_source(Arc::new(clock.clone()))
        .verifier(verifier.clone())
        .start(Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        })
        .unwrap();
    let public = gateway.public_addr;
    let poc_addr = gateway.poc_addr.unwrap();
    let (s, _) = get(format!("http://{public}/v1/epochs/current/participants")).await;
    assert_eq!(s, 404, "no result before the first PoC");
    clock.start();

    // While generating: the disabled node's artifacts are refused; a callback sent twice is
    // stored once (the honest node later sends the same nonce again, too).
    let info = clock.now();
    let num = |id: &'static str| {
        let registry = registry.clone();
        async move { registry.get(id).await.unwrap().node.node_num as u32 }
    };
    let (honest_num, disabled_num) = (num("honest").await, num("disabled").await);
    let url = format!("http://{poc_addr}/v2/poc-batches/Qwen%252FQwen3-32B-FP8/generated");
    let round = TinyModelCompute::default()
        .prepare(
            MODEL,
            RoundParams {
                seq_len: 8,
                ..RoundParams::new(&info.block_hash, format!("02{}", "11".repeat(32)))
            },
        )
        .unwrap();
    let artifact = round.compute(&[honest_num]).unwrap();
    let payload = |node_id: u32| {
        json!({"public_key": format!("02{}", "11".repeat(32)), "block_hash": info.block_hash,
               "block_height": info.poc_start_block_height, "node_id": node_id, "artifacts": artifact,
               "encoding": {"dtype": "f16", "k_dim": 12, "endian": "le"}})
    };
    eventually("the round to start", || async {
        let r = client()
            .post(&url)
            .json(&payload(honest_num))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    let again = client()
        .post(&url)
        .json(&payload(honest_num))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let refused = client()
        .post(&url)
        .json(&payload(disabled_num))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("not an ML node of this round"));

    let p = participants_of_epoch_1(public).await;
    let nodes = ml_nodes(&p);
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["honest", "cheater"], "{p:#}");
    let (h, c) = (&nodes[0], &nodes[1]);
    assert_eq!(h["validation"]["outcome"], "valid", "{h}");
    assert_eq!(c["validation"]["outcome"], "fraud", "{c}");
    assert_eq!(c["poc_weight"], 0);
    assert!(c["validation"]["n_mismatch"].as_u64().unwrap() >= 10, "{c}");
    let counts = store.counts(1).await.unwrap();
    let honest_count = counts.iter().find(|(n, _)| *n == honest_num).unwrap().1;
    assert_eq!(h["poc_weight"].as_u64().unwrap(), honest_count);
    let participant = &p["active_participants"]["participants"][0];
    assert_eq!(participant["weight"].as_u64().unwrap(), honest_count);
    let (_, status) = get(format!(
        "http://127.0.0.1:{}/api/v1/inference/pow/status",
        honest.0
    ))
    .await;
    assert_eq!(
        status["delivered"].as_u64().unwrap(),
        honest_count,
        "a repeated nonce was counted twice"
    );
    let (_, status) = get(format!(
        "http://127.0.0.1:{}/api/v1/inference/pow/status",
        disabled.0
    ))
    .await;
    assert_eq!(
        status["computed"], 0,
        "the disabled node was asked to compute"
    );
    assert!(counts.iter().all(|(n, _)| *n != disabled_num));
    let cheater_num = num("cheater").await;
    let verified = verifier.node_ids();
    assert!(
        verified.contains(&honest_num) && verified.contains(&cheater_num),
        "both nodes validated through the builder's verifier: {verified:?}"
    );

    gateway.shutdown().await;
    for (_, _, stop) in [honest, cheater, disabled] {
        let _ = stop.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_restarted_during_generation_resumes_the_round_from_its_store() {
    let registry: Arc<MemoryRegistry> = Arc::new(MemoryRegistry::new());
    let node = start_agent(Arc::new(TinyModelCompute::default())).await;
    registry
        .upsert(NodeConfig::new("n0", MODEL).at("127.0.0.1", node.1, node.0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = DevnetPhaseClock::paused(phases(), "restart-test").with_chain(short_chain());
    let gateway = |poc_listener: TcpListener| {
        let (registry, clock, path) = (registry.clone(), clock.clone(), dir.path().join("poc.db"));
        async move {
            let store = ArtifactStore::open_path(path).await.unwrap();
            let mut poc = PocConfig::new(Arc::new(clock.clone()), store);
            poc.tick = Duration::from_millis(20);
            let mut config = GatewayConfig::new(registry);
            config.poc = Some(poc);
            config.drain_timeout = Duration::from_secs(2);
            gonka_gateway::start(
                config,
                Listeners {
                    public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
                    admin: None,
                    poc: Some(poc_listener),
                },
            )
            .unwrap()
        }
    };
    let first = gateway(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let poc_addr = first.poc_addr.unwrap();
    clock.start();
    let store = ArtifactStore::open_path(dir.path().join("poc.db"))
        .await
        .unwrap();
    eventually("artifacts stored by the first gateway", || async {
        let counts = store.counts(1).await.unwrap();
        (counts.first().is_some_and(|c| c.1 > 0)).then_some(())
    })
    .await;
    first.shutdown().await;
    // Restart after generation: only the stored round lets the new gateway stop and validate it.
    eventually("the end of generation", || async {
        (clock.now().phase != Phase::Generate).then_some(())
    })
    .await;
    let second = gateway(TcpListener::bind(poc_addr).await.unwrap()).await;
    let p = participants_of_epoch_1(second.public_addr).await;
    let nodes = ml_nodes(&p);
    assert_eq!(nodes.len(), 1, "{p:#}");
    assert_eq!(nodes[0]["validation"]["outcome"], "valid", "{p:#}");
    let (_, status) = get(format!(
        "http://127.0.0.1:{}/api/v1/inference/pow/status",
        node.0
    ))
    .await;
    assert_eq!(
        nodes[0]["count"].as_u64().unwrap(),
        status["delivered"].as_u64().unwrap(),
        "{status}"
    );
    eventually("the resumed round stopped on the node", || async {
        let (_, s) = get(format!(
            "http://127.0.0.1:{}/api/v1/inference/pow/status",
            node.0
        ))
        .await;
        (s["status"] == "IDLE").then_some(())
    })
    .await;
    second.shutdown().await;
    let _ = node.2.send(());
}
