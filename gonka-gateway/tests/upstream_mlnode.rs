//! The real `gonka-gateway` drives stand-ins for upstream's Python ML node
//! (`tests/upstream_mlnode/mlnode.py`, written from upstream's routes): a blocking
//! `inference/up` that takes seconds, `/health` 503 while loading, PoC v2 with `/generated` and
//! `/validated` callbacks. The gateway converges without restarts, routes inference to them, runs
//! a PoC round on them and validates it through them (`pow/generate` with `validation`, as
//! upstream's network node); a node told to stop while it loads is stopped at once. Skipped
//! (saying so) where `python3` is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "upstream_mlnode/standin.rs"]
mod standin;

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gateway_process::GatewayProcess;
use gonka_core::{NodeStatus, StatusUpdate};
use serde_json::Value;
use standin::{wait_for, StandIn};

const MODEL: &str = "Qwen/Qwen3-32B-FP8";
/// How long the stand-ins' engines take to load.
const LOAD_TIME: Duration = Duration::from_secs(4);

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn skip_without_python() -> bool {
    if standin::python3_available().await {
        return false;
    }
    eprintln!("SKIPPED: python3 is not installed; the upstream ML node stand-in needs it");
    true
}

/// Every `current_status` the admin API reported per node, in order (repeats collapsed), read
/// every 100 ms by a background task until dropped.
struct StatusLog {
    seen: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusLog {
    fn watch(admin: &str) -> Self {
        let seen: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let (url, log) = (format!("{admin}/admin/v1/nodes"), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            let http = http();
            loop {
                if let Ok(resp) = http.get(&url).send().await {
                    if let Ok(Value::Array(nodes)) = resp.json::<Value>().await {
                        let mut log = log.lock().unwrap();
                        for n in nodes {
                            let id = n["node"]["id"].as_str().unwrap_or_default().to_owned();
                            let status = n["state"]["current_status"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned();
                            let history = log.entry(id).or_default();
                            if history.last() != Some(&status) {
                                history.push(status);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { seen, task }
    }

    fn history(&self, id: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    fn current(&self, id: &str) -> Option<String> {
        self.history(id).last().cloned()
    }
}

impl Drop for StatusLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn register(admin: &str, config: &gonka_core::NodeConfig) {
    let resp = http()
        .post(format!("{admin}/admin/v1/nodes"))
        .json(config)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// Waits until every node in `ids` is INFERENCE on the admin API and its stand-in has answered
/// its `inference/up`; asserts no node was ever FAILED on the way.
async fn converge(log: &StatusLog, nodes: &[(&str, &StandIn)]) {
    for (id, node) in nodes {
        wait_for(
            &format!("{id} INFERENCE after a {LOAD_TIME:?} load"),
            LOAD_TIME + Duration::from_secs(60),
            || async { log.current(id).as_deref() == Some("INFERENCE") },
        )
        .await;
        let ups = node.received("POST", "/api/v1/inference/up").await;
        assert_eq!(ups.len(), 1, "{id}: one inference/up: {ups:#?}");
        assert!(
            !log.history(id).iter().any(|s| s == "FAILED"),
            "{id} never FAILED while loading: {:?}",
            log.history(id)
        );
    }
}

/// The management calls that restart an engine: `stop`, `inference/down`, `inference/up`.
async fn restarts(node: &StandIn) -> (usize, usize, usize) {
    (
        node.received("POST", "/api/v1/stop").await.len(),
        node.received("POST", "/api/v1/inference/down").await.len(),
        node.received("POST", "/api/v1/inference/up").await.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_ml_nodes_that_load_for_seconds_converge_without_restarts_and_serve_inference() {
    if skip_without_python().await {
        return;
    }
    let a = StandIn::start(LOAD_TIME, Duration::from_secs(1)).await;
    let b = StandIn::start(LOAD_TIME, Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let gateway = GatewayProcess::spawn(
        &db,
        &["--health-interval", "200ms", "--reconcile-interval", "1s"],
    )
    .await;
    let log = StatusLog::watch(&gateway.admin);
    // One node behind upstream's versioned URLs, one without.
    register(&gateway.admin, &a.config("a", MODEL, Some("v3.0.8"))).await;
    register(&gateway.admin, &b.config("b", MODEL, None)).await;
    converge(&log, &[("a", &a), ("b", &b)]).await;

    // The gateway called the versioned node under its version prefix, as upstream's broker does.
    let calls = a.calls().await;
    assert!(
        calls
            .iter()
            .filter(|c| c["port"] == "mgmt")
            .all(|c| c["path"].as_str().unwrap().starts_with("/v3.0.8/")),
        "{calls:#?}"
    );
    let up = &a.received("POST", "/api/v1/inference/up").await[0];
    assert_eq!(up["body"]["model"], MODEL);
    assert_eq!(up["body"]["dtype"], "auto");

    // Inference through the gateway reaches the stand-ins' inference ports.
    let http = http();
    for _ in 0..4 {
        let resp = http
            .post(format!("{}/v1/chat/completions", gateway.public))
            .json(&serde_json::json!({
                "model": MODEL,
                "messages": [{"role": "user", "content": "hello"}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "stand-in reply to: hello"
        );
    }
    let mut served = 0;
    for node in [&a, &b] {
        served += node.received("POST", "/v1/chat/completions").await.len();
    }
    assert_eq!(served, 4);

    // Later reconciles leave the serving engines alone: no stop, no down, no second up.
    for node in [&a, &b] {
        let seen = node.received("GET", "/api/v1/state").await.len();
        wait_for(
            "ten more state polls (several reconciles)",
            Duration::from_secs(60),
            || async { node.received("GET", "/api/v1/state").await.len() >= seen + 10 },
        )
        .await;
        assert_eq!(restarts(node).await, (0, 0, 1));
        // Nothing changed the nodes' intended status: every call was waited for to the end.
        let abandoned = node.abandoned().await;
        assert!(
            abandoned.is_empty(),
            "calls the gateway gave up on: {abandoned:#?}"
        );
    }
    assert_eq!(log.history("a"), log.history("b"));
    assert!(!log.history("a").iter().any(|s| s == "FAILED"));

    gateway.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poc_round_on_upstream_ml_nodes_generates_validates_through_them_and_reloads_nothing() {
    if skip_without_python().await {
        return;
    }
    let a = StandIn::start(LOAD_TIME, Duration::from_millis(500)).await;
    let b = StandIn::start(LOAD_TIME, Duration::from_millis(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let poc_db = format!("sqlite://{}", dir.path().join("poc.db").display());
    // Epoch 1 starts with the gateway, before the nodes are registered; epoch 2 (at 25 s)
    // finds them serving.
    let gateway = GatewayProcess::spawn(
        &db,
        &[
            "--health-interval",
            "200ms",
            "--reconcile-interval",
            "1s",
            "--poc",
            "--poc-database",
            &poc_db,
            "--epoch-length",
            "25s",
            "--poc-generate",
            "4s",
            "--poc-wind-down",
            "1s",
            "--poc-validate",
            "4s",
        ],
    )
    .await;
    let log = StatusLog::watch(&gateway.admin);
    register(&gateway.admin, &a.config("a", MODEL, Some("v3.0.8"))).await;
    register(&gateway.admin, &b.config("b", MODEL, None)).await;
    converge(&log, &[("a", &a), ("b", &b)]).await;

    let converged_at: Vec<usize> = ["a", "b"].iter().map(|id| log.history(id).len()).collect();
    // The first epoch may have found a node still loading (its round then asked it for PoC, and
    // the broker stopped waiting for that up but sent no stop); the rounds that count are later.
    let mut earlier = Vec::new();
    for node in [&a, &b] {
        earlier.push(
            node.received("POST", "/api/v1/inference/pow/init/generate")
                .await
                .len(),
        );
    }

    // Generation: init/generate with upstream's fields reaches both stand-ins, which post their
    // artifacts to the gateway's /generated, and the gateway accepts them.
    let mut node_ids = Vec::new();
    let mut started = Vec::new();
    for (node, earlier) in [&a, &b].into_iter().zip(earlier) {
        wait_for(
            "pow/init/generate on a serving node",
            Duration::from_secs(60),
            || async {
                node.received("POST", "/api/v1/inference/pow/init/generate")
                    .await
                    .len()
                    > earlier
            },
        )
        .await;
        let init = node
            .received("POST", "/api/v1/inference/pow/init/generate")
            .await;
        let init = init.last().unwrap();
        started.push(init["t"].as_f64().unwrap());
        let body = &init["body"];
        assert_eq!(body["params"]["model"], MODEL);
        let (id, count) = (body["node_id"].as_u64(), body["node_count"].as_u64());
        assert!(id.zip(count).is_some_and(|(i, n)| i < n), "{body}");
        node_ids.push(id);
        assert!(body["block_hash"].as_str().is_some_and(|h| h.len() == 64));
        let url = body["url"].as_str().unwrap();
        assert!(url.starts_with(&gateway.poc), "{url}");
        wait_for(
            "a /generated callback accepted by the gateway",
            Duration::from_secs(30),
            || async {
                node.callbacks("generated")
                    .await
                    .iter()
                    .any(|c| c["status"].as_u64().is_some_and(|s| s < 300))
            },
        )
        .await;
        for c in node.callbacks("generated").await {
            assert!(
                c["status"].as_u64().is_some_and(|s| s < 300),
                "the gateway accepts the stand-in's artifacts: {c:#?}"
            );
        }
    }

    assert_ne!(node_ids[0], node_ids[1], "each node its own nonce range");

    // Wind-down: generation stopped, and the nodes go back to serving without a reload.
    for (i, (id, node)) in [("a", &a), ("b", &b)].into_iter().enumerate() {
        wait_for(
            "pow/stop after generation",
            Duration::from_secs(30),
            || async {
                node.received("POST", "/api/v1/inference/pow/stop")
                    .await
                    .iter()
                    .any(|c| c["t"].as_f64().unwrap() > started[i])
            },
        )
        .await;
        wait_for(
            &format!("{id} back to INFERENCE after PoC"),
            Duration::from_secs(30),
            || async {
                log.history(id)[converged_at[i]..]
                    .iter()
                    .any(|s| s == "POC")
                    && log.current(id).as_deref() == Some("INFERENCE")
            },
        )
        .await;
        assert_eq!(restarts(node).await, (0, 0, 1), "{id}: no reload after PoC");
        assert!(!log.history(id).iter().any(|s| s == "FAILED"));
    }

    // Validation as upstream's network node does it: the gateway asks its own ML nodes (the
    // stand-ins) to recompute the sampled nonces (`pow/generate` with `validation`); the
    // verdicts come back on `/validated`, which the gateway accepts.
    let after = started.iter().copied().fold(f64::MIN, f64::max);
    let validations = || async {
        let mut all = Vec::new();
        for node in [&a, &b] {
            for c in node
                .received("POST", "/api/v1/inference/pow/generate")
                .await
            {
                if c["t"].as_f64().unwrap() > after {
                    all.push(c);
                }
            }
        }
        all
    };
    wait_for(
        "pow/generate with validation on the stand-ins",
        Duration::from_secs(60),
        || async { validations().await.len() >= 2 },
    )
    .await;
    for v in validations().await {
        let body = &v["body"];
        let artifacts = body["validation"]["artifacts"].as_array().unwrap();
        assert!(!artifacts.is_empty(), "{body}");
        let nonces: Vec<&Value> = body["nonces"].as_array().unwrap().iter().collect();
        assert_eq!(nonces.len(), artifacts.len());
        assert_eq!(body["params"]["model"], MODEL);
        assert!(body["url"].as_str().unwrap().starts_with(&gateway.poc));
    }
    wait_for(
        "the /validated verdicts accepted by the gateway",
        Duration::from_secs(60),
        || async {
            let mut accepted = 0;
            for node in [&a, &b] {
                accepted += node
                    .callbacks("validated")
                    .await
                    .iter()
                    .filter(|c| c["status"].as_u64().is_some_and(|s| s < 300))
                    .count();
            }
            accepted >= 2
        },
    )
    .await;
    // Honest artifacts (the stand-ins agree with each other) earn both nodes weight.
    let http = http();
    let url = format!("{}/v1/epochs/current/participants", gateway.public);
    wait_for(
        "both nodes validated with weight",
        Duration::from_secs(60),
        || async {
            let Ok(resp) = http.get(&url).send().await else {
                return false;
            };
            let v: Value = resp.json().await.unwrap_or_default();
            let weights: Vec<u64> = v["active_participants"]["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["ml_nodes"].as_array().cloned().unwrap_or_default())
                .flat_map(|g| g["ml_nodes"].as_array().cloned().unwrap_or_default())
                .filter_map(|n| n["poc_weight"].as_u64())
                .collect();
            weights.len() == 2 && weights.iter().all(|&w| w > 0)
        },
    )
    .await;

    gateway.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_told_to_stop_while_its_engine_loads_is_stopped_at_once_not_after_the_load() {
    if skip_without_python().await {
        return;
    }
    // A load far longer than the test: only a broker that acts during the up can stop it.
    let node = StandIn::start(Duration::from_secs(3600), Duration::from_secs(1)).await;
    let mut config = common::test_config();
    config.broker_timeout = Duration::from_secs(5);
    config.broker_up_timeout = Duration::from_secs(7200);
    config.reconcile_interval = Duration::from_secs(1);
    let registry = config.registry.clone();
    let gw = common::start(config).await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    let log = StatusLog::watch(&admin);
    register(&admin, &node.config("n1", MODEL, None)).await;
    wait_for("inference/up sent", Duration::from_secs(30), || async {
        node.received("POST", "/api/v1/inference/up").await.len() == 1
    })
    .await;

    // The operator (or the PoC driver) changes what the node should do while it loads.
    registry
        .update_status(
            "n1",
            StatusUpdate {
                intended_status: Some(NodeStatus::Stopped),
                ..StatusUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(
        "stop sent while the engine is still loading",
        Duration::from_secs(30),
        || async { !node.received("POST", "/api/v1/stop").await.is_empty() },
    )
    .await;
    wait_for("n1 STOPPED", Duration::from_secs(30), || async {
        log.current("n1").as_deref() == Some("STOPPED")
    })
    .await;
    // The up was given up on (the stand-in answered it, cancelled, to nobody) and never retried;
    // nothing was recorded as failed.
    assert_eq!(restarts(&node).await, (1, 0, 1));
    assert!(
        !log.history("n1").iter().any(|s| s == "FAILED"),
        "{:?}",
        log.history("n1")
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_change_that_keeps_the_node_serving_does_not_interrupt_its_loading() {
    if skip_without_python().await {
        return;
    }
    let node = StandIn::start(LOAD_TIME, Duration::from_secs(1)).await;
    let mut config = common::test_config();
    config.broker_timeout = Duration::from_secs(5);
    config.broker_up_timeout = Duration::from_secs(600);
    config.reconcile_interval = Duration::from_secs(1);
    let gw = common::start(config).await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    let log = StatusLog::watch(&admin);
    register(&admin, &node.config("n1", MODEL, None)).await;
    wait_for("inference/up sent", Duration::from_secs(30), || async {
        node.received("POST", "/api/v1/inference/up").await.len() == 1
    })
    .await;
    // Disabling kicks the node's broker task while the engine loads; a node disabled in this
    // epoch keeps serving until it ends, so the up goes on being awaited.
    let resp = http()
        .post(format!("{admin}/admin/v1/nodes/n1/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    converge(&log, &[("n1", &node)]).await;
    assert_eq!(restarts(&node).await, (0, 0, 1));
    let abandoned = node.abandoned().await;
    assert!(abandoned.is_empty(), "the up was awaited: {abandoned:#?}");
    gw.shutdown().await;
}
