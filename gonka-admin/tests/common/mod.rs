//! Shared fixtures of the admin integration tests: a real server on 127.0.0.1:0 and the
//! node bodies of seed 000.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bin;

use std::sync::Arc;

use gonka_admin::{router, AdminOptions};
use gonka_core::{MemoryRegistry, NodeRegistry};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running admin server; stops (gracefully) when dropped or with [`Server::stop`].
pub struct Server {
    pub base: String,
    pub registry: Arc<dyn NodeRegistry>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `registry` with `options` on a fresh loopback port.
    pub async fn start_with(registry: Arc<dyn NodeRegistry>, options: AdminOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&registry), options)
            .merge(gonka_admin::probe_router(Arc::clone(&registry)));
        let task = tokio::spawn(gonka_admin::run(app, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            registry,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves a fresh in-memory registry with default options.
    pub async fn start() -> Self {
        Self::start_with(Arc::new(MemoryRegistry::new()), AdminOptions::default()).await
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP answer: status and body parsed as JSON (`Value::Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// Sends `method path` with an optional JSON body.
pub async fn call(server: &Server, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let client = reqwest::Client::new();
    let mut rb = client.request(method.parse().unwrap(), server.url(path));
    if let Some(b) = body {
        rb = rb.json(b);
    }
    answer(rb.send().await.unwrap()).await
}

/// Sends raw bytes with a content type.
pub async fn call_raw(
    server: &Server,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut rb = client
        .request(method.parse().unwrap(), server.url(path))
        .body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    answer(rb.send().await.unwrap()).await
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, text }
}

/// Seed 000's first example node (`node1`, Qwen3-32B-FP8, 10.0.0.21:5050/8080, 500).
pub fn seed_node1() -> Value {
    json!({
        "id": "node1",
        "host": "10.0.0.21",
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 500,
        "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}
    })
}

/// Seed 000's 235B example node.
pub fn seed_node_235b() -> Value {
    json!({
        "id": "node-235b",
        "host": "10.0.0.22",
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 500,
        "models": {"Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": {"args": ["--tensor-parallel-size", "4"]}}
    })
}

/// Seed 000's batch example's second node.
pub fn seed_node2() -> Value {
    let mut n = seed_node_235b();
    n["id"] = json!("node2");
    n
}

/// `body` with `node_num` added, as the server answers it.
pub fn stored(mut body: Value, node_num: u64) -> Value {
    body["node_num"] = json!(node_num);
    body
}

/// A valid node `i` on its own host.
pub fn numbered_node(i: usize) -> Value {
    json!({
        "id": format!("n{i}"),
        "host": format!("10.1.{}.{}", i / 250, i % 250),
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 16,
        "models": {"Qwen/QwQ-32B": {"args": []}}
    })
}
