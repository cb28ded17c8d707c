//! The agent: the state machine behind the management API (STOPPED → INFERENCE → STOPPED) and
//! the list of engine replicas the inference proxy routes to.
//!
//! `up` validates the request, creates the engine replicas and starts them in a background task,
//! answering at once; progress is visible in [`Agent::up_status`] and [`Agent::state`]. A second
//! up for the same model while starting or running is a no-op; another model is a conflict until
//! `down`. An up after the engines gave up (crash loop) restarts them. `down` cancels a start in
//! progress and stops every engine.

mod engines;
mod report;
mod request;
pub mod residency;
mod status;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gonka_core::{EngineHealth, InferenceBackend, LaunchSpec};
use tokio::sync::watch;

pub use report::{ReplicaHealth, ReplicaReport, StateReport, UpPhase, UpStatusReport};
pub use request::{AgentError, UpOutcome, UpRequest};

use crate::engine::{EngineKind, ProcessBackend, SimulatorBackend};
use crate::MlNodeConfig;

/// Builds the backend of replica `i`.
pub type BackendFactory = Arc<dyn Fn(usize) -> Arc<dyn InferenceBackend> + Send + Sync>;

#[derive(Debug, Clone)]
struct Replica {
    backend: Arc<dyn InferenceBackend>,
    in_flight: Arc<AtomicUsize>,
}

#[derive(Debug, Clone)]
struct Loaded {
    model: String,
    dtype: String,
    /// Context window the engine was launched with, in tokens (0: unknown).
    context_length: u32,
}

#[derive(Debug)]
struct Inner {
    loaded: Option<Loaded>,
    last_model: Option<String>,
    replicas: Vec<Replica>,
    up: UpPhase,
    up_started: Option<Instant>,
    up_elapsed: Option<Duration>,
    up_error: Option<String>,
    running_since: Option<Instant>,
    generation: u64,
    last_error: Option<String>,
    /// When the last request was proxied to an engine (or the engines became ready): the
    /// simulator's keep-alive counts from it.
    last_used: Option<Instant>,
}

/// An upstream chosen by [`Agent::pick`]: the engine's base URL and a guard that counts the
/// request as in flight on that replica until dropped.
#[derive(Debug)]
pub struct Upstream {
    /// Engine base URL, e.g. `http://127.0.0.1:5001`.
    pub base_url: String,
    /// The engine behind it (the proxy answers vLLM's words for llama.cpp).
    pub engine: EngineKind,
    /// Counts the request while alive.
    pub guard: InFlight,
}

/// Decrements a replica's (or task instance's) in-flight count when dropped, and stamps the
/// instance's last request time (Unix ms) when it has one.
#[derive(Debug)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    last_request_ms: Option<Arc<AtomicU64>>,
}

impl InFlight {
    /// Counts one request in `count` until dropped; `last_request_ms` gets the time it ended.
    pub(crate) fn counting(
        count: Arc<AtomicUsize>,
        last_request_ms: Option<Arc<AtomicU64>>,
    ) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self {
            count,
            last_request_ms,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        if let Some(last) = &self.last_request_ms {
            last.store(crate::tasks::now_ms(), Ordering::SeqCst);
        }
    }
}

/// The ML node agent's engine state. Shared as `Arc<Agent>` by the management API and the proxy.
pub struct Agent {
    config: Arc<MlNodeConfig>,
    factory: BackendFactory,
    ops: tokio::sync::Mutex<()>,
    inner: Mutex<Inner>,
    started: Instant,
    changes: watch::Sender<u64>,
    rotation: AtomicUsize,
    poc: crate::poc::PocRunner,
    poc_engines: crate::poc::EngineForwarder,
    metrics: Arc<crate::metrics::MlNodeMetrics>,
    tasks: crate::tasks::TaskManager,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("engine", &self.config.engine)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent whose replicas are the engine named in `config`.
    pub fn new(config: MlNodeConfig) -> Arc<Self> {
        let config = Arc::new(config);
        let cfg = Arc::clone(&config);
        let factory: BackendFactory = Arc::new(move |i| -> Arc<dyn InferenceBackend> {
            match cfg.engine {
                EngineKind::Simulator => Arc::new(SimulatorBackend::new(
                    cfg.simulator.clone(),
                    cfg.drain_timeout,
                )),
                _ => Arc::new(ProcessBackend::new(cfg.process_options(i))),
            }
        });
        Self::with_factory(config, factory)
    }

    /// An agent whose replicas come from `factory` (custom engines).
    pub fn with_factory(config: Arc<MlNodeConfig>, factory: BackendFactory) -> Arc<Self> {
        let poc = crate::poc::PocRunner::new(config.poc.clone());
        let metrics = Arc::new(crate::metrics::MlNodeMetrics::new());
        let tasks = crate::tasks::TaskManager::new(Arc::clone(&config), Arc::clone(&metrics));
        Arc::new(Self {
            config,
            factory,
            ops: tokio::sync::Mutex::new(()),
            inner: Mutex::new(Inner {
                loaded: None,
                last_model: None,
                replicas: Vec::new(),
                up: UpPhase::NotStarted,
                up_started: None,
                up_elapsed: None,
                up_error: None,
                running_since: None,
                generation: 0,
                last_error: None,
                last_used: None,
            }),
            started: Instant::now(),
            changes: watch::channel(0).0,
            rotation: AtomicUsize::new(0),
            poc,
            poc_engines: crate::poc::EngineForwarder::new(),
            metrics,
            tasks,
        })
    }

    /// The PoC runner (`/api/v1/inference/pow/*`).
    pub fn poc(&self) -> &crate::poc::PocRunner {
        &self.poc
    }

    /// The node's Prometheus metrics.
    pub fn metrics(&self) -> &Arc<crate::metrics::MlNodeMetrics> {
        &self.metrics
    }

    /// The deployment task instances (`/api/v1/tasks`).
    pub fn tasks(&self) -> &crate::tasks::TaskManager {
        &self.tasks
    }

    /// `PUT /api/v1/tasks/{task_id}`: [`crate::tasks::TaskManager::launch`], refusing the
    /// ports of the single-model engines (`--engine-port-base` range and the ports the
    /// replicas run on now).
    ///
    /// # Errors
    /// As [`crate::tasks::TaskManager::launch`].
    pub async fn launch_task(
        &self,
        task_id: &str,
        launch: gonka_core::mlnode_api::TaskLaunch,
    ) -> Result<gonka_core::mlnode_api::TaskInstance, AgentError> {
        let mut reserved: Vec<u16> = self
            .lock()
            .replicas
            .iter()
            .filter_map(|r| r.backend.base_url())
            .filter_map(|url| url.rsplit(':').next().and_then(|p| p.parse().ok()))
            .collect();
        if self.config.engine != EngineKind::Simulator && self.config.engine_port_base != 0 {
            let base = self.config.engine_port_base;
            let count = u16::try_from(self.config.replicas.max(1)).unwrap_or(u16::MAX);
            reserved.extend((0..count).map(|i| base.saturating_add(i)));
        }
        self.tasks.launch(task_id, launch, &reserved).await
    }

    /// The forwarder of PoC calls to the engines (PoC on a vLLM engine's served model).
    pub fn poc_engines(&self) -> &crate::poc::EngineForwarder {
        &self.poc_engines
    }

    /// The configuration.
    pub fn config(&self) -> &MlNodeConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The GPUs the node reports (`/api/v1/gpu/devices`, `/health`): its simulated GPUs when it
    /// has some (`--sim-gpus`), each busy with the requests in flight on it
    /// ([`crate::gpu::in_flight_by_device`]: the task instances bound to it, and the node's own
    /// engine on every device) at `100 / SIM_GPU_FULL_AT` percent per request; else the host's
    /// (detection, on a blocking thread; empty when that thread fails).
    pub async fn gpu_report(&self) -> crate::gpu::GpuReport {
        let Some(sim) = self.config.sim_gpus.clone().filter(|s| s.count > 0) else {
            return tokio::task::spawn_blocking(|| crate::gpu::report(None))
                .await
                .unwrap_or_default();
        };
        let instances: Vec<(Vec<String>, u32)> = self
            .tasks
            .list()
            .await
            .tasks
            .into_iter()
            .map(|t| (t.gpu_ids, t.in_flight))
            .collect();
        let shared: usize = self
            .lock()
            .replicas
            .iter()
            .map(|r| r.in_flight.load(Ordering::SeqCst))
            .sum();
        let shared = u32::try_from(shared).unwrap_or(u32::MAX);
        let load = crate::gpu::in_flight_by_device(sim.count, &instances, shared);
        crate::gpu::GpuReport::new(sim.devices_under(&load))
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Brings `req.model` up in the background. See the module docs for the rules.
    ///
    /// # Errors
    /// `Invalid` for a bad request, `Conflict` when another model is starting or running.
    pub async fn up(self: &Arc<Self>, req: UpRequest) -> Result<UpOutcome, AgentError> {
        request::validate(&self.config, &req)?;
        let _op = self.ops.lock().await;
        let (loaded, phase, old) = {
            let inner = self.lock();
            (inner.loaded.clone(), inner.up, inner.replicas.clone())
        };
        if let Some(current) =
            loaded.filter(|_| matches!(phase, UpPhase::InProgress | UpPhase::Completed))
        {
            let gave_up = phase == UpPhase::Completed && all_failed(&old).await;
            if !gave_up {
                if current.model == req.model {
                    return Ok(if phase == UpPhase::InProgress {
                        UpOutcome::AlreadyStarting
                    } else {
                        UpOutcome::AlreadyRunning
                    });
                }
                let doing = if phase == UpPhase::InProgress {
                    "starting"
                } else {
                    "running"
                };
                return Err(AgentError::Conflict(format!(
                    "model {} is already {doing}; call /api/v1/inference/down before loading {}",
                    current.model, req.model
                )));
            }
            tracing::info!(model = %current.model, "engines gave up earlier: restarting on up");
        }
        if let Err(e) = stop_all(&old).await {
            tracing::warn!(error = %e, "stopping previous engines failed");
        }

        let count = self.config.replicas.max(1);
        let mut replicas = Vec::with_capacity(count);
        let mut specs = Vec::with_capacity(count);
        for i in 0..count {
            replicas.push(Replica {
                backend: (self.factory)(i),
                in_flight: Arc::new(AtomicUsize::new(0)),
            });
            specs.push(LaunchSpec {
                model: req.model.clone(),
                dtype: req.dtype.clone(),
                args: req.additional_args.clone(),
                port: self.engine_port(i).await,
            });
        }
        let generation = {
            let mut inner = self.lock();
            inner.generation += 1;
            inner.loaded = Some(Loaded {
                model: req.model.clone(),
                dtype: req.dtype.clone(),
                context_length: residency::loaded_context(&self.config, &req.additional_args),
            });
            inner.last_model = Some(req.model.clone());
            inner.replicas = replicas.clone();
            inner.up = UpPhase::InProgress;
            inner.up_started = Some(Instant::now());
            inner.up_elapsed = None;
            inner.up_error = None;
            inner.running_since = None;
            inner.generation
        };
        tracing::info!(model = %req.model, replicas = count, engine = %self.config.engine, "inference up");
        self.notify();
        let agent = Arc::clone(self);
        tokio::spawn(async move { agent.start_replicas(generation, replicas, specs).await });
        Ok(UpOutcome::Starting)
    }

    async fn engine_port(&self, replica: usize) -> u16 {
        if self.config.engine == EngineKind::Simulator {
            return 0;
        }
        if self.config.engine_port_base != 0 {
            let offset = u16::try_from(replica).unwrap_or(u16::MAX);
            return self.config.engine_port_base.saturating_add(offset);
        }
        // A free loopback port, released just before the engine binds it.
        match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l.local_addr().map_or(0, |a| a.port()),
            Err(_) => 0,
        }
    }

    async fn start_replicas(
        &self,
        generation: u64,
        replicas: Vec<Replica>,
        specs: Vec<LaunchSpec>,
    ) {
        let results =
            futures::future::join_all(replicas.iter().zip(&specs).map(|(r, s)| r.backend.start(s)))
                .await;
        let error = results.into_iter().find_map(Result::err).map(|e| match e {
            gonka_core::Error::Engine(reason) => reason,
            other => other.to_string(),
        });
        let to_stop = {
            let mut inner = self.lock();
            if inner.generation != generation {
                return;
            }
            inner.up_elapsed = inner.up_started.map(|t| t.elapsed());
            match &error {
                None => {
                    inner.up = UpPhase::Completed;
                    inner.running_since = Some(Instant::now());
                    inner.last_used = inner.running_since;
                    Vec::new()
                }
                Some(reason) => {
                    inner.up = UpPhase::Failed;
                    inner.up_error = Some(reason.clone());
                    inner.last_error = Some(reason.clone());
                    inner.loaded = None;
                    std::mem::take(&mut inner.replicas)
                }
            }
        };
        match error {
            None => tracing::info!("inference up completed"),
            Some(reason) => tracing::error!(%reason, "inference up failed"),
        }
        if let Err(e) = stop_all(&to_stop).await {
            tracing::warn!(error = %e, "stopping engines after a failed up failed");
        }
        self.notify();
    }

    /// Stops every engine (cancelling a start in progress) and returns to STOPPED.
    ///
    /// # Errors
    /// `Engine` when an engine could not be stopped (the agent is STOPPED regardless).
    pub async fn down(&self) -> Result<(), AgentError> {
        let _op = self.ops.lock().await;
        let replicas = {
            let mut inner = self.lock();
            inner.generation += 1;
            if inner.up == UpPhase::InProgress {
                inner.up = UpPhase::Cancelled;
                inner.up_elapsed = inner.up_started.map(|t| t.elapsed());
            }
            inner.loaded = None;
            inner.running_since = None;
            std::mem::take(&mut inner.replicas)
        };
        if !replicas.is_empty() {
            tracing::info!(replicas = replicas.len(), "inference down");
        }
        let result = stop_all(&replicas).await;
        self.notify();
        result
    }

    /// Waits until the current up is no longer in progress (or `timeout` passes) and returns
    /// its status.
    pub async fn wait_up(&self, timeout: Duration) -> UpStatusReport {
        let mut changes = self.changes.subscribe();
        let _ = tokio::time::timeout(timeout, async {
            loop {
                if self.lock().up != UpPhase::InProgress {
                    break;
                }
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        self.up_status().await
    }

    /// The upstream for one proxied request: the ready replica with the fewest requests in
    /// flight (ties in turn), counted from now until the returned guard drops. `None` when no
    /// engine is ready.
    pub fn pick(&self) -> Option<Upstream> {
        let mut inner = self.lock();
        let count = inner.replicas.len();
        // Ties go to the replica after the last pick, so equal load spreads round-robin.
        let start = self.rotation.fetch_add(1, Ordering::Relaxed) % count.max(1);
        let (replica, base_url) = (0..count)
            .filter_map(|k| inner.replicas.get((start + k) % count))
            .filter_map(|r| r.backend.base_url().map(|url| (r, url)))
            .min_by_key(|(r, _)| r.in_flight.load(Ordering::SeqCst))?;
        let upstream = Upstream {
            base_url,
            engine: self.config.engine,
            guard: InFlight::counting(Arc::clone(&replica.in_flight), None),
        };
        inner.last_used = Some(Instant::now());
        Some(upstream)
    }

    /// Whether some engine is ready to serve.
    pub fn serving(&self) -> bool {
        self.lock()
            .replicas
            .iter()
            .any(|r| r.backend.base_url().is_some())
    }
}

async fn all_failed(replicas: &[Replica]) -> bool {
    if replicas.is_empty() {
        return false;
    }
    for r in replicas {
        if !matches!(r.backend.health().await, EngineHealth::Failed(_)) {
            return false;
        }
    }
    true
}

async fn stop_all(replicas: &[Replica]) -> Result<(), AgentError> {
    let results = futures::future::join_all(replicas.iter().map(|r| r.backend.stop())).await;
    match results.into_iter().find_map(Result::err) {
        Some(e) => Err(AgentError::Engine(e.to_string())),
        None => Ok(()),
    }
}
