//! An integrator's ML node: the gonka agent with a home-made engine, [`ShoutBackend`], that
//! answers every chat completion with the last message in upper case.
//!
//! [`agent`] builds the agent with one `ShoutBackend` per engine replica; serve it with
//! `gonka_mlnode::run_agent(agent(config), mgmt_listener, inference_listener, shutdown)`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::{EngineHealth, Error, InferenceBackend, LaunchSpec, Result};
use gonka_mlnode::agent::{Agent, BackendFactory};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The agent of `config` whose engines are [`ShoutBackend`]s.
pub fn agent(config: MlNodeConfig) -> Arc<Agent> {
    let factory: BackendFactory =
        Arc::new(|_replica| -> Arc<dyn InferenceBackend> { Arc::new(ShoutBackend::default()) });
    Agent::with_factory(Arc::new(config), factory)
}

#[derive(Debug)]
struct Running {
    model: String,
    base_url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// An in-process OpenAI-style engine for one model on a loopback port.
#[derive(Debug, Default)]
pub struct ShoutBackend {
    running: Mutex<Option<Running>>,
}

impl ShoutBackend {
    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn models(State(model): State<Arc<str>>) -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": &*model, "object": "model"}]}))
}

async fn chat(State(model): State<Arc<str>>, Json(body): Json<Value>) -> Json<Value> {
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_uppercase();
    Json(json!({
        "id": "chatcmpl-shout", "object": "chat.completion", "model": &*model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": last},
                     "finish_reason": "stop"}]
    }))
}

#[async_trait]
impl InferenceBackend for ShoutBackend {
    fn kind(&self) -> &'static str {
        "shout"
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<()> {
        let busy = |running: &Running| {
            if running.model == spec.model {
                Ok(())
            } else {
                Err(Error::Busy(format!("serving {}", running.model)))
            }
        };
        if let Some(r) = self.lock().as_ref() {
            return busy(r);
        }
        let listener = TcpListener::bind(("127.0.0.1", spec.port))
            .await
            .map_err(|e| Error::Engine(format!("bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Engine(format!("address: {e}")))?;
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::<str>::from(spec.model.as_str()));
        let mut running = self.lock();
        if let Some(r) = running.as_ref() {
            return busy(r);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        *running = Some(Running {
            model: spec.model.clone(),
            base_url: format!("http://{addr}"),
            stop,
            task,
        });
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        let Some(running) = self.lock().take() else {
            return Ok(());
        };
        let _ = running.stop.send(());
        let mut task = running.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        Ok(())
    }

    async fn health(&self) -> EngineHealth {
        match self.lock().as_ref() {
            None => EngineHealth::Stopped,
            Some(r) if r.task.is_finished() => EngineHealth::Failed("server ended".into()),
            Some(_) => EngineHealth::Ready,
        }
    }

    fn base_url(&self) -> Option<String> {
        self.lock()
            .as_ref()
            .filter(|r| !r.task.is_finished())
            .map(|r| r.base_url.clone())
    }
}
