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

#[derive(Debug)]
struct Running {
    model: String,
    base_url: String,
    sim: Arc<Simulator>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// The in-process simulator engine. Ignores `dtype` and `args`; the model name from the spec is
/// what it serves.
#[derive(Debug)]
pub struct SimulatorBackend {
    config: SimulatorConfig,
    drain: Duration,
    running: Mutex<Option<Running>>,
}

impl SimulatorBackend {
    /// A stopped simulator engine; `drain` is how long open streams may finish on stop.
    pub fn new(config: SimulatorConfig, drain: Duration) -> Self {
        Self {
            config,
            drain,
            running: Mutex::new(None),
        }
    }

    /// The running simulator (for its counters and fault settings), if started.
    pub fn simulator(&self) -> Option<Arc<Simulator>> {
        self.lock().as_ref().map(|r| Arc::clone(&r.sim))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
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
        let sim = Simulator::new(SimulatorConfig {
            model: spec.model.clone(),
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
        match self.lock().as_ref() {
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
