//! Shared helpers of the integration tests: an agent on 127.0.0.1:0 ports, bounded polling.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod receiver;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use gonka_mlnode::MlNodeConfig;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running agent.
pub struct Node {
    pub mgmt: String,
    pub inference: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), gonka_mlnode::RunError>>>,
}

impl Node {
    pub async fn start(config: MlNodeConfig) -> Node {
        let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mgmt_url = format!("http://{}", mgmt.local_addr().unwrap());
        let inference_url = format!("http://{}", inference.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
            let _ = rx.await;
        }));
        Node {
            mgmt: mgmt_url,
            inference: inference_url,
            client: client(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Resolves the shutdown future and waits (bounded) for `run` to return.
    pub async fn stop(mut self) -> Result<(), gonka_mlnode::RunError> {
        let _ = self.shutdown.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("run did not return within 30 s of shutdown")
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.mgmt))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.mgmt))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `PUT /api/v1/tasks/{task_id}` with `body` (a task launch): the status and the answer.
    pub async fn put_task(&self, task_id: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(format!("{}/api/v1/tasks/{task_id}", self.mgmt))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits (bounded, as [`eventually`]) until task `task_id` is in `state`; its instance then.
    pub async fn wait_task(&self, task_id: &str, state: &str) -> Value {
        eventually(&format!("task {task_id} {state}"), || async {
            let (code, t) = self.get(&format!("/api/v1/tasks/{task_id}")).await;
            (code == 200 && t["state"] == state).then_some(t)
        })
        .await
    }

    pub async fn state(&self) -> Value {
        self.get("/api/v1/state").await.1
    }

    /// Polls `/api/v1/state` until `pred` holds (at most 30 s), returning the matching state.
    pub async fn wait_state(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.state().await;
            if pred(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; last state: {last:#}");
    }

    /// Waits until the up completed (every replica started) and an engine answers ready.
    pub async fn wait_inference_healthy(&self) -> Value {
        self.wait_state("inference_healthy after a completed up", |s| {
            s["inference_healthy"] == true && s["up_status"] == "completed"
        })
        .await
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Polls `f` until it returns `Some` (at most 30 s).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A loopback port free now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether anything answers HTTP on loopback `port` (`GET /health`, any status, 5 s at most).
pub async fn answers(port: u16) -> bool {
    client()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok()
}

pub fn fake_engine() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_engine.py")
}

/// A config running the fake engine as `kind`, with fast supervision settings.
pub fn fake_engine_config(kind: gonka_mlnode::engine::EngineKind) -> MlNodeConfig {
    let mut config = MlNodeConfig {
        engine: kind,
        engine_cmd: Some(format!("python3 {}", fake_engine().display())),
        grace_period: Duration::from_secs(2),
        startup_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        health_interval: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(500),
        ..MlNodeConfig::default()
    };
    config.backoff.initial = Duration::from_millis(50);
    config.backoff.max = Duration::from_millis(200);
    config
}

/// Whether a process with `pid` exists (signal 0).
/// Whether a process with `pid` exists and is not a zombie (a grandchild re-parented to a
/// PID 1 that does not reap stays a zombie, but it is dead).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
    }
}

/// Reads an SSE body: the `data:` payloads in order (including `[DONE]`).
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Concatenated `delta.content` (chat) or `text` (completions) of SSE payloads.
pub fn sse_text(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|v| {
            let choice = v["choices"].get(0)?.clone();
            choice["delta"]["content"]
                .as_str()
                .or_else(|| choice["text"].as_str())
                .map(str::to_owned)
        })
        .collect()
}
