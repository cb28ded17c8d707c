//! Request traces end to end: requests through a real gateway (devnet: simulator ML nodes, the
//! `scored` policy, traces in the devnet's SQLite registry file) produce traces with the score
//! breakdown, readable through `/dashboard/api/traces` and summed up by the performance, usage,
//! trends and health APIs; the admin token guards them; bad query parameters answer 400 naming
//! the parameter; rejected requests are traced; a full trace channel drops and counts traces
//! while requests still succeed; API keys are recorded by id, never in the clear; retention
//! keeps the row limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::traces::{
    PerformanceRow, Retention, Trace, TraceQuery, TraceStore, TrendSample, UsageRow,
};
use gonka_core::MemoryTraceStore;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use gonka_mlnode::simulator::SimulatorConfig;
use serde_json::{json, Value};

const TOKEN: &str = "admin-secret-token";

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut r = client().get(url);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `check` every 20 ms for up to 10 s until it gives a value; panics naming `what`.
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn start_devnet() -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: 2,
        max_concurrent: 4,
        simulator: SimulatorConfig {
            time_to_first_token: Duration::from_millis(5),
            inter_token_latency: Duration::from_millis(2),
            output_tokens: 6,
            ..SimulatorConfig::default()
        },
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    config.gateway.admin_token = Some(TOKEN.into());
    config.gateway.scheduler = gonka_gateway::scheduler_by_name("scored").unwrap();
    devnet::start(config, listeners).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_through_the_devnet_are_traced_with_the_score_breakdown() {
    let net = start_devnet().await;
    let public = net.gateway.public_addr;
    let admin = format!("http://{}", net.gateway.admin_addr.unwrap());
    let node_ids: Vec<String> = net.nodes.iter().map(|n| n.id.clone()).collect();
    let mut request_ids = Vec::new();
    for (stream, tag) in [(false, "notebook"), (true, "notebook"), (false, "batch")] {
        let body = json!({"model": net.model, "stream": stream,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hello"}]});
        let r = client()
            .post(format!("http://{public}/v1/chat/completions"))
            .header("x-app-tag", tag)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        request_ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
        r.bytes().await.unwrap();
    }
    let traces_url = format!("{admin}/dashboard/api/traces?limit=10");
    let traces = until("three traces readable", || async {
        let (code, body) = get(&traces_url, Some(TOKEN)).await;
        assert_eq!(code, 200, "{body}");
        let traces = body["traces"].as_array().unwrap().clone();
        (traces.len() == 3).then_some(traces)
    })
    .await;
    // Newest first: the third request's trace leads.
    let ids: Vec<&str> = traces
        .iter()
        .map(|t| t["request_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = request_ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(ids, expected, "{traces:#?}");
    for t in &traces {
        assert_eq!(t["api"], "openai");
        assert_eq!(t["endpoint"], "/v1/chat/completions");
        assert_eq!(t["model"], net.model.as_str());
        assert_eq!(t["status"], "completed", "{t}");
        assert_eq!(t["http_status"], 200);
        assert_eq!(t["retries"], 0);
        assert!(node_ids.contains(&t["node_id"].as_str().unwrap().to_owned()));
        assert_eq!(t["candidates"], 2, "both idle nodes were eligible: {t}");
        assert_eq!(
            t["completion_tokens"], 6,
            "tokens from the answer's usage: {t}"
        );
        assert!(t["prompt_tokens"].as_u64().unwrap() > 0, "{t}");
        let breakdown = t["scores_breakdown"].as_object().expect("a breakdown");
        assert!(!breakdown.is_empty(), "{t}");
        let sum: f64 = breakdown.values().map(|v| v.as_f64().unwrap()).sum();
        let score = t["score"].as_f64().unwrap();
        assert!(
            (sum - score).abs() < 1e-3,
            "the signals add up to the score: {t}"
        );
        for field in ["queue_wait_ms", "ttft_ms", "latency_ms", "timestamp_ms"] {
            assert!(t[field].as_f64().is_some(), "{field} missing: {t}");
        }
        assert!(t["api_key"].is_null(), "no API keys configured: {t}");
    }
    assert_eq!(traces[1]["stream"], true);
    assert_eq!(traces[0]["app_tag"], "batch");
    assert_eq!(traces[2]["app_tag"], "notebook");

    // Filters.
    let first_node = traces[0]["node_id"].as_str().unwrap().to_owned();
    let (_, body) = get(
        &format!("{admin}/dashboard/api/traces?limit=10&node_id={first_node}&model=&status="),
        Some(TOKEN),
    )
    .await;
    let filtered = body["traces"].as_array().unwrap();
    assert!(!filtered.is_empty());
    assert!(filtered.iter().all(|t| t["node_id"] == first_node.as_str()));
    let (_, body) = get(
        &format!("{admin}/dashboard/api/traces?status=failed"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(body["traces"], json!([]));

    // Aggregates.
    let (code, perf) = get(&format!("{admin}/dashboard/api/performance"), Some(TOKEN)).await;
    assert_eq!(code, 200, "{perf}");
    let rows = perf["rows"].as_array().unwrap();
    let total: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 3, "{perf}");
    for r in rows {
        assert!(r["mean_latency_ms"].as_f64().unwrap() > 0.0, "{r}");
        for key in ["node_id", "model", "tokens_per_second"] {
            assert!(r.get(key).is_some(), "{key} missing: {r}");
        }
    }
    let (_, usage) = get(&format!("{admin}/dashboard/api/usage"), Some(TOKEN)).await;
    let keys = usage["keys"].as_array().unwrap();
    assert_eq!(keys[0]["app_tag"], "notebook", "{usage}");
    assert_eq!(keys[0]["requests"], 2);
    assert_eq!(keys[0]["errors"], 0);
    assert!(keys[0]["api_key"].is_null());
    let (code, trends) = get(
        &format!("{admin}/dashboard/api/trends?minutes=10&bucket_seconds=60"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(code, 200, "{trends}");
    let buckets = trends["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    let requests: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, 3, "{trends}");
    for key in [
        "t_ms",
        "requests_per_second",
        "errors",
        "ttft_p50_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "tokens_per_second",
    ] {
        assert!(buckets[0].get(key).is_some(), "{key} missing");
    }
    let (code, health) = get(&format!("{admin}/dashboard/api/health"), Some(TOKEN)).await;
    assert_eq!(code, 200, "{health}");
    let nodes = health["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{health}");
    for n in nodes {
        assert_eq!(n["healthy"], true, "{n}");
        assert_eq!(n["status"], "INFERENCE");
        for key in ["node_id", "availability", "error_rate"] {
            assert!(n.get(key).is_some(), "{key} missing: {n}");
        }
    }
    assert!(health["recommendations"].is_array());
    let (code, recs) = get(
        &format!("{admin}/dashboard/api/recommendations"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(recs["recommendations"], health["recommendations"]);

    // The admin token guards every route; a foreign web page is refused.
    for route in [
        "traces",
        "performance",
        "usage",
        "trends",
        "health",
        "recommendations",
    ] {
        let url = format!("{admin}/dashboard/api/{route}");
        assert_eq!(get(&url, None).await.0, 401, "{route} without a token");
        assert_eq!(
            get(&url, Some("wrong")).await.0,
            401,
            "{route}, wrong token"
        );
        let foreign = client()
            .get(&url)
            .bearer_auth(TOKEN)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 403, "{route} from a foreign origin");
    }

    // The traces are in the devnet's registry file, next to the nodes.
    let file = gonka_admin::SqliteTraceStore::open_path(net.data_dir.join("registry.db"))
        .await
        .unwrap();
    assert_eq!(file.count().await.unwrap(), 3);
    net.shutdown().await;
}

fn admin_url(gw: &gonka_gateway::RunningGateway, path: &str) -> String {
    format!("http://{}{path}", gw.admin_addr.unwrap())
}

#[tokio::test]
async fn bad_query_parameters_answer_400_naming_the_parameter() {
    let gw = start(test_config()).await;
    for (path, parameter) in [
        ("/dashboard/api/traces?limit=0", "limit"),
        ("/dashboard/api/traces?limit=1001", "limit"),
        ("/dashboard/api/traces?limit=ten", "limit"),
        ("/dashboard/api/traces?status=done", "status"),
        ("/dashboard/api/traces?minutes=-5", "minutes"),
        ("/dashboard/api/traces?sort=asc", "sort"),
        ("/dashboard/api/performance?minutes=0", "minutes"),
        ("/dashboard/api/performance?minutes=99999999", "minutes"),
        ("/dashboard/api/usage?model=x", "model"),
        ("/dashboard/api/trends?minutes=1441", "minutes"),
        (
            "/dashboard/api/trends?minutes=1440&bucket_seconds=1",
            "bucket_seconds",
        ),
        ("/dashboard/api/trends?bucket_seconds=0", "bucket_seconds"),
        ("/dashboard/api/health?minutes=x", "minutes"),
        ("/dashboard/api/recommendations?limit=3", "limit"),
    ] {
        let (code, body) = get(&admin_url(&gw, path), None).await;
        assert_eq!(code, 400, "{path}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{path}: the error must name `{parameter}`: {body}"
        );
    }
    // Empty values count as not given.
    let (code, body) = get(
        &admin_url(&gw, "/dashboard/api/traces?limit=&model=&node_id=&status="),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, json!({"traces": []}));
    gw.shutdown().await;
}

#[tokio::test]
async fn rejected_requests_are_traced_without_a_node() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body("no/such-model", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let url = admin_url(&gw, "/dashboard/api/traces?status=rejected");
    let traced = until("the rejected request's trace", || async {
        let first = get(&url, None).await.1["traces"][0].clone();
        (!first.is_null()).then_some(first)
    })
    .await;
    assert_eq!(traced["model"], "no/such-model");
    assert_eq!(traced["http_status"], 404);
    assert!(
        traced["node_id"].is_null() && traced["score"].is_null(),
        "{traced}"
    );
    assert!(traced["latency_ms"].is_null(), "{traced}");
    gw.shutdown().await;
}

#[tokio::test]
async fn with_traces_off_nothing_is_recorded_and_the_apis_say_so() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    config.traces = None;
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, body) = get(&admin_url(&gw, "/dashboard/api/traces"), None).await;
    assert_eq!(code, 503);
    assert!(
        body["error"].as_str().unwrap().contains("--traces off"),
        "{body}"
    );
    let (code, health) = get(&admin_url(&gw, "/dashboard/api/health"), None).await;
    assert_eq!(code, 200);
    assert_eq!(health["recommendations"][0]["kind"], "traces_off");
    gw.shutdown().await;
}

/// A store whose appends wait until the test opens the gate: the trace writer stalls.
#[derive(Debug)]
struct GatedStore {
    inner: MemoryTraceStore,
    gate: tokio::sync::Semaphore,
}

#[async_trait]
impl TraceStore for GatedStore {
    async fn append(&self, traces: Vec<Trace>) -> gonka_core::Result<()> {
        let _pass = self.gate.acquire().await.unwrap();
        self.inner.append(traces).await
    }
    async fn query(&self, q: &TraceQuery) -> gonka_core::Result<Vec<Trace>> {
        self.inner.query(q).await
    }
    async fn performance(&self, since_ms: i64) -> gonka_core::Result<Vec<PerformanceRow>> {
        self.inner.performance(since_ms).await
    }
    async fn usage(&self, since_ms: i64) -> gonka_core::Result<Vec<UsageRow>> {
        self.inner.usage(since_ms).await
    }
    async fn trend_samples(&self, since: i64, max: usize) -> gonka_core::Result<Vec<TrendSample>> {
        self.inner.trend_samples(since, max).await
    }
    async fn prune(&self, r: Retention, now_ms: i64) -> gonka_core::Result<u64> {
        self.inner.prune(r, now_ms).await
    }
    async fn count(&self) -> gonka_core::Result<u64> {
        self.inner.count().await
    }
}

fn dropped(metrics_text: &str) -> u64 {
    metrics_text
        .lines()
        .find_map(|l| l.strip_prefix("gonka_gateway_traces_dropped_total "))
        .expect("the dropped-traces counter is exposed")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_full_trace_channel_drops_and_counts_traces_and_requests_still_succeed() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let store = Arc::new(GatedStore {
        inner: MemoryTraceStore::new(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let mut config = test_config();
    config.traces = Some(store.clone());
    config.trace_settings.channel_capacity = 1;
    config.trace_settings.batch_size = 1;
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    // The writer holds at most one trace (stalled in append) and the channel one more.
    for _ in 0..6 {
        let r = client()
            .post(&url)
            .json(&chat_body(MODEL, false))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a stalled trace writer must not fail requests"
        );
        r.bytes().await.unwrap();
    }
    let metrics = client()
        .get(format!("http://{}/metrics", gw.public_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let n = dropped(&metrics);
    assert!(
        (4..=5).contains(&n),
        "6 traces, at most 2 held: {n} dropped"
    );
    let (_, recs) = get(&admin_url(&gw, "/dashboard/api/recommendations"), None).await;
    assert!(
        recs["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "traces_dropped"),
        "{recs}"
    );
    // Open the gate: what was held is stored, nothing else.
    store.gate.add_permits(100);
    let kept = 6 - n;
    eventually("the held traces stored", || async {
        store.inner.count().await.unwrap() == kept
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn api_keys_are_traced_by_id_never_in_the_clear_and_the_row_limit_holds() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    config.api_keys = gonka_gateway::config::parse_api_keys("sk-very-secret-key");
    config.trace_settings.retention.max_rows = 2;
    config.trace_settings.prune_interval = Duration::from_millis(20);
    let store = Arc::new(MemoryTraceStore::new());
    config.traces = Some(store.clone());
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let mut last_id = String::new();
    for _ in 0..4 {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.public_addr))
            .bearer_auth("sk-very-secret-key")
            .json(&chat_body(MODEL, false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .clone_into(&mut last_id);
        r.bytes().await.unwrap();
    }
    let newest = TraceQuery {
        limit: 10,
        ..TraceQuery::default()
    };
    eventually(
        "the last trace written and the rest pruned to two",
        || async {
            let kept = store.query(&newest).await.unwrap();
            kept.len() == 2 && kept[0].request_id == last_id
        },
    )
    .await;
    let url = admin_url(&gw, "/dashboard/api/traces");
    let text = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("very-secret"), "the key leaked: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let id = gonka_gateway::auth::hashed_entry("sk-very-secret-key");
    assert_eq!(body["traces"][0]["api_key"], id[..15], "{body}");
    let (_, usage) = get(&admin_url(&gw, "/dashboard/api/usage"), None).await;
    assert_eq!(usage["keys"][0]["api_key"], id[..15], "{usage}");
    gw.shutdown().await;
}

#[tokio::test]
async fn ollama_requests_are_traced_as_ollama() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let r = client()
        .post(format!("http://{}/api/chat", gw.public_addr))
        .header("x-app-tag", "ollama-cli")
        .json(&json!({"model": MODEL, "stream": false,
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let url = admin_url(&gw, "/dashboard/api/traces");
    let traced = until("the Ollama request's trace", || async {
        let first = get(&url, None).await.1["traces"][0].clone();
        (!first.is_null()).then_some(first)
    })
    .await;
    assert_eq!(traced["api"], "ollama", "{traced}");
    assert_eq!(traced["endpoint"], "/api/chat");
    assert_eq!(traced["node_id"], "n1");
    assert_eq!(traced["status"], "completed");
    assert_eq!(traced["app_tag"], "ollama-cli");
    gw.shutdown().await;
}

#[tokio::test]
async fn traces_still_queued_at_shutdown_are_stored() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let mut config = test_config();
    config.traces = Some(gonka_admin::open_trace_store(&url).await.unwrap());
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    for stream in [false, true] {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", gw.public_addr))
            .json(&chat_body(MODEL, stream))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    // No wait for the writer: shutdown drains the channel into the file.
    gw.shutdown().await;
    let reopened = gonka_admin::open_trace_store(&url).await.unwrap();
    assert_eq!(reopened.count().await.unwrap(), 2);
}
