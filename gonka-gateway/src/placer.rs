//! The placement loop of deployments: every tick, pending tasks are placed on the fleet's GPUs
//! (`gonka_core::deploy::placement::place`) and moved pending → scheduled with a compare-and-set,
//! so two gateway replicas on one database never place a task twice. Tasks already holding GPUs
//! count as residents; a preempting placement first fails its victims (which retry as pending).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gonka_admin::FleetGpus;
use gonka_core::deploy::placement::{place, PlacementNode, Resident, Thresholds};
use gonka_core::deploy::store::refresh_group;
use gonka_core::deploy::{
    DeploymentStore, Plugin, Task, TaskFilter, TaskGroup, TaskMove, TaskPlacement, TaskStatus,
};
use tokio::sync::watch;

use crate::task_driver::{Clock, SystemClock};

/// First port engines of placed tasks listen on; each task on a node takes the next free one.
pub const FIRST_TASK_PORT: u16 = 8100;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Tasks moved pending → scheduled.
    pub placed: Vec<String>,
    /// Pending tasks that fit nowhere now, with the reason.
    pub unplaced: Vec<(String, String)>,
    /// Tasks failed to make room (they retry as pending).
    pub preempted: Vec<String>,
    /// Pending tasks outside their group's schedule window.
    pub outside_window: Vec<String>,
    /// Another replica holds the placement lease: this one placed nothing.
    pub lease_held_elsewhere: bool,
}

/// The placement loop's settings and inputs.
#[derive(Debug, Clone)]
pub struct Placer {
    /// Where deployments live.
    pub store: Arc<dyn DeploymentStore>,
    /// The fleet's GPUs now.
    pub fleet: Arc<dyn FleetGpus>,
    /// How nodes that fit are ranked.
    pub plugin: Plugin,
    /// Load limits.
    pub thresholds: Thresholds,
    /// Time between ticks (1 s by default).
    pub interval: Duration,
    /// This replica's name for the placement lease: one replica at a time places tasks, so no
    /// GPU is booked twice by replicas deciding at the same moment.
    pub holder: String,
}

/// The name of the lease the placer holds while it places.
pub const PLACEMENT_LEASE: &str = "placement";

/// Adds the tasks holding GPUs to the fleet's GPU slots as residents.
fn add_residents(
    fleet: &mut [PlacementNode],
    holders: &[Task],
    groups: &HashMap<String, TaskGroup>,
) {
    for t in holders {
        let (Some(node), Some(gpus)) = (&t.node_id, &t.gpu_id) else {
            continue;
        };
        let Some(n) = fleet.iter_mut().find(|n| &*n.id == node) else {
            continue;
        };
        let group = groups.get(&t.group_id);
        for gpu in gpus.split(',') {
            if let Some(slot) = n.gpus.iter_mut().find(|g| g.gpu_id == gpu) {
                slot.residents.push(Resident {
                    task_id: Arc::from(t.id.as_str()),
                    memory_mb: t.estimated_gpu_memory_mb,
                    qos: group.map(|g| g.spec.qos).unwrap_or_default(),
                    priority: group.map(|g| g.spec.route.priority).unwrap_or_default(),
                    sleeping: t.status == TaskStatus::Sleeping,
                });
            }
        }
    }
}

/// The lowest port from [`FIRST_TASK_PORT`] no task uses on `node` or on another node of the
/// same host (as `fleet` knows hosts): agents sharing a host never get the same engine port.
/// Each other node's host is asked of `fleet` once, however many tasks it holds.
fn free_port(holders: &[Task], node: &str, fleet: &dyn FleetGpus) -> u16 {
    let host = fleet.host_of(node);
    let mut hosts: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut same_host = |other: &str| {
        if other == node {
            return true;
        }
        if host.is_none() {
            return false;
        }
        if let Some(&same) = hosts.get(other) {
            return same;
        }
        let same = fleet.host_of(other).as_deref() == host.as_deref();
        hosts.insert(other.to_owned(), same);
        same
    };
    let used: Vec<u16> = holders
        .iter()
        .filter(|t| t.node_id.as_deref().is_some_and(&mut same_host))
        .flat_map(|t| t.ports.iter().copied())
        .collect();
    (FIRST_TASK_PORT..u16::MAX)
        .find(|p| !used.contains(p))
        .unwrap_or(FIRST_TASK_PORT)
}

impl Placer {
    /// One pass: places every pending task it can, highest QoS and priority first.
    ///
    /// # Errors
    /// The store's errors (the pass stops; the next tick starts over).
    pub async fn tick(&self) -> gonka_core::Result<TickReport> {
        let mut report = TickReport::default();
        // Reads first: an idle fleet (nothing pending) writes nothing, not even the lease.
        let all = self.store.tasks(&TaskFilter::default()).await?;
        let mut pending: Vec<Task> = all
            .iter()
            .filter(|t| t.status == TaskStatus::Pending)
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(report);
        }
        // The lease outlives a few missed ticks, then passes to another replica.
        let ttl = u64::try_from(self.interval.as_millis().saturating_mul(5)).unwrap_or(u64::MAX);
        if !self
            .store
            .acquire_lease(
                PLACEMENT_LEASE,
                &self.holder,
                SystemClock.now_ms(),
                ttl.max(1_000),
            )
            .await?
        {
            report.lease_held_elsewhere = true;
            return Ok(report);
        }
        // Re-read under the lease: another replica may have placed tasks since.
        let all = self.store.tasks(&TaskFilter::default()).await?;
        pending.retain(|p| {
            all.iter()
                .any(|t| t.id == p.id && t.status == TaskStatus::Pending)
        });
        let groups: HashMap<String, TaskGroup> = self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect();
        let mut holders: Vec<Task> = all
            .into_iter()
            .filter(|t| t.status.holds_gpu() || t.status == TaskStatus::Sleeping)
            .collect();
        let mut fleet = self.fleet.nodes();
        add_residents(&mut fleet, &holders, &groups);
        let rank = |t: &Task| {
            groups
                .get(&t.group_id)
                .map(|g| (g.spec.qos, g.spec.route.priority))
                .unwrap_or_default()
        };
        pending.sort_by_key(|t| (rank(t), t.group_id.clone(), t.rank));
        let minute = u32::try_from((SystemClock.now_ms() / 60_000) % 1440).unwrap_or(0);
        let mut touched = std::collections::BTreeSet::new();
        for task in pending {
            let Some(group) = groups.get(&task.group_id) else {
                continue;
            };
            if group
                .spec
                .schedule_window
                .as_ref()
                .is_some_and(|w| !w.contains(minute))
            {
                report.outside_window.push(task.id.clone());
                continue;
            }
            let request = gonka_admin::deploy::task_request(
                &group.spec,
                &task.id,
                task.estimated_gpu_memory_mb,
            );
            let placement = match place(&request, &fleet, self.plugin, self.thresholds) {
                Ok(p) => p,
                Err(e) => {
                    report.unplaced.push((task.id.clone(), e.to_string()));
                    continue;
                }
            };
            for victim in &placement.preempt {
                if let Some(v) = holders.iter().find(|h| *h.id == **victim).cloned() {
                    let evict = TaskMove {
                        from: v.status,
                        to: TaskStatus::Failed,
                        placement: None,
                        error: Some(format!("preempted by {}", task.id)),
                        at_ms: SystemClock.now_ms(),
                    };
                    if self.store.move_task(&v.id, evict).await?.is_some() {
                        report.preempted.push(v.id.clone());
                        touched.insert(v.group_id.clone());
                        holders.retain(|h| h.id != v.id);
                    }
                }
            }
            let port = free_port(&holders, &placement.node_id, self.fleet.as_ref());
            let m = TaskMove {
                from: TaskStatus::Pending,
                to: TaskStatus::Scheduled,
                placement: Some(TaskPlacement {
                    node_id: placement.node_id.to_string(),
                    gpu_ids: placement.gpu_ids.clone(),
                    engine: placement.engine.clone(),
                    port,
                }),
                error: None,
                at_ms: SystemClock.now_ms(),
            };
            // Another replica may have placed it first: then it is simply not ours.
            if let Some(placed) = self.store.move_task(&task.id, m).await? {
                tracing::info!(task = %placed.id, node = %placement.node_id, gpus = ?placement.gpu_ids, engine = %placement.engine, "task placed");
                report.placed.push(placed.id.clone());
                touched.insert(placed.group_id.clone());
                holders.push(placed);
                fleet = self.fleet.nodes();
                add_residents(&mut fleet, &holders, &groups);
            }
        }
        for id in touched {
            refresh_group(self.store.as_ref(), &id, SystemClock.now_ms()).await?;
        }
        Ok(report)
    }

    /// Ticks every `interval` until `stop` turns true; a failed tick is logged and retried on
    /// the next one.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.tick().await {
                Ok(r) if !r.unplaced.is_empty() => {
                    tracing::debug!(unplaced = ?r.unplaced, "pending tasks that fit nowhere now");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "placement tick failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gonka_admin::FleetGpus;
    use gonka_core::deploy::placement::PlacementNode;
    use gonka_core::deploy::{Task, TaskStatus};

    use super::{free_port, FIRST_TASK_PORT};

    /// Hosts by node, counting the lookups; no GPUs (free_port reads hosts only).
    #[derive(Debug)]
    struct Hosts(HashMap<&'static str, &'static str>, AtomicUsize);

    impl Hosts {
        fn new(hosts: HashMap<&'static str, &'static str>) -> Self {
            Self(hosts, AtomicUsize::new(0))
        }
    }

    impl FleetGpus for Hosts {
        fn nodes(&self) -> Vec<PlacementNode> {
            Vec::new()
        }
        fn host_of(&self, node_id: &str) -> Option<String> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.get(node_id).map(|h| h.to_string())
        }
    }

    fn on(node: &str, port: u16) -> Task {
        serde_json::from_value(serde_json::json!({
            "id": format!("task-{node}-{port}"), "group_id": "tg", "rank": 0,
            "status": TaskStatus::Running, "gpu_required": 1, "gpu_type": null, "gpu_id": null,
            "node_id": node, "model_path": "m", "engine": "vllm", "ports": [port],
            "estimated_gpu_memory_mb": 1, "generation": 1, "error": null, "updated_at_ms": 0
        }))
        .unwrap()
    }

    #[test]
    fn nodes_sharing_a_host_never_share_a_port() {
        let fleet = Hosts::new(HashMap::from([
            ("a", "127.0.0.1"),
            ("b", "127.0.0.1"),
            ("c", "10.0.0.9"),
        ]));
        let holders = vec![on("a", FIRST_TASK_PORT), on("a", FIRST_TASK_PORT + 2)];
        // b is on a's host: a's ports are taken there too.
        assert_eq!(free_port(&holders, "b", &fleet), FIRST_TASK_PORT + 1);
        // c is elsewhere: it starts from the first port.
        assert_eq!(free_port(&holders, "c", &fleet), FIRST_TASK_PORT);
        // a node whose host is unknown counts only its own tasks.
        assert_eq!(free_port(&holders, "d", &fleet), FIRST_TASK_PORT);
        assert_eq!(free_port(&holders, "a", &fleet), FIRST_TASK_PORT + 1);
    }

    #[test]
    fn each_holding_node_s_host_is_looked_up_once() {
        let fleet = Hosts::new(HashMap::from([("a", "h1"), ("b", "h1"), ("c", "h2")]));
        let holders: Vec<Task> = (0..20)
            .map(|i| on(["a", "c"][i % 2], FIRST_TASK_PORT + i as u16))
            .collect();
        free_port(&holders, "b", &fleet);
        // b itself, then a and c once each (not once per task they hold).
        assert_eq!(fleet.1.load(Ordering::Relaxed), 3);
    }
}
