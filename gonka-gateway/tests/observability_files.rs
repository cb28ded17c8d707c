//! The Grafana dashboard (`deploy/grafana/gonka-dashboard.json`) and the Prometheus alert rules
//! (`deploy/prometheus/alerts.yml`) name only metrics that exist: both files are parsed, every
//! `gonka_*` metric their queries use is extracted, and each must be a sample of a running
//! gateway (with PoC), ML node or admin server after some traffic and one validated PoC round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::poc::{DevnetChain, DevnetPoc, PhaseDurations};
use gonka_gateway::Listeners;
use gonka_mlnode::poc::{PocSettings, TinyModelCompute};
use serde_json::{json, Value};
use tokio::net::TcpListener;

fn deploy(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every `gonka_*` metric name in `expr`.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("gonka_") {
        let start = i + at;
        let starts_word = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        };
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(expr.len(), |n| start + n);
        if starts_word {
            into.insert(expr[start..end].to_owned());
        }
        i = end;
    }
}

/// The queries of the dashboard: every target's `expr` and every templating query, checking
/// that each panel (rows aside) has at least one query.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    // Bounded: each turn takes one panel; rows add their nested panels once.
    while let Some(p) = panels.pop() {
        if p["type"] == "row" {
            panels.extend(p["panels"].as_array().into_iter().flatten());
            continue;
        }
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{p}"));
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            out.push(
                t["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{t}"))
                    .to_owned(),
            );
        }
    }
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            out.push(q.to_owned());
        }
    }
    out
}

/// The rules of the alert file: `(alert, expr)` pairs, read from the YAML subset the file uses
/// (`- alert:` items whose `expr:` is inline or a `|` block of more-indented lines). `promtool
/// check rules` validates the whole file in CI.
fn alert_rules(yaml: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut rules = Vec::new();
    let mut alert: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            assert!(alert.is_none(), "alert {alert:?} has no expr");
            alert = Some(name.trim().to_owned());
        } else if let Some(value) = trimmed.strip_prefix("expr:") {
            let name = alert
                .take()
                .unwrap_or_else(|| panic!("expr outside an alert: {line}"));
            let value = value.trim();
            let expr = if value == "|" {
                let indent = line.len() - trimmed.len();
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                block.join(" ")
            } else {
                value.to_owned()
            };
            assert!(!expr.trim().is_empty(), "alert {name} has an empty expr");
            rules.push((name, expr));
        }
        i += 1;
    }
    assert!(alert.is_none(), "alert {alert:?} has no expr");
    rules
}

/// Names of the samples in a Prometheus/OpenMetrics text.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn text(url: String) -> String {
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

/// Starts `gonka_admin::run_server` (the admin binary's start-up) on a thread of its own (its
/// future is not `Send`), answers some calls, and returns its `/metrics`.
async fn admin_metrics() -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = gonka_admin::ServerConfig::new(format!(
        "sqlite://{}",
        dir.path().join("admin.db").display()
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            gonka_admin::run_server(config, listener, async {
                let _ = stopped.await;
            })
            .await
        })
    });
    let mut served = false;
    for _ in 0..500 {
        if client().get(format!("{base}/livez")).send().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "the admin server never answered");
    client()
        .get(format!("{base}/admin/v1/nodes"))
        .send()
        .await
        .unwrap();
    let metrics = text(format!("{base}/metrics")).await;
    let _ = stop.send(());
    tokio::task::spawn_blocking(move || server.join())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_of_the_dashboard_and_the_alerts_is_exposed() {
    let mut used = BTreeSet::new();
    let dashboard: Value = serde_json::from_str(&deploy("grafana/gonka-dashboard.json")).unwrap();
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "{queries:?}");
    for q in &queries {
        metric_names(q, &mut used);
    }
    let rules = alert_rules(&deploy("prometheus/alerts.yml"));
    let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "GonkaGatewayNoRoutableNodes",
        "GonkaGatewayHigh5xxRatio",
        "GonkaGatewayBreakerOpen",
        "GonkaGatewayQueueWaitHigh",
        "GonkaMlNodeEngineDown",
        "GonkaBuildMismatch",
    ] {
        assert!(
            names.contains(&expected),
            "no alert {expected} in {names:?}"
        );
    }
    for (_, expr) in &rules {
        metric_names(expr, &mut used);
    }
    assert!(used.len() >= 25, "{used:?}");

    // A gateway with PoC on the devnet clock and one real ML node (simulator engine, tiny PoC
    // model), until epoch 1 is validated.
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let mut chain = DevnetChain::default();
    chain.model.seq_len = 8;
    let mut config = DevnetConfig {
        ml_nodes: 1,
        ready_timeout: Duration::from_secs(30),
        poc: Some(DevnetPoc {
            phases: PhaseDurations::within_epoch(
                Duration::from_secs(30),
                Duration::from_millis(2000),
                Duration::from_millis(500),
                Duration::from_millis(2000),
            )
            .unwrap(),
            chain,
            mlnode: PocSettings {
                compute: std::sync::Arc::new(TinyModelCompute::default()),
                callback_interval: Duration::from_millis(200),
                retry_initial: Duration::from_millis(20),
                retry_max: Duration::from_millis(100),
                ..PocSettings::default()
            },
            ..DevnetPoc::default()
        }),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    config.gateway.reconcile_interval = Duration::from_millis(500);
    let net = devnet::start(config, listeners).await.unwrap();
    let public = net.gateway.public_addr;
    let url = format!("http://{public}/v1/chat/completions");
    for body in [
        json!({"model": net.model, "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": net.model, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]}),
    ] {
        // Before or after the PoC stage: the node serves inference either way in the devnet.
        let r = client().post(&url).json(&body).send().await.unwrap();
        r.bytes().await.unwrap();
    }
    let mut validated = false;
    for _ in 0..800 {
        let r = client()
            .get(format!("http://{public}/v1/epochs/1/participants"))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            validated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(validated, "epoch 1 was never validated");

    let mut exposed = sample_names(&text(format!("http://{public}/metrics")).await);
    exposed.extend(sample_names(
        &text(format!("http://{}/metrics", net.nodes[0].mgmt_addr)).await,
    ));
    exposed.extend(sample_names(&admin_metrics().await));
    let missing: Vec<&String> = used.iter().filter(|m| !exposed.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not exposed: {missing:?}\nexposed: {exposed:?}"
    );
    net.shutdown().await;
}

#[test]
fn the_alert_reader_reads_inline_and_block_expressions() {
    let rules = alert_rules(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 1m\n      - alert: B\n        expr: |\n          sum(x)\n            / sum(y) > 1\n        for: 2m\n",
    );
    assert_eq!(
        rules,
        vec![
            ("A".to_owned(), "up == 0".to_owned()),
            ("B".to_owned(), "sum(x) / sum(y) > 1".to_owned())
        ]
    );
    let mut names = BTreeSet::new();
    metric_names(
        "rate(gonka_a_total{x=\"gonka_not\"}[5m]) / my_gonka_b + gonka_c",
        &mut names,
    );
    // Label values are not metric names, but a quoted value that looks like one is harmless:
    // the test requires it exposed only if it starts a word. Names inside other words are not.
    assert!(names.contains("gonka_a_total") && names.contains("gonka_c"));
    assert!(!names.contains("gonka_b"));
}
