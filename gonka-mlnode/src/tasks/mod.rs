//! Deployment task instances (`/api/v1/tasks`): besides the one model of Gonka's inference
//! up/down, the agent runs any number of engine instances, each its own engine with its own
//! supervisor, port, GPUs and model, launched by the gateway's placement.
//!
//! - `launch` (PUT): a new task id starts an instance in the background (`starting` →
//!   `running`, or `failed` with the engine's reason); the same launch again answers the
//!   instance as it is; a different launch of a live task id is a conflict naming the fields
//!   that differ (a `failed` instance is replaced). Bad input is refused naming the field,
//!   before anything starts; a port another instance or the single-model
//!   engines use is refused too.
//! - `sleep` / `wake` (POST): `running` → `sleeping`, `sleeping` → `waking` → `running`; a
//!   sleeping instance sleeps again and an awake one wakes again without effect; any other state
//!   is a conflict naming both. vLLM and the simulator sleep in the engine
//!   ([`SleepMode::EngineSleep`]: `POST /sleep?level=1`, `POST /wake_up`), the others stop their
//!   process and start it again ([`SleepMode::Restart`]). Each finished wake is timed into the wake histogram.
//! - `stop` (DELETE): the instance is forgotten at once and its engine stopped before the call
//!   returns, so its port no longer answers.
//! - [`TaskManager::route`]: the inference proxy's pick for a request's `model`.
//!
//! Process engines write their pid file into the state directory as `engine-task-{id}.pid`, so
//! an agent started after this one was killed stops them like its single-model engines.

mod instance;
pub mod launch;
mod route;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gonka_core::mlnode_api::{SleepMode, TaskInstance, TaskLaunch, TaskList, TaskState};
use gonka_core::InferenceBackend;
use tokio::sync::watch;

use crate::agent::AgentError;
use crate::engine::{EngineKind, LogFileConfig, ProcessBackend, SimulatorBackend};
use crate::metrics::MlNodeMetrics;
use crate::MlNodeConfig;
use instance::{Instance, WakeObserver};

pub(crate) use instance::now_ms;
pub use route::Unavailable;

/// The task instances of one agent. See the module docs.
pub struct TaskManager {
    config: Arc<MlNodeConfig>,
    metrics: Arc<MlNodeMetrics>,
    instances: Mutex<BTreeMap<String, Arc<Instance>>>,
    ops: tokio::sync::Mutex<()>,
    changes: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskManager")
            .field("instances", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl TaskManager {
    /// No instances yet.
    pub fn new(config: Arc<MlNodeConfig>, metrics: Arc<MlNodeMetrics>) -> Self {
        Self {
            config,
            metrics,
            instances: Mutex::new(BTreeMap::new()),
            ops: tokio::sync::Mutex::new(()),
            changes: Arc::new(watch::channel(0).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Instance>>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, task_id: &str) -> Option<Arc<Instance>> {
        self.lock().get(task_id).cloned()
    }

    /// Whether any instance exists.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every instance, by task id.
    pub async fn list(&self) -> TaskList {
        let all: Vec<Arc<Instance>> = self.lock().values().cloned().collect();
        let mut tasks = Vec::with_capacity(all.len());
        for i in all {
            tasks.push(i.report().await);
        }
        TaskList { tasks }
    }

    /// One instance.
    ///
    /// # Errors
    /// `NotFound` for an unknown task id.
    pub async fn instance(&self, task_id: &str) -> Result<TaskInstance, AgentError> {
        match self.get(task_id) {
            Some(i) => Ok(i.report().await),
            None => Err(not_found(task_id)),
        }
    }

    /// `PUT /api/v1/tasks/{task_id}`: starts an instance (or answers the one running the same
    /// launch). `reserved` are the ports of the single-model engines.
    ///
    /// # Errors
    /// `Invalid` naming the field, `Conflict` naming the differences from the live launch.
    pub async fn launch(
        &self,
        task_id: &str,
        launch: TaskLaunch,
        reserved: &[u16],
    ) -> Result<TaskInstance, AgentError> {
        launch::check_task_id(task_id)?;
        let mut kind = launch::check(&launch)?;
        // An agent running the simulator stands in for every engine (as placement assumes of
        // simulator nodes): the instance is a simulator whatever engine the launch names.
        if self.config.engine == EngineKind::Simulator {
            kind = EngineKind::Simulator;
        }
        let _op = self.ops.lock().await;
        if let Some(existing) = self.get(task_id) {
            let report = existing.report().await;
            if report.state != TaskState::Failed {
                let differ = launch::differences(&existing.launch, &launch);
                if differ.is_empty() {
                    return Ok(report);
                }
                return Err(AgentError::Conflict(format!(
                    "task {task_id} is {} with another launch (differs in {}); DELETE it first",
                    state_name(report.state),
                    differ.join(", ")
                )));
            }
            self.remove(task_id).await;
        }
        if reserved.contains(&launch.port) {
            return Err(AgentError::Invalid(format!(
                "port {} is used by this node's inference engines (choose another port)",
                launch.port
            )));
        }
        if let Some(other) = self
            .lock()
            .values()
            .find(|i| i.launch.port == launch.port && i.task_id != task_id)
        {
            return Err(AgentError::Invalid(format!(
                "port {} is used by task {} (choose another port)",
                launch.port, other.task_id
            )));
        }
        let engine = launch::engine_launch(kind, &launch);
        let backend = self
            .backend(task_id, kind, &launch, engine.model_files)
            .await;
        let sleep_mode = match kind {
            EngineKind::Vllm | EngineKind::Simulator => SleepMode::EngineSleep,
            _ => SleepMode::Restart,
        };
        let instance = Arc::new(Instance::new(
            task_id,
            launch,
            kind,
            engine.spec,
            backend,
            sleep_mode,
            Arc::clone(&self.changes),
        ));
        self.lock()
            .insert(task_id.to_owned(), Arc::clone(&instance));
        tracing::info!(task_id, model = %instance.launch.model, engine = %kind, port = instance.launch.port, gpus = %instance.launch.gpu_ids.join(","), "task instance launched");
        let report = instance.report().await;
        tokio::spawn(async move { instance.start().await });
        Ok(report)
    }

    async fn backend(
        &self,
        task_id: &str,
        kind: EngineKind,
        launch: &TaskLaunch,
        model_files: BTreeMap<String, std::path::PathBuf>,
    ) -> Arc<dyn InferenceBackend> {
        let config = &self.config;
        if kind == EngineKind::Simulator {
            return Arc::new(SimulatorBackend::new(
                crate::simulator::SimulatorConfig {
                    model: launch.model.clone(),
                    ..config.simulator.clone()
                },
                config.drain_timeout,
            ));
        }
        let mut options = config.process_options(0);
        options.kind = kind;
        // --engine-cmd names the launcher of the node's own engine kind only.
        if config.engine != kind {
            options.launcher = None;
        }
        options.model_files = model_files;
        options.log_file = config.log_dir.as_ref().map(|dir| LogFileConfig {
            path: dir.join(format!("engine-task-{task_id}.log")),
            max_bytes: config.log_max_bytes,
            max_files: config.log_files,
        });
        options.pid_file = config
            .state_dir
            .as_ref()
            .map(|dir| dir.join(format!("engine-task-{task_id}.pid")));
        let vendor = self.gpu_vendor().await;
        options.env = launch::engine_env(kind, &vendor, launch);
        Arc::new(ProcessBackend::new(options))
    }

    /// The node's GPU vendor: the configured one, else that of the GPUs it reports (simulated or
    /// detected), else `nvidia`.
    async fn gpu_vendor(&self) -> String {
        if let Some(v) = self
            .config
            .task_gpu_vendor
            .clone()
            .filter(|v| !v.is_empty())
        {
            return v;
        }
        let simulated = self.config.sim_gpus.clone();
        tokio::task::spawn_blocking(move || crate::gpu::report(simulated.as_ref()))
            .await
            .ok()
            .and_then(|r| r.devices.into_iter().find_map(|d| d.vendor))
            .unwrap_or_else(|| "nvidia".to_owned())
    }

    /// `DELETE /api/v1/tasks/{task_id}`: forgets the instance and stops its engine before
    /// returning. `false` when the id was unknown.
    pub async fn stop(&self, task_id: &str) -> bool {
        let _op = self.ops.lock().await;
        self.remove(task_id).await
    }

    async fn remove(&self, task_id: &str) -> bool {
        let Some(instance) = self.lock().remove(task_id) else {
            return false;
        };
        instance.set(TaskState::Stopping, None);
        // No request is routed to it any more; those routed before finish first.
        wait_idle(&instance, self.config.drain_timeout).await;
        instance.cancel.cancel();
        if let Err(e) = instance.backend.stop().await {
            tracing::warn!(task_id, error = %e, "stopping a task instance failed");
        }
        tracing::info!(task_id, "task instance stopped");
        self.changes.send_modify(|n| *n += 1);
        true
    }

    /// Stops every instance (agent shutdown).
    pub async fn stop_all(&self) {
        let _op = self.ops.lock().await;
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        futures::future::join_all(ids.iter().map(|id| self.remove(id))).await;
    }

    /// `POST .../sleep`: a running instance goes to sleep (in the background).
    ///
    /// # Errors
    /// `NotFound`, or `Conflict` naming the state when it is neither running nor sleeping.
    pub async fn sleep(&self, task_id: &str) -> Result<TaskInstance, AgentError> {
        let instance = self.get(task_id).ok_or_else(|| not_found(task_id))?;
        let report = instance.report().await;
        match report.state {
            TaskState::Sleeping => return Ok(report),
            TaskState::Running => {}
            other => return Err(refused(task_id, "sleep", other, "running")),
        }
        let was = instance.transition(TaskState::Running, TaskState::Sleeping);
        if was != TaskState::Running {
            return Err(refused(task_id, "sleep", was, "running"));
        }
        self.reconcile(&instance);
        Ok(instance.report().await)
    }

    /// `POST .../wake`: a sleeping instance wakes (in the background).
    ///
    /// # Errors
    /// `NotFound`, or `Conflict` naming the state when it is not sleeping, waking or running.
    pub async fn wake(&self, task_id: &str) -> Result<TaskInstance, AgentError> {
        let instance = self.get(task_id).ok_or_else(|| not_found(task_id))?;
        self.wake_instance(&instance).await?;
        Ok(instance.report().await)
    }

    async fn wake_instance(&self, instance: &Arc<Instance>) -> Result<(), AgentError> {
        let task_id = &instance.task_id;
        match instance.transition(TaskState::Sleeping, TaskState::Waking) {
            TaskState::Sleeping => {
                self.reconcile(instance);
                Ok(())
            }
            TaskState::Waking | TaskState::Running => Ok(()),
            other => Err(refused(task_id, "wake", other, "sleeping")),
        }
    }

    fn reconcile(&self, instance: &Arc<Instance>) {
        let instance = Arc::clone(instance);
        let metrics = Arc::clone(&self.metrics);
        let observe: WakeObserver = Arc::new(move |d| metrics.observe_task_wake(d.as_secs_f64()));
        tokio::spawn(async move { instance.reconcile(&observe).await });
    }
}

/// Waits (polling every 10 ms, at most `limit`) until no request is in flight on `instance`.
async fn wait_idle(instance: &Instance, limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while instance.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn not_found(task_id: &str) -> AgentError {
    AgentError::NotFound(format!("no task instance {task_id} on this node"))
}

fn refused(task_id: &str, what: &str, state: TaskState, needs: &str) -> AgentError {
    AgentError::Conflict(format!(
        "cannot {what} task {task_id}: it is {} ({what} needs {needs})",
        state_name(state)
    ))
}

/// A state's wire name.
pub fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Starting => "starting",
        TaskState::Running => "running",
        TaskState::Sleeping => "sleeping",
        TaskState::Waking => "waking",
        TaskState::Stopping => "stopping",
        TaskState::Failed => "failed",
    }
}
