//! Continuous health checks of deployments' running tasks: every running task's engine
//! instance is probed with its group's `health_check` (HTTP `GET` of the path answering 2xx, or
//! a TCP connect, on the instance's port; every `interval_seconds`, `timeout_seconds` each; the
//! probe the task driver uses during updates, `task_driver::probe_instance`). A task
//! failing `unhealthy_threshold` checks in a row is unhealthy until one check passes.
//!
//! The results land in a [`TaskHealthBook`] that routing reads on every request
//! ([`crate::deploy_routes::DeployRoutes::choose`]): a node all of whose running tasks of a group
//! are unhealthy takes no requests for that group, and a group with no healthy task left counts
//! as down (its route's priority falls to the next). The admin API shows each task's health
//! (`GET /api/v1/tasks/{id}`, `health`) and `/metrics` has
//! `gonka_gateway_deploy_task_healthy{group, task}`.
//!
//! Every gateway replica checks for itself (the checks only read), so each routes by what it
//! sees. The targets come from the deployment view's snapshot (refreshed every second).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use gonka_core::deploy::TaskHealth;
use tokio::sync::watch;

use crate::deploy_routes::{DeployRoutes, HealthTarget};
use crate::task_driver::{probe_instance, Clock, NodeDirectory, SystemClock};

/// Instances probed at once.
const PROBES_AT_ONCE: usize = 32;

/// Overrides of every group's check timing (tests use short ones); `None`: the group's own
/// `health_check.interval_seconds` and `timeout_seconds` (10 s and 3 s by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSettings {
    /// Time between two checks of one task.
    pub interval: Option<Duration>,
    /// Longest one check may take.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default)]
struct Book {
    /// Task id → its group and health.
    tasks: HashMap<String, (String, TaskHealth)>,
    /// Group id → the nodes where every running task of the group is unhealthy.
    unhealthy: Arc<HashMap<String, Vec<Arc<str>>>>,
}

/// The health of the running tasks, as the last checks found it (shared by the checker, routing,
/// the admin API and the metrics).
#[derive(Debug, Default)]
pub struct TaskHealthBook {
    book: RwLock<Book>,
}

impl TaskHealthBook {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.book.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Book> {
        self.book.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The health of task `task_id`, once it was checked while running.
    pub fn get(&self, task_id: &str) -> Option<TaskHealth> {
        self.read().tasks.get(task_id).map(|(_, h)| h.clone())
    }

    /// Group id → the nodes that take no requests for the group (every running task of the
    /// group there is unhealthy). Cheap: a shared map replaced after each round of checks.
    pub fn unhealthy_nodes(&self) -> Arc<HashMap<String, Vec<Arc<str>>>> {
        self.read().unhealthy.clone()
    }

    /// `(group, task, healthy)` of every checked task, sorted (for the metrics).
    pub fn entries(&self) -> Vec<(String, String, bool)> {
        let mut out: Vec<(String, String, bool)> = self
            .read()
            .tasks
            .iter()
            .map(|(task, (group, h))| (group.clone(), task.clone(), !h.is_unhealthy()))
            .collect();
        out.sort();
        out
    }

    /// Records `results` (task id → the check's outcome, at `now_ms`) of `targets` (every
    /// running task now), forgets the tasks no longer running and recomputes the unhealthy
    /// nodes. Returns the tasks whose status changed.
    pub(crate) fn record(
        &self,
        targets: &[HealthTarget],
        results: Vec<(String, Result<(), String>)>,
        now_ms: u64,
    ) -> Vec<(String, TaskHealth)> {
        let by_id: HashMap<&str, &HealthTarget> =
            targets.iter().map(|t| (t.task_id.as_str(), t)).collect();
        let mut book = self.write();
        let mut changed = Vec::new();
        for (id, result) in results {
            let Some(target) = by_id.get(id.as_str()) else {
                continue;
            };
            let before = book
                .tasks
                .get(&id)
                .map(|(_, h)| h.clone())
                .unwrap_or_default();
            let after = before.after(result, target.check.unhealthy_threshold, now_ms);
            if after.status != before.status {
                changed.push((id.clone(), after.clone()));
            }
            book.tasks.insert(id, (target.group_id.clone(), after));
        }
        book.tasks.retain(|id, _| by_id.contains_key(id.as_str()));
        // A node is out for a group when it has running tasks of the group and none healthy.
        let mut nodes: HashMap<(&str, &str), bool> = HashMap::new();
        for t in targets {
            let healthy = book
                .tasks
                .get(&t.task_id)
                .is_none_or(|(_, h)| !h.is_unhealthy());
            *nodes.entry((&t.group_id, &t.node_id)).or_default() |= healthy;
        }
        let mut unhealthy: HashMap<String, Vec<Arc<str>>> = HashMap::new();
        for ((group, node), any_healthy) in nodes {
            if !any_healthy {
                unhealthy
                    .entry(group.to_owned())
                    .or_default()
                    .push(Arc::from(node));
            }
        }
        for list in unhealthy.values_mut() {
            list.sort();
        }
        book.unhealthy = Arc::new(unhealthy);
        changed
    }
}

impl gonka_admin::TaskHealthSource for TaskHealthBook {
    fn task_health(&self, task_id: &str) -> Option<TaskHealth> {
        self.get(task_id)
    }
}

/// The checking loop: see the module documentation.
#[derive(Debug, Clone)]
pub struct TaskHealthMonitor {
    /// The deployment view: its snapshot lists the running tasks, its book takes the results.
    pub routes: Arc<DeployRoutes>,
    /// Where the nodes' instances listen.
    pub nodes: Arc<dyn NodeDirectory>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Timing overrides.
    pub settings: HealthSettings,
    http: reqwest::Client,
}

impl TaskHealthMonitor {
    /// A checker of `routes`' running tasks on `nodes`, with the system clock.
    pub fn new(
        routes: Arc<DeployRoutes>,
        nodes: Arc<dyn NodeDirectory>,
        settings: HealthSettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            routes,
            nodes,
            clock: Arc::new(SystemClock),
            settings,
            http,
        }
    }

    fn interval(&self, t: &HealthTarget) -> Duration {
        self.settings
            .interval
            .unwrap_or(Duration::from_secs(u64::from(t.check.interval_seconds)))
    }

    /// One round: checks every running task whose last check (in `last`: task id → Unix ms) is
    /// at least its interval old, all at once (bounded), and records the results. Returns how
    /// many tasks were checked.
    pub async fn round(&self, last: &mut HashMap<String, u64>) -> usize {
        let snapshot = self.routes.snapshot();
        let targets = snapshot.health_targets();
        let now = self.clock.now_ms();
        let due: Vec<HealthTarget> = targets
            .iter()
            .filter(|t| {
                let every = u64::try_from(self.interval(t).as_millis()).unwrap_or(u64::MAX);
                last.get(&t.task_id)
                    .is_none_or(|at| now.saturating_sub(*at) >= every)
            })
            .cloned()
            .collect();
        let settings = self.settings;
        let probes = due.into_iter().map(|t| {
            let (http, nodes) = (self.http.clone(), self.nodes.clone());
            async move {
                let timeout = settings
                    .timeout
                    .unwrap_or(Duration::from_secs(u64::from(t.check.timeout_seconds)));
                let result =
                    probe_instance(&http, nodes.as_ref(), &t.node_id, t.port, &t.check, timeout)
                        .await;
                (t.task_id, result)
            }
        });
        let results: Vec<(String, Result<(), String>)> = futures::stream::iter(probes)
            .buffer_unordered(PROBES_AT_ONCE)
            .collect()
            .await;
        let checked = results.len();
        for (id, _) in &results {
            last.insert(id.clone(), now);
        }
        let running: HashSet<&str> = targets.iter().map(|t| t.task_id.as_str()).collect();
        last.retain(|id, _| running.contains(id.as_str()));
        let changed = self
            .routes
            .health()
            .record(targets, results, self.clock.now_ms());
        for (task, h) in changed {
            if h.is_unhealthy() {
                tracing::warn!(task = %task, failures = h.consecutive_failures, error = h.last_error.as_deref().unwrap_or(""), "task failed its health check: no requests until it passes");
            } else {
                tracing::info!(task = %task, "task passes its health check again");
            }
        }
        checked
    }

    /// Checks in rounds until `stop` turns true: a round every second, or every
    /// `settings.interval` when shorter.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let tick = self
            .settings
            .interval
            .map_or(Duration::from_secs(1), |i| i.min(Duration::from_secs(1)))
            .max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = HashMap::new();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.round(&mut last).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use gonka_core::deploy::spec::HealthCheck;

    use super::*;

    fn target(task: &str, group: &str, node: &str) -> HealthTarget {
        HealthTarget {
            task_id: task.into(),
            group_id: group.into(),
            node_id: Arc::from(node),
            port: 8100,
            check: HealthCheck {
                unhealthy_threshold: 2,
                ..HealthCheck::default()
            },
        }
    }

    #[test]
    fn a_node_is_out_for_a_group_once_all_its_tasks_there_fail_threshold_checks() {
        let book = TaskHealthBook::default();
        let targets = vec![
            target("t1", "g", "n1"),
            target("t2", "g", "n1"),
            target("t3", "g", "n2"),
        ];
        let fail = |ids: &[&str]| {
            ids.iter()
                .map(|id| (id.to_string(), Err("GET /health: 404".to_string())))
                .collect::<Vec<_>>()
        };
        book.record(&targets, fail(&["t1", "t3"]), 1);
        assert!(book.unhealthy_nodes().is_empty(), "one failure of two");
        let changed = book.record(&targets, fail(&["t1", "t3"]), 2);
        assert_eq!(changed.len(), 2);
        // n1 still has a healthy task (t2); n2 has none.
        assert_eq!(book.unhealthy_nodes()["g"], vec![Arc::<str>::from("n2")]);
        assert!(book.get("t3").unwrap().is_unhealthy());
        assert!(book.get("t2").is_none(), "never checked");
        // One pass heals.
        book.record(&targets, vec![("t3".into(), Ok(()))], 3);
        assert!(book.unhealthy_nodes().is_empty());
        assert_eq!(
            book.get("t3").unwrap().last_error.as_deref(),
            Some("GET /health: 404")
        );
        // A task no longer running is forgotten.
        book.record(&targets[..2], Vec::new(), 4);
        assert!(book.get("t3").is_none());
        assert_eq!(
            book.entries(),
            vec![("g".to_string(), "t1".to_string(), false)]
        );
    }
}
