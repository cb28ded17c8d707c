//! The task driver of deployments: beside the placer, every tick it carries the deployment
//! store's tasks out on the ML nodes' task API (`/api/v1/tasks`) and records what the nodes
//! report, under the lease [`TASKS_LEASE`] so one gateway replica drives at a time:
//!
//! - scheduled tasks are launched (`PUT`, built from the group's spec) and move to running when
//!   the node reports the instance running, to failed (with the node's error) when it failed;
//!   a running task whose instance failed or vanished fails;
//! - tasks moved through the admin API are carried out: sleeping → `POST .../sleep`, waking →
//!   `POST .../wake`, completed (stopped) → `DELETE`; an instance no live task owns (its task
//!   stopped, failed, re-placed, or its group deleted) is deleted;
//! - idle sleep: a running task of a group with `idle_timeout_minutes` whose instance served no
//!   request for that long is put to sleep; a request later wakes it on the node, and the driver
//!   follows (sleeping → waking → running);
//! - failed tasks go back to pending (the placer places them again) up to
//!   [`DriverSettings::max_retries`] times;
//! - autoscaling ([`scale`]) and updates ([`update`]).

mod directory;
mod health;
mod launch;
pub mod scale;
mod sync;
pub mod update;

pub use directory::{Clock, ManualClock, NodeDirectory, NodeLoad, PoolNodes, SystemClock};
pub use launch::task_launch;

pub(crate) use health::probe_instance;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use gonka_core::deploy::store::refresh_group;
use gonka_core::deploy::{
    advance_group, AuditEntry, DeploymentStore, Task, TaskFilter, TaskGroup, TaskMove, TaskStatus,
};
use gonka_core::mlnode_api::TaskInstance;
use tokio::sync::{watch, Mutex};

use crate::mlnode_client::MlNodeClient;

/// Nodes whose instances are read at once.
const NODE_READS_AT_ONCE: usize = 32;

/// The name of the lease the driver holds while it drives.
pub const TASKS_LEASE: &str = "tasks";

/// The driver's tunables.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// Time between ticks (1 s).
    pub interval: Duration,
    /// Automatic retries of a failed task (failed → pending) before it stays failed (3).
    pub max_retries: u32,
    /// Longest a task may stay scheduled (10 min): then an instance still starting fails it, and
    /// a node that never got it (unknown, unreachable) gives the placement back (→ pending).
    pub start_timeout: Duration,
    /// Longest wait for a drained task's requests to finish before it is stopped anyway (30 s).
    pub drain_timeout: Duration,
    /// Longest an update may take before it is rolled back (15 min).
    pub update_timeout: Duration,
    /// Health check interval instead of each group's `health_check.interval_seconds` (tests).
    pub health_interval: Option<Duration>,
    /// Health check timeout instead of each group's `health_check.timeout_seconds` (tests).
    pub health_timeout: Option<Duration>,
    /// Every this many ticks all nodes of the directory are asked for their instances (to stop
    /// those of deleted groups on nodes no task names any more) (60).
    pub sweep_every: u32,
}

impl Default for DriverSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            max_retries: 3,
            start_timeout: Duration::from_secs(10 * 60),
            drain_timeout: Duration::from_secs(30),
            update_timeout: Duration::from_secs(15 * 60),
            health_interval: None,
            health_timeout: None,
            sweep_every: 60,
        }
    }
}

/// What one tick did (task ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverReport {
    /// Another replica holds the lease: this one did nothing.
    pub lease_held_elsewhere: bool,
    /// Instances launched (`PUT`).
    pub launched: Vec<String>,
    /// Tasks moved to running.
    pub running: Vec<String>,
    /// Tasks moved to failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Instances put to sleep (`POST .../sleep`).
    pub slept: Vec<String>,
    /// Tasks put to sleep for being idle.
    pub idle_slept: Vec<String>,
    /// Instances woken (`POST .../wake`).
    pub woken: Vec<String>,
    /// Instances stopped (`DELETE`).
    pub deleted: Vec<String>,
    /// Failed tasks sent back to pending.
    pub retried: Vec<String>,
    /// Scheduled tasks whose node never started them, given back to the placer (→ pending).
    pub requeued: Vec<String>,
    /// Groups scaled, with `+1` or `-1`.
    pub scaled: Vec<(String, i32)>,
    /// Tasks being drained before they stop.
    pub draining: Vec<String>,
    /// Groups whose scale policy names a metric the gateway cannot see (`cpu`, or
    /// `gpu_utilization` when no node of the group reports utilisation): they hold.
    pub unsupported_metric: Vec<String>,
    /// Update steps taken, `(group, what)`.
    pub update_steps: Vec<(String, String)>,
    /// Nodes whose task API could not be read this tick, with the error.
    pub unreachable: Vec<(String, String)>,
}

/// Health check results of one task (during updates).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HealthMemory {
    pub last_ms: u64,
    pub failures: u32,
    pub passed: bool,
}

/// What the driver remembers between ticks (lost when another replica takes the lease; every
/// item is re-derived from the store and the nodes then).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// Nodes that held instances at the last look.
    pub known_nodes: BTreeSet<String>,
    /// Sleeping tasks whose instance was seen asleep (a running instance of such a task was woken
    /// by a request; of any other sleeping task, the sleep is still to be carried out).
    pub asleep: HashSet<String>,
    /// Automatic retries per task.
    pub retries: HashMap<String, u32>,
    /// Tasks being drained, with the drain's start.
    pub draining: HashMap<String, u64>,
    /// Health checks of new tasks during updates.
    pub health: HashMap<String, HealthMemory>,
    /// Ticks since the last sweep of every node.
    pub ticks: u32,
}

/// The task driver: see the module documentation.
#[derive(Debug, Clone)]
pub struct TaskDriver {
    /// Where deployments live.
    pub store: Arc<dyn DeploymentStore>,
    /// The fleet's nodes.
    pub nodes: Arc<dyn NodeDirectory>,
    /// The management client (token, timeout); pointed at each node.
    pub client: MlNodeClient,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// This replica's name for [`TASKS_LEASE`].
    pub holder: String,
    /// Tunables.
    pub settings: DriverSettings,
    memory: Arc<Mutex<Memory>>,
    http: reqwest::Client,
}

/// One tick's view: the tasks and groups as read under the lease, the nodes' instances.
pub(crate) struct View {
    pub now: u64,
    pub tasks: Vec<Task>,
    pub groups: HashMap<String, TaskGroup>,
    /// Node id → its instances, for the nodes that answered.
    pub instances: HashMap<String, Vec<TaskInstance>>,
    /// Node id → the load the gateway sees on it, for the nodes read.
    pub loads: HashMap<String, NodeLoad>,
    /// Node id → its GPUs as it reports them now, for the nodes of groups scaling on
    /// `gpu_utilization` that answered.
    pub gpus: HashMap<String, Vec<gonka_core::mlnode_api::GpuDevice>>,
}

impl View {
    /// The instance of `task` on its node: `Some(None)` when the node answered without it,
    /// `None` when the node was not read.
    pub fn instance(&self, task: &Task) -> Option<Option<&TaskInstance>> {
        let node = task.node_id.as_ref()?;
        let list = self.instances.get(node)?;
        Some(list.iter().find(|i| i.task_id == task.id))
    }
}

impl TaskDriver {
    /// A driver over `store` and `nodes` with the system clock.
    pub fn new(
        store: Arc<dyn DeploymentStore>,
        nodes: Arc<dyn NodeDirectory>,
        client: MlNodeClient,
        holder: impl Into<String>,
        settings: DriverSettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            store,
            nodes,
            client,
            clock: Arc::new(SystemClock),
            holder: holder.into(),
            settings,
            memory: Arc::new(Mutex::new(Memory::default())),
            http,
        }
    }

    /// The same driver on `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The management client of `node_id`, when its URL is known.
    pub(crate) fn node(&self, node_id: &str) -> Option<MlNodeClient> {
        self.nodes
            .management_url(node_id)
            .map(|url| self.client.at(&url))
    }

    /// Moves `task` `from → to` (compare-and-set) with `error`; returns whether it applied.
    pub(crate) async fn move_task(
        &self,
        task: &Task,
        from: TaskStatus,
        to: TaskStatus,
        error: Option<String>,
        now: u64,
    ) -> gonka_core::Result<bool> {
        let m = TaskMove {
            from,
            to,
            placement: None,
            error,
            at_ms: now,
        };
        Ok(self.store.move_task(&task.id, m).await?.is_some())
    }

    /// Appends an audit entry by the driver.
    pub(crate) async fn audit(
        &self,
        action: &str,
        target: &str,
        detail: String,
        now: u64,
    ) -> gonka_core::Result<()> {
        self.store
            .audit(AuditEntry {
                at_ms: now,
                actor: "driver".into(),
                action: action.into(),
                target: target.into(),
                detail,
            })
            .await
    }

    /// One pass (see the module documentation).
    ///
    /// # Errors
    /// The store's errors (the pass stops; the next tick starts over). Node errors are not
    /// errors of the pass: they are reported and the call is tried again next tick.
    pub async fn tick(&self) -> gonka_core::Result<DriverReport> {
        let mut report = DriverReport::default();
        let mut memory = self.memory.lock().await;
        let now = self.clock.now_ms();
        // Reads first: with no live or failed task and no instance known, nothing is written, not
        // even the lease.
        let tasks = self.store.tasks(&TaskFilter::default()).await?;
        let idle = tasks.iter().all(|t| t.status == TaskStatus::Completed);
        if idle && memory.known_nodes.is_empty() {
            return Ok(report);
        }
        // The first driving tick sweeps every node, then every `sweep_every` ticks.
        let sweep = self.settings.sweep_every > 0 && memory.ticks % self.settings.sweep_every == 0;
        memory.ticks = memory.ticks.wrapping_add(1);
        let ttl = u64::try_from(self.settings.interval.as_millis().saturating_mul(5))
            .unwrap_or(u64::MAX)
            .max(1_000);
        if !self
            .store
            .acquire_lease(TASKS_LEASE, &self.holder, now, ttl)
            .await?
        {
            // Another replica drives; what this one remembered goes stale.
            *memory = Memory {
                ticks: memory.ticks,
                ..Memory::default()
            };
            report.lease_held_elsewhere = true;
            return Ok(report);
        }
        let tasks = self.store.tasks(&TaskFilter::default()).await?;
        let groups: HashMap<String, TaskGroup> = self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect();
        let mut nodes: BTreeSet<String> = tasks.iter().filter_map(|t| t.node_id.clone()).collect();
        nodes.extend(memory.known_nodes.iter().cloned());
        if sweep {
            nodes.extend(self.nodes.node_ids());
        }
        let instances = self.read_nodes(&nodes, &mut report).await;
        memory.known_nodes = instances
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        let loads = nodes
            .iter()
            .filter_map(|n| self.nodes.load(n).map(|l| (n.clone(), l)))
            .collect();
        let gpus = self.read_gpus(&tasks, &groups).await;
        let view = View {
            now,
            tasks,
            groups,
            instances,
            loads,
            gpus,
        };
        let mut touched = BTreeSet::new();
        let stopped = self.stop_orphans(&view, &mut report).await;
        for task in &view.tasks {
            if self
                .sync_task(task, &view, &mut memory, &mut report)
                .await?
            {
                touched.insert(task.group_id.clone());
            }
        }
        self.check_health(&view, &mut memory).await;
        for group in view.groups.values() {
            if self
                .step_update(group, &view, &mut memory, &mut report)
                .await?
            {
                touched.insert(group.id.clone());
            }
            if self
                .autoscale(group, &view, &mut memory, &mut report)
                .await?
            {
                touched.insert(group.id.clone());
            }
        }
        touched.extend(self.drain(&view, &mut memory, &mut report).await?);
        touched.extend(
            self.retry_failed(&view, &stopped, &mut memory, &mut report)
                .await?,
        );
        // Forget what no longer applies.
        let live: HashSet<&str> = view
            .tasks
            .iter()
            .filter(|t| t.status.is_live())
            .map(|t| t.id.as_str())
            .collect();
        memory.draining.retain(|id, _| live.contains(id.as_str()));
        memory.health.retain(|id, _| live.contains(id.as_str()));
        let known: HashSet<&str> = view.tasks.iter().map(|t| t.id.as_str()).collect();
        memory.retries.retain(|id, _| known.contains(id.as_str()));
        // Groups whose status lags behind their tasks (a move by the admin API, a placement).
        for g in view.groups.values() {
            let statuses: Vec<TaskStatus> = view
                .tasks
                .iter()
                .filter(|t| t.group_id == g.id)
                .map(|t| t.status)
                .collect();
            if advance_group(g.status, &statuses) != g.status {
                touched.insert(g.id.clone());
            }
        }
        for id in touched {
            match refresh_group(self.store.as_ref(), &id, self.clock.now_ms()).await {
                Ok(_) | Err(gonka_core::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Reads the instances of `nodes`; nodes without a known URL or answering an error are left
    /// out (a node without the task API, 404, silently).
    async fn read_nodes(
        &self,
        nodes: &BTreeSet<String>,
        report: &mut DriverReport,
    ) -> HashMap<String, Vec<TaskInstance>> {
        use futures::StreamExt;
        let clients: Vec<(String, MlNodeClient)> = nodes
            .iter()
            .filter_map(|id| self.node(id).map(|c| (id.clone(), c)))
            .collect();
        // Concurrently (bounded), so one slow node does not hold the tick past its lease.
        let answers: Vec<_> = futures::stream::iter(clients)
            .map(|(id, client)| async move {
                let answer = client.tasks().await;
                (id, answer)
            })
            .buffer_unordered(NODE_READS_AT_ONCE)
            .collect()
            .await;
        let mut out = HashMap::new();
        for (id, answer) in answers {
            match answer {
                Ok(list) => {
                    out.insert(id, list);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => report.unreachable.push((id, e.to_string())),
            }
        }
        out
    }

    /// The GPUs (`GET /api/v1/gpu/devices`) of the nodes running live tasks of groups that
    /// scale on `gpu_utilization`, read concurrently; nodes that do not answer are left out.
    async fn read_gpus(
        &self,
        tasks: &[Task],
        groups: &HashMap<String, TaskGroup>,
    ) -> HashMap<String, Vec<gonka_core::mlnode_api::GpuDevice>> {
        use futures::StreamExt;
        let nodes: BTreeSet<&str> = tasks
            .iter()
            .filter(|t| t.status.is_live())
            .filter(|t| {
                groups.get(&t.group_id).is_some_and(|g| {
                    g.spec.auto_scale && g.spec.scale_policy.metric == scale::GPU_UTILIZATION
                })
            })
            .filter_map(|t| t.node_id.as_deref())
            .collect();
        let clients: Vec<(String, MlNodeClient)> = nodes
            .into_iter()
            .filter_map(|id| self.node(id).map(|c| (id.to_owned(), c)))
            .collect();
        futures::stream::iter(clients)
            .map(|(id, client)| async move { (id, client.gpu_devices().await) })
            .buffer_unordered(NODE_READS_AT_ONCE)
            .filter_map(|(id, answer)| async move {
                match answer {
                    Ok(report) => Some((id, report.devices)),
                    Err(e) => {
                        tracing::debug!(node = %id, error = %e, "GPU utilisation not read");
                        None
                    }
                }
            })
            .collect()
            .await
    }

    /// Deletes every instance no live placed task on that node owns; returns the task ids whose
    /// instance is gone now.
    async fn stop_orphans(&self, view: &View, report: &mut DriverReport) -> HashSet<String> {
        let by_id: HashMap<&str, &Task> = view.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut stopped = HashSet::new();
        for (node, list) in &view.instances {
            for inst in list {
                let owned = by_id.get(inst.task_id.as_str()).is_some_and(|t| {
                    t.node_id.as_deref() == Some(node.as_str())
                        && matches!(
                            t.status,
                            TaskStatus::Scheduled
                                | TaskStatus::Running
                                | TaskStatus::Sleeping
                                | TaskStatus::Waking
                        )
                });
                if owned {
                    continue;
                }
                let Some(client) = self.node(node) else {
                    continue;
                };
                match client.stop_task(&inst.task_id).await {
                    Ok(()) => {
                        tracing::info!(task = %inst.task_id, node = %node, "engine instance stopped");
                        report.deleted.push(inst.task_id.clone());
                        stopped.insert(inst.task_id.clone());
                    }
                    Err(e) => {
                        tracing::warn!(task = %inst.task_id, node = %node, error = %e, "stopping an engine instance failed")
                    }
                }
            }
        }
        stopped
    }

    /// Failed tasks of a group's current generation, whose instance is gone, back to pending
    /// while they have retries left (not during an update: a failed new task rolls it back).
    /// Returns the groups touched.
    async fn retry_failed(
        &self,
        view: &View,
        stopped: &HashSet<String>,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<BTreeSet<String>> {
        let mut touched = BTreeSet::new();
        for task in view.tasks.iter().filter(|t| t.status == TaskStatus::Failed) {
            let Some(group) = view.groups.get(&task.group_id) else {
                continue;
            };
            if task.generation != group.generation
                || group.rolling_update_state == gonka_core::deploy::RollingUpdateState::Rolling
            {
                continue;
            }
            let gone = match view.instance(task) {
                Some(Some(_)) => stopped.contains(&task.id),
                Some(None) => true,
                // Node not read: its instance may still exist.
                None => task.node_id.is_none(),
            };
            let used = memory.retries.get(&task.id).copied().unwrap_or(0);
            if !gone || used >= self.settings.max_retries {
                continue;
            }
            if self
                .move_task(
                    task,
                    TaskStatus::Failed,
                    TaskStatus::Pending,
                    None,
                    view.now,
                )
                .await?
            {
                memory.retries.insert(task.id.clone(), used + 1);
                self.audit(
                    "task.retry",
                    &task.id,
                    format!(
                        "retry {} of {} after: {}",
                        used + 1,
                        self.settings.max_retries,
                        task.error.as_deref().unwrap_or("failure")
                    ),
                    view.now,
                )
                .await?;
                report.retried.push(task.id.clone());
                touched.insert(task.group_id.clone());
            }
        }
        Ok(touched)
    }

    /// Ticks every [`DriverSettings::interval`] until `stop` turns true; a failed tick is logged
    /// and the next one starts over.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "task driver tick failed");
            }
        }
    }
}
