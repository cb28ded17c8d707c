//! The model-aware policy and context protection through the whole gateway: real ML node agents
//! (`gonka-mlnode`, simulator engine) whose `/api/v1/state` reports different residency, memory
//! and context, and fake nodes that record the body they receive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::{MemoryPressure, NodeConfig};
use gonka_gateway::context::ContextProtection;
use gonka_gateway::schedule::ModelAware;
use gonka_gateway::RunningGateway;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A real agent on loopback; dropping `stop` stops it.
struct Agent {
    mgmt: SocketAddr,
    inference: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Agent {
    async fn start(config: MlNodeConfig) -> Self {
        let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mgmt_addr, inference_addr) =
            (mgmt.local_addr().unwrap(), inference.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
            let _ = rx.await;
        }));
        Self {
            mgmt: mgmt_addr,
            inference: inference_addr,
            _stop: tx,
        }
    }

    fn config(&self, id: &str) -> NodeConfig {
        NodeConfig::new(id, MODEL)
            .at("127.0.0.1", self.inference.port(), self.mgmt.port())
            .max_concurrent(4)
    }
}

/// An agent config: simulator engine with `memory` (total, free) MiB, model cache `models_dir`.
fn agent_config(models_dir: &Path, memory: (u64, u64), simulator: SimulatorConfig) -> MlNodeConfig {
    MlNodeConfig {
        models_dir: Some(models_dir.to_owned()),
        simulator: SimulatorConfig {
            memory_total_mb: Some(memory.0),
            memory_free_mb: Some(memory.1),
            ..simulator
        },
        drain_timeout: Duration::from_secs(1),
        ..MlNodeConfig::default()
    }
}

/// A Hugging Face cache holding a snapshot of `MODEL` (the model is on that node's disk).
fn cache_with_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("models--{}", MODEL.replacen('/', "--", 1));
    std::fs::create_dir_all(dir.path().join(repo).join("snapshots/0123abcd")).unwrap();
    dir
}

/// Requests served per node, from the gateway's `/metrics`.
async fn served_by(gw: &RunningGateway, node: &str) -> u64 {
    let metrics = client()
        .get(format!("http://{}/metrics", gw.public_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!(
        "gonka_gateway_requests_total{{model=\"{MODEL}\",node=\"{node}\",status=\"200\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn chat(gw: &RunningGateway, body: &Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The pool's view of node `id`.
fn view(gw: &RunningGateway, id: &str) -> Option<gonka_core::NodeView> {
    gw.pool
        .snapshot()
        .into_iter()
        .map(|s| s.view)
        .find(|v| &*v.id == id)
}

async fn model_aware_gateway() -> (RunningGateway, Arc<dyn gonka_core::NodeRegistry>) {
    let mut config = test_config();
    config.scheduler = Arc::new(ModelAware::default());
    let registry = config.registry.clone();
    (start(config).await, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_aware_routes_to_the_node_whose_agent_reports_the_model_hot() {
    let warm_cache = cache_with_model();
    let empty_cache = tempfile::tempdir().unwrap();
    // "a-warm": its engine lets the model go from memory at once (keep-alive 0), so its agent
    // reports it on disk only; it has more memory free. "b-hot": the model stays loaded.
    let warm = Agent::start(agent_config(
        warm_cache.path(),
        (81_920, 70_000),
        SimulatorConfig {
            keep_alive: Some(Duration::ZERO),
            ..SimulatorConfig::default()
        },
    ))
    .await;
    let hot = Agent::start(agent_config(
        empty_cache.path(),
        (81_920, 20_000),
        SimulatorConfig::default(),
    ))
    .await;
    let (gw, registry) = model_aware_gateway().await;
    // Listed first, the warm node would win every tie.
    register(&registry, warm.config("a-warm")).await;
    register(&registry, hot.config("b-hot")).await;
    wait_routable(&gw, MODEL, 2).await;
    eventually(
        "the agents' residency and memory reach the gateway",
        || async {
            let (Some(w), Some(h)) = (view(&gw, "a-warm"), view(&gw, "b-hot")) else {
                return false;
            };
            w.loaded.is_empty()
                && w.disk_models.iter().any(|m| &**m == MODEL)
                && w.memory_free_mb == Some(70_000)
                && h.loaded
                    .iter()
                    .any(|l| &*l.name == MODEL && l.context_length == 32_768)
                && h.memory_total_mb == Some(81_920)
                && h.memory_pressure == MemoryPressure::Normal
        },
    )
    .await;

    for _ in 0..6 {
        let resp = chat(&gw, &chat_body(MODEL, false)).await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
    }
    assert_eq!(
        served_by(&gw, "b-hot").await,
        6,
        "every request to the hot node"
    );
    assert_eq!(served_by(&gw, "a-warm").await, 0);

    // Each decision's trace carries the chosen node's breakdown (docs/traces.md).
    let traces_url = format!(
        "http://{}/dashboard/api/traces?limit=10",
        gw.admin_addr.unwrap()
    );
    let mut traces = Vec::new();
    for _ in 0..500 {
        let body: Value = client()
            .get(&traces_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        traces = body["traces"].as_array().unwrap().clone();
        if traces.len() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(traces.len(), 6, "one trace per request");
    for t in &traces {
        assert_eq!(t["node_id"], "b-hot", "{t}");
        assert_eq!(t["candidates"], 2, "{t}");
        assert_eq!(t["scores_breakdown"]["thermal"], 50.0, "{t}");
        let sum: f64 = t["scores_breakdown"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - t["score"].as_f64().unwrap()).abs() < 1e-3, "{t}");
    }

    // Why: the breakdown of each node for this request.
    let policy = gw.pool.scheduler();
    let request = gonka_core::RequestInfo::for_model(MODEL);
    let hot_why = policy
        .explain(&request, &view(&gw, "b-hot").unwrap())
        .unwrap();
    let warm_why = policy
        .explain(&request, &view(&gw, "a-warm").unwrap())
        .unwrap();
    assert_eq!(hot_why.signals[0].signal, "thermal");
    assert_eq!(
        (hot_why.signals[0].value, warm_why.signals[0].value),
        (50.0, 30.0)
    );
    assert!(
        hot_why.total > warm_why.total,
        "{hot_why:?} vs {warm_why:?}"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_under_critical_memory_pressure_takes_nothing_and_num_ctx_prefers_a_big_context() {
    let cache = cache_with_model();
    // "c-tight": hot but 100 MiB of 24 GB free: critical. "a-short": hot with a 4,096-token
    // context and 80 GB (full role affinity for the 30 GB model). "b-long": hot with the
    // default 32,768-token context but 40 GB (role affinity about 10 of 15).
    let tight = Agent::start(agent_config(
        cache.path(),
        (24_000, 100),
        SimulatorConfig::default(),
    ))
    .await;
    let short = Agent::start(agent_config(
        cache.path(),
        (81_920, 60_000),
        SimulatorConfig {
            max_model_len: 4_096,
            ..SimulatorConfig::default()
        },
    ))
    .await;
    let long = Agent::start(agent_config(
        cache.path(),
        (40_000, 30_000),
        SimulatorConfig::default(),
    ))
    .await;
    let (gw, registry) = model_aware_gateway().await;
    register(&registry, tight.config("c-tight")).await;
    register(&registry, short.config("a-short")).await;
    register(&registry, long.config("b-long")).await;
    eventually(
        "tight reports critical pressure; short and long are routable",
        || async {
            view(&gw, "c-tight").is_some_and(|v| v.memory_pressure == MemoryPressure::Critical)
                && ["a-short", "b-long"].iter().all(|id| {
                    // Checks that failed while the engines loaded weigh on availability
                    // for a while; the comparison below wants both back near 1.
                    view(&gw, id).is_some_and(|v| {
                        v.routable() && !v.loaded.is_empty() && v.availability > 0.97
                    })
                })
        },
    )
    .await;
    assert!(
        !view(&gw, "c-tight").unwrap().routable(),
        "out of memory: not routable"
    );

    // A small num_ctx fits both contexts: the node with more memory for the large model serves
    // it; a num_ctx above 4,096 goes to the node whose loaded context holds it.
    let with_ctx = |n: u64| {
        let mut body = chat_body(MODEL, false);
        body["options"] = json!({"num_ctx": n});
        body
    };
    for _ in 0..3 {
        assert_eq!(chat(&gw, &with_ctx(2_048)).await.status(), 200);
    }
    assert_eq!(served_by(&gw, "a-short").await, 3);
    for _ in 0..3 {
        assert_eq!(chat(&gw, &with_ctx(16_384)).await.status(), 200);
    }
    assert_eq!(served_by(&gw, "b-long").await, 3);
    assert_eq!(served_by(&gw, "c-tight").await, 0);
    gw.shutdown().await;
}

/// A gateway with `mode` over one fake node reporting an 8,192-token loaded context.
async fn protected(mode: ContextProtection) -> (RunningGateway, FakeMlNode) {
    let node = FakeMlNode::start(FakeOptions {
        context_length: Some(8_192),
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.context_protection = mode;
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    eventually("the loaded context reaches the gateway", || async {
        view(&gw, "n1").is_some_and(|v| v.loaded.first().is_some_and(|l| l.context_length == 8_192))
    })
    .await;
    (gw, node)
}

/// What the node received for a chat whose body carries `extra`.
async fn received(gw: &RunningGateway, node: &FakeMlNode, extra: Value) -> Value {
    let mut body = chat_body(MODEL, false);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let resp = chat(gw, &body).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    node.state.last_body.lock().unwrap().take().unwrap()
}

#[tokio::test]
async fn context_protection_strip_removes_a_num_ctx_the_loaded_context_holds() {
    let (gw, node) = protected(ContextProtection::Strip).await;
    let got = received(&gw, &node, json!({"num_ctx": 4_096})).await;
    assert!(got.get("num_ctx").is_none(), "{got}");
    let got = received(
        &gw,
        &node,
        json!({"options": {"num_ctx": 8_192, "seed": 1}}),
    )
    .await;
    assert_eq!(got["options"], json!({"seed": 1}));
    // Larger than the loaded context: left for the engine to decide.
    let got = received(&gw, &node, json!({"num_ctx": 16_384})).await;
    assert_eq!(got["num_ctx"], 16_384);
    gw.shutdown().await;
}

#[tokio::test]
async fn context_protection_warn_and_passthrough_leave_num_ctx_in_the_body() {
    for mode in [ContextProtection::Warn, ContextProtection::Passthrough] {
        let (gw, node) = protected(mode).await;
        for n in [4_096, 16_384] {
            let got = received(&gw, &node, json!({"options": {"num_ctx": n}})).await;
            assert_eq!(got["options"]["num_ctx"], n, "{mode}");
        }
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn an_absurd_num_ctx_is_a_400_naming_the_field_and_nothing_is_routed() {
    for mode in [
        ContextProtection::Strip,
        ContextProtection::Warn,
        ContextProtection::Passthrough,
    ] {
        let (gw, node) = protected(mode).await;
        for (extra, field) in [
            (json!({"num_ctx": -1}), "`num_ctx`"),
            (json!({"num_ctx": 2.5}), "`num_ctx`"),
            (
                json!({"options": {"num_ctx": 20_000_000}}),
                "`options.num_ctx`",
            ),
            (json!({"options": {"num_ctx": "big"}}), "`options.num_ctx`"),
        ] {
            let mut body = chat_body(MODEL, false);
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let resp = chat(&gw, &body).await;
            assert_eq!(resp.status(), 400, "{mode} {extra}");
            let err: Value = resp.json().await.unwrap();
            let message = err["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{mode}: {message}");
        }
        assert_eq!(node.state.received(), 0, "{mode}: nothing routed");
        gw.shutdown().await;
    }
}
