//! The ML node agent with your own inference engine.
//!
//! Any [`InferenceBackend`] can stand behind the agent's management API (`inference/up`,
//! `inference/down`, `state`) and inference proxy: build the agent with
//! [`Agent::with_factory`], which makes one backend per engine replica, and serve it with
//! [`gonka_mlnode::run_agent`]. Here the engine is [`EchoBackend`], an in-process
//! OpenAI-compatible server that answers every chat completion with `echo: <last message>`.
//! Check your own backend with [`gonka_core::testing::backend_suite`] (feature `testing`), as
//! this crate's tests do for `EchoBackend`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mgmt = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let inference = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! let agent = gonka_examples::embed_mlnode::agent(gonka_mlnode::MlNodeConfig::default());
//! gonka_mlnode::run_agent(agent, mgmt, inference, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How long `stop` lets open connections finish before it cuts them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The ML node agent of `config` whose engine replicas are [`EchoBackend`]s.
pub fn agent(config: MlNodeConfig) -> Arc<Agent> {
    let factory: BackendFactory =
        Arc::new(|_replica| -> Arc<dyn InferenceBackend> { Arc::new(EchoBackend::new()) });
    Agent::with_factory(Arc::new(config), factory)
}

#[derive(Debug)]
struct Running {
    model: String,
    base_url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// An in-process engine that serves one model on a loopback port: `GET /v1/models` lists it,
/// `POST /v1/chat/completions` answers `echo: <content of the last message>`.
///
/// Contract as [`InferenceBackend`]: ready as soon as `start` returns; another model while
/// running is `Busy`; `stop` releases the port (open connections get 5 s).
#[derive(Debug, Default)]
pub struct EchoBackend {
    running: Mutex<Option<Running>>,
    served: Arc<AtomicUsize>,
}

impl EchoBackend {
    /// A stopped echo engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chat completions answered since creation.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
struct Engine {
    model: String,
    served: Arc<AtomicUsize>,
}

fn engine_router(engine: Engine) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .with_state(engine)
}

async fn models(State(engine): State<Engine>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": engine.model, "object": "model", "owned_by": "echo"}]}),
    )
}

async fn chat(State(engine): State<Engine>, Json(body): Json<Value>) -> Json<Value> {
    engine.served.fetch_add(1, Ordering::SeqCst);
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    Json(json!({
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "model": engine.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("echo: {last}")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
}

fn busy(model: &str) -> Error {
    Error::Busy(format!("echo engine is serving model {model}"))
}

#[async_trait]
impl InferenceBackend for EchoBackend {
    fn kind(&self) -> &'static str {
        "echo"
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<()> {
        if let Some(r) = self.lock().as_ref() {
            return if r.model == spec.model {
                Ok(())
            } else {
                Err(busy(&r.model))
            };
        }
        let listener = TcpListener::bind(("127.0.0.1", spec.port))
            .await
            .map_err(|e| Error::Engine(format!("cannot bind 127.0.0.1:{}: {e}", spec.port)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Engine(format!("listener has no address: {e}")))?;
        let app = engine_router(Engine {
            model: spec.model.clone(),
            served: Arc::clone(&self.served),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let mut running = self.lock();
        if let Some(r) = running.as_ref() {
            // Another start won the race while this one bound its port.
            return if r.model == spec.model {
                Ok(())
            } else {
                Err(busy(&r.model))
            };
        }
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
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(served)) => served.map_err(|e| Error::Engine(format!("echo server failed: {e}"))),
            Ok(Err(e)) => Err(Error::Engine(format!("echo server task failed: {e}"))),
            Err(_) => {
                task.abort();
                let _ = task.await;
                Ok(())
            }
        }
    }

    async fn health(&self) -> EngineHealth {
        match self.lock().as_ref() {
            None => EngineHealth::Stopped,
            Some(r) if r.task.is_finished() => EngineHealth::Failed("echo server ended".into()),
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
