//! [`ProcessBackend`]: runs one engine process (vLLM, SGLang, llama-server) and supervises it.
//!
//! The process is spawned in its own process group with stdout/stderr captured into an
//! [`EngineLog`]. Start-up waits for the engine's readiness probe, watching the process so a
//! start-up crash is reported at once with the engine's own last error line. Once ready, the
//! supervisor restarts the engine with exponential backoff when it dies (or stops answering its
//! health probe), resets the failure count after a healthy period and gives up after N
//! consecutive failures (health `Failed(reason)`). Stop sends SIGTERM to the group, SIGKILL after
//! the grace period, reaps the child and frees the port.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gonka_core::{EngineHealth, Error, InferenceBackend, LaunchSpec, Result};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::supervisor::Supervisor;
use super::{EngineLog, ProcessOptions};

#[derive(Debug)]
pub(super) struct Status {
    pub(super) health: EngineHealth,
    pub(super) base_url: Option<String>,
    pub(super) pid: Option<u32>,
    pub(super) last_error: Option<String>,
    pub(super) restarts: u32,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) status: Mutex<Status>,
    pub(super) log: EngineLog,
}

impl Shared {
    pub(super) fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Status) -> T) -> T {
        f(&self.status.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug)]
struct Running {
    model: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A supervised engine process. See the module docs for the behaviour.
#[derive(Debug)]
pub struct ProcessBackend {
    options: Arc<ProcessOptions>,
    client: reqwest::Client,
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl ProcessBackend {
    /// A stopped backend with `options`.
    pub fn new(options: ProcessOptions) -> Self {
        let log = EngineLog::new(options.log_file.clone());
        Self {
            options: Arc::new(options),
            client: crate::http_client(),
            shared: Arc::new(Shared {
                status: Mutex::new(Status {
                    health: EngineHealth::Stopped,
                    base_url: None,
                    pid: None,
                    last_error: None,
                    restarts: 0,
                }),
                log,
            }),
            running: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl InferenceBackend for ProcessBackend {
    fn kind(&self) -> &'static str {
        self.options.kind.as_str()
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<()> {
        let first_rx = {
            let mut running = self.running.lock().await;
            if let Some(r) = running.as_ref() {
                if !r.task.is_finished() {
                    return if r.model == spec.model {
                        Ok(())
                    } else {
                        Err(Error::Busy(format!("engine is running model {}", r.model)))
                    };
                }
            }
            let command = self
                .options
                .command(spec)
                .map_err(|e| Error::Engine(e.to_string()))?;
            tracing::info!(engine = self.kind(), %command, "starting engine");
            self.shared.update(|s| {
                s.health = EngineHealth::Starting;
                s.last_error = None;
                s.restarts = 0;
            });
            let (stop_tx, stop_rx) = watch::channel(false);
            let (first_tx, first_rx) = oneshot::channel();
            let supervisor = Supervisor {
                options: Arc::clone(&self.options),
                client: self.client.clone(),
                shared: Arc::clone(&self.shared),
                command,
                base_url: format!("http://127.0.0.1:{}", spec.port),
                port: spec.port,
                stop: stop_rx,
                first: Some(first_tx),
            };
            *running = Some(Running {
                model: spec.model.clone(),
                stop: stop_tx,
                task: tokio::spawn(supervisor.run()),
            });
            first_rx
        };
        match first_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::Engine(reason)),
            Err(_) => Err(Error::Engine(
                "engine supervisor ended before the engine was ready".into(),
            )),
        }
    }

    async fn stop(&self) -> Result<()> {
        let running = self.running.lock().await.take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
            r.task
                .await
                .map_err(|e| Error::Engine(format!("engine supervisor failed: {e}")))?;
        }
        self.shared.update(|s| {
            s.health = EngineHealth::Stopped;
            s.base_url = None;
            s.pid = None;
        });
        Ok(())
    }

    async fn health(&self) -> EngineHealth {
        self.shared.read(|s| s.health.clone())
    }

    fn base_url(&self) -> Option<String> {
        self.shared.read(|s| s.base_url.clone())
    }

    fn pid(&self) -> Option<u32> {
        self.shared.read(|s| s.pid)
    }

    fn last_error(&self) -> Option<String> {
        self.shared.read(|s| s.last_error.clone())
    }

    fn restarts(&self) -> u32 {
        self.shared.read(|s| s.restarts)
    }

    fn log_tail(&self) -> Vec<String> {
        self.shared.log.tail()
    }
}
