//! A small stand-in for an ML node, for the gateway examples: real HTTP servers on loopback that
//! answer the management API the gateway calls (`/health`, `/api/v1/state`,
//! `/api/v1/inference/up`, `/api/v1/inference/down`, `/api/v1/stop`) and the OpenAI chat API,
//! whose answers name the node that served them. It loads no model: it answers like an ML node
//! that is in `INFERENCE` with its model loaded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::NodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running fake ML node; its servers stop when it is dropped.
#[derive(Debug)]
pub struct FakeMlNode {
    name: String,
    model: String,
    mgmt_port: u16,
    inference_port: u16,
    served: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    name: String,
    model: String,
    served: Arc<AtomicUsize>,
}

impl FakeMlNode {
    /// Starts a node called `name` serving `model` on two fresh loopback ports (management and
    /// inference), on the current tokio runtime.
    ///
    /// # Errors
    /// When a loopback port cannot be bound.
    pub async fn start(name: &str, model: &str) -> std::io::Result<Self> {
        let served = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            model: model.to_owned(),
            served: served.clone(),
        });
        let mgmt = TcpListener::bind("127.0.0.1:0").await?;
        let inference = TcpListener::bind("127.0.0.1:0").await?;
        let mgmt_port = mgmt.local_addr()?.port();
        let inference_port = inference.local_addr()?.port();
        let mgmt_app = Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/api/v1/state", get(state))
            .route("/api/v1/inference/up", post(ok))
            .route("/api/v1/inference/down", post(ok))
            .route("/api/v1/stop", post(ok))
            .with_state(shared.clone());
        let inference_app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared);
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(mgmt, mgmt_app).await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(inference, inference_app).await;
            }),
        ];
        Ok(Self {
            name: name.to_owned(),
            model: model.to_owned(),
            mgmt_port,
            inference_port,
            served,
            tasks,
        })
    }

    /// The node's name (what its answers say served them).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Chat completions this node answered.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// The registry configuration of this node under `id`, with `max_concurrent` slots.
    pub fn config(&self, id: &str, max_concurrent: u32) -> NodeConfig {
        NodeConfig::new(id, self.model.clone())
            .at("127.0.0.1", self.inference_port, self.mgmt_port)
            .max_concurrent(max_concurrent)
    }
}

impl Drop for FakeMlNode {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn state(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"state": "INFERENCE", "loaded_model": s.model, "version": "fake"}))
}

async fn ok() -> Json<Value> {
    Json(json!({"status": "OK"}))
}

async fn chat(State(s): State<Arc<Shared>>, Json(request): Json<Value>) -> Json<Value> {
    s.served.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("served by {}", s.name)},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
    }))
}
