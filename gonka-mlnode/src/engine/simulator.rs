//! [`SimulatorBackend`]: the simulator as an [`InferenceBackend`], served in-process on a
//! loopback port (port 0 in the spec = any free port).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gonka_core::{EngineHealth, Error, InferenceBackend, LaunchSpec, Result};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::simulator::{self, Simulator, SimulatorConfig};

/// Engine argument: the simulator's start fails with an engine error.
pub const FAIL_START_ARG: &str = "--sim-fail-start";

/// Engine argument: the simulator starts and serves, but its `/health` answers `503`
/// ([`crate::simulator::FaultConfig::unhealthy`]).
pub const UNHEALTHY_ARG: &str = "--sim-unhealthy";

#[derive(Debug)]
struct Running {
    model: String,
    base_url: String,
    sim: Arc<Simulator>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// A start in progress: waiting out [`SimulatorConfig::load_time`].
#[derive(Debug)]
struct Loading {
    id: u64,
    model: String,
    cancel: CancellationToken,
}

/// The in-process simulator engine. Ignores `dtype` and the `args` it does not know; the model
/// name from the spec is what it serves. Of the `args` it reads `--max-model-len N` (its context
/// length) and two faults of its own, so a launch (a deployment's `engine_args`) can ask for a
/// broken engine: `FAIL_START_ARG` (the start fails, as an engine whose model does not load)
/// and `UNHEALTHY_ARG` (it serves, but `/health` answers `503`). With a [`SimulatorConfig::load_time`], `start` first waits that long (health
/// `Starting`, nothing served, like a large model loading); `stop` during the wait cancels the
/// start, which then fails.
#[derive(Debug)]
pub struct SimulatorBackend {
    config: SimulatorConfig,
    drain: Duration,
    running: Mutex<Option<Running>>,
    loading: Mutex<Option<Loading>>,
    starts: std::sync::atomic::AtomicU64,
}

impl SimulatorBackend {
    /// A stopped simulator engine; `drain` is how long open streams may finish on stop.
    pub fn new(config: SimulatorConfig, drain: Duration) -> Self {
        Self {
            config,
            drain,
            running: Mutex::new(None),
            loading: Mutex::new(None),
            starts: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The running simulator (for its counters and fault settings), if started.
    pub fn simulator(&self) -> Option<Arc<Simulator>> {
        self.lock().as_ref().map(|r| Arc::clone(&r.sim))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loading(&self) -> std::sync::MutexGuard<'_, Option<Loading>> {
        self.loading.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits out the load time; `Err` when a `stop` (or another model's start) came first.
    async fn load(&self, model: &str) -> Result<()> {
        if self.config.load_time.is_zero() {
            return Ok(());
        }
        let cancel = CancellationToken::new();
        let id = self
            .starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut loading = self.loading();
            if let Some(other) = loading.as_ref() {
                return Err(Error::Busy(format!(
                    "simulator is loading model {}",
                    other.model
                )));
            }
            *loading = Some(Loading {
                id,
                model: model.to_owned(),
                cancel: cancel.clone(),
            });
        }
        tracing::info!(model, load_time = ?self.config.load_time, "simulator engine loading");
        tokio::select! {
            () = tokio::time::sleep(self.config.load_time) => {}
            () = cancel.cancelled() => {}
        }
        let mut loading = self.loading();
        // A stop takes the entry and cancels it; only this start's own entry is cleared here.
        if loading.as_ref().is_some_and(|l| l.id == id) {
            *loading = None;
        }
        drop(loading);
        if !cancel.is_cancelled() {
            Ok(())
        } else {
            Err(Error::Engine(format!(
                "simulator engine stopped while loading model {model}"
            )))
        }
    }

    fn busy_with(&self, model: &str) -> Option<Result<()>> {
        let running = self.lock();
        let r = running.as_ref().filter(|r| !r.task.is_finished())?;
        Some(if r.model == model {
            Ok(())
        } else {
            Err(Error::Busy(format!(
                "simulator is serving model {}",
                r.model
            )))
        })
    }
}

#[async_trait]
impl InferenceBackend for SimulatorBackend {
    fn kind(&self) -> &'static str {
        "simulator"
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<()> {
        if let Some(answer) = self.busy_with(&spec.model) {
            return answer;
        }
        self.load(&spec.model).await?;
        if spec.args.iter().any(|a| a == FAIL_START_ARG) {
            return Err(Error::Engine(format!(
                "simulator engine exited at start loading model {} ({FAIL_START_ARG})",
                spec.model
            )));
        }
        let listener = TcpListener::bind(("127.0.0.1", spec.port))
            .await
            .map_err(|e| {
                Error::Engine(format!(
                    "simulator cannot bind 127.0.0.1:{}: {e}",
                    spec.port
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Engine(format!("simulator listener has no address: {e}")))?;
        let max_model_len = spec
            .args
            .windows(2)
            .find(|w| w[0] == "--max-model-len")
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(self.config.max_model_len);
        let mut faults = self.config.faults.clone();
        faults.unhealthy |= spec.args.iter().any(|a| a == UNHEALTHY_ARG);
        let sim = Simulator::new(SimulatorConfig {
            model: spec.model.clone(),
            max_model_len,
            faults,
            ..self.config.clone()
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(gonka_core::server::serve_with_drain(
            listener,
            simulator::router(Arc::clone(&sim)),
            shutdown.clone().cancelled_owned(),
            self.drain,
        ));
        let mut running = self.lock();
        if let Some(other) = running.as_ref().filter(|r| !r.task.is_finished()) {
            shutdown.cancel();
            return if other.model == spec.model {
                Ok(())
            } else {
                Err(Error::Busy(format!(
                    "simulator is serving model {}",
                    other.model
                )))
            };
        }
        tracing::info!(model = %spec.model, %addr, "simulator engine started");
        *running = Some(Running {
            model: spec.model.clone(),
            base_url: format!("http://{addr}"),
            sim,
            shutdown,
            task,
        });
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        if let Some(loading) = self.loading().take() {
            loading.cancel.cancel();
        }
        let running = self.lock().take();
        if let Some(r) = running {
            r.shutdown.cancel();
            r.task
                .await
                .map_err(|e| Error::Engine(format!("simulator task failed: {e}")))?
                .map_err(|e| Error::Engine(format!("simulator server failed: {e}")))?;
        }
        Ok(())
    }

    async fn health(&self) -> EngineHealth {
        let loading = self.loading().is_some();
        match self.lock().as_ref() {
            None if loading => EngineHealth::Starting,
            None => EngineHealth::Stopped,
            Some(r) if r.task.is_finished() => {
                EngineHealth::Failed("simulator server ended".into())
            }
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
