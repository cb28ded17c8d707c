//! Runs `mlnode.py` (the upstream ML node stand-in next to this file) as a child process and
//! reads the calls it recorded.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The stand-in script.
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/upstream_mlnode/mlnode.py"
);

/// The interpreter: `GONKA_PYTHON` (set by `scripts/test.sh`), else `python3`.
pub fn interpreter() -> String {
    std::env::var("GONKA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether the interpreter runs here (the tests skip, saying so, when it does not; under
/// `scripts/test.sh`, which sets `GONKA_PYTHON`, a missing interpreter is a failure).
pub async fn python3_available() -> bool {
    let runs = Command::new(interpreter())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    assert!(
        runs || std::env::var_os("GONKA_PYTHON").is_none(),
        "GONKA_PYTHON={} does not run",
        interpreter()
    );
    runs
}

/// A running stand-in; killed when dropped (and it exits when its stdin closes).
pub struct StandIn {
    _child: Child,
    /// Management port.
    pub mgmt_port: u16,
    /// Inference port.
    pub inference_port: u16,
    http: reqwest::Client,
}

impl StandIn {
    /// Starts the stand-in on two free loopback ports with an engine load time of `load_time`
    /// and `/generated` posts every `callback_interval`.
    pub async fn start(load_time: Duration, callback_interval: Duration) -> Self {
        let mut child = Command::new(interpreter())
            .arg(SCRIPT)
            .args(["--load-time", &load_time.as_secs_f64().to_string()])
            .args([
                "--callback-interval",
                &callback_interval.as_secs_f64().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts the stand-in");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the stand-in prints its ports within 30 s")
            .unwrap()
            .expect("the stand-in printed a line");
        let ports: Value = serde_json::from_str(&line).unwrap();
        let port = |k: &str| u16::try_from(ports[k].as_u64().unwrap()).unwrap();
        Self {
            mgmt_port: port("mgmt_port"),
            inference_port: port("inference_port"),
            _child: child,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// A registry entry for this stand-in serving `model`; `version` (e.g. `v3.0.8`) becomes
    /// both segments, as upstream's broker builds ML node URLs with the chain's version.
    pub fn config(&self, id: &str, model: &str, version: Option<&str>) -> gonka_core::NodeConfig {
        let mut c = gonka_core::NodeConfig::new(id, model)
            .at("127.0.0.1", self.inference_port, self.mgmt_port)
            .max_concurrent(4);
        if let Some(v) = version {
            c.poc_segment = format!("/{v}");
            c.inference_segment = format!("/{v}");
        }
        c
    }

    /// Every call recorded so far (received: `port` `mgmt`/`inference`; sent: `callback`).
    pub async fn calls(&self) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/_calls", self.mgmt_port);
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }

    /// The calls received whose method is `method` and whose path (version prefix and query
    /// removed) is `path`.
    pub async fn received(&self, method: &str, path: &str) -> Vec<Value> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| {
                c["port"] != "callback"
                    && c.get("client_gone").is_none()
                    && c["method"] == method
                    && route(c) == path
            })
            .collect()
    }

    /// The calls whose caller went away before the answer.
    pub async fn abandoned(&self) -> Vec<Value> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| c.get("client_gone").is_some())
            .collect()
    }

    /// The callbacks it sent to a URL ending in `/{suffix}`.
    pub async fn callbacks(&self, suffix: &str) -> Vec<Value> {
        self.calls()
            .await
            .into_iter()
            .filter(|c| {
                c["port"] == "callback"
                    && c["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(&format!("/{suffix}")))
            })
            .collect()
    }
}

/// A recorded call's path without its version prefix (`/v3.0.8`) and query.
pub fn route(call: &Value) -> String {
    let path = call["path"].as_str().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let mut segments = path.splitn(3, '/');
    let (_, first, rest) = (segments.next(), segments.next(), segments.next());
    match (first, rest) {
        (Some(v), Some(rest))
            if v.starts_with('v')
                && v.contains('.')
                && v[1..].chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            format!("/{rest}")
        }
        _ => path.to_owned(),
    }
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}
