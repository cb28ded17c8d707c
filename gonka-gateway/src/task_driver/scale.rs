//! Autoscaling acting on [`gonka_core::deploy::decide`], and draining tasks before they stop.
//!
//! Metrics the gateway can see, per replica (`scale_policy.metric`):
//!
//! | metric | read from |
//! |---|---|
//! | `concurrent_requests`, `vllm_running_requests` | the `in_flight` of the group's instances, as their ML nodes report them |
//! | `request_queue`, `vllm_pending_requests` | the queue depth the group's nodes report to the gateway's health checks (the whole node's queue) |
//! | `gpu_utilization` | the mean `utilization_percent` of the GPUs the group's running tasks hold, from their nodes' `GET /api/v1/gpu/devices` each tick (already per replica; simulated GPUs report the requests in flight on them); when no node of the group reports utilisation, as `cpu` |
//! | `cpu` | not seen by the gateway: the group holds (reported in [`super::DriverReport::unsupported_metric`]) |
//!
//! Up adds one replica's tasks (new ranks, pending: the placer places them); down drains the
//! highest-rank replica (its requests finish, bounded by [`super::DriverSettings::drain_timeout`]),
//! then stops it on the node and marks it completed. The time of each change is stored in the
//! group (`last_scaled_at_ms`), so the cooldown holds whichever gateway replica drives.

use std::collections::BTreeSet;

use gonka_core::deploy::{
    decide, RollingUpdateState, ScaleDecision, ScaleInput, TaskGroup, TaskStatus,
};

use super::{DriverReport, Memory, TaskDriver, View};

/// The metric of groups scaling on their GPUs' utilisation.
pub const GPU_UTILIZATION: &str = "gpu_utilization";

/// What the driver reads of a group's scale metric.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reading {
    /// The metric per replica.
    Value(f64),
    /// A metric the gateway can see, but nothing was read this tick (no node of the group
    /// reports it: the group holds, reported as unsupported).
    NoData,
    /// A metric the gateway cannot see (the group holds; reported).
    Unsupported,
}

/// The mean utilisation in percent of the GPUs the group's running tasks hold, as their nodes
/// report them (a task without GPU ids: every GPU of its node); `None` when no node reported
/// any of them.
fn gpu_utilization(group: &TaskGroup, view: &View) -> Option<f64> {
    let mut readings: Vec<u32> = Vec::new();
    for t in view
        .tasks
        .iter()
        .filter(|t| t.group_id == group.id && t.status == TaskStatus::Running)
    {
        let Some(devices) = t.node_id.as_ref().and_then(|n| view.gpus.get(n)) else {
            continue;
        };
        let ids: Vec<u32> = t
            .gpu_id
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect();
        readings.extend(
            devices
                .iter()
                .filter(|d| ids.is_empty() || ids.contains(&d.index))
                .filter_map(|d| d.utilization_percent),
        );
    }
    if readings.is_empty() {
        return None;
    }
    let sum: u64 = readings.iter().map(|&u| u64::from(u)).sum();
    #[allow(clippy::cast_precision_loss)]
    Some(sum as f64 / readings.len() as f64)
}

/// How `metric` is read.
fn metric_value(metric: &str, group: &TaskGroup, view: &View) -> Reading {
    let live = view
        .tasks
        .iter()
        .filter(|t| t.group_id == group.id && t.status.is_live());
    let total: u64 = match metric {
        "concurrent_requests" | "vllm_running_requests" => live
            .filter_map(|t| view.instance(t).flatten())
            .map(|i| u64::from(i.in_flight))
            .sum(),
        "request_queue" | "vllm_pending_requests" => {
            let nodes: BTreeSet<&str> = live.filter_map(|t| t.node_id.as_deref()).collect();
            nodes
                .into_iter()
                .filter_map(|n| view.loads.get(n))
                .map(|l| u64::from(l.queue_depth))
                .sum()
        }
        // Already per replica: the mean over the group's GPUs.
        GPU_UTILIZATION => {
            return gpu_utilization(group, view).map_or(Reading::NoData, Reading::Value)
        }
        _ => return Reading::Unsupported,
    };
    // Replicas: the count asked for, at least one.
    #[allow(clippy::cast_precision_loss)]
    Reading::Value(total as f64 / f64::from(group.current_replicas.max(1)))
}

impl TaskDriver {
    /// One autoscaling decision for `group`; returns whether it changed something.
    ///
    /// # Errors
    /// The store's errors.
    pub(crate) async fn autoscale(
        &self,
        group: &TaskGroup,
        view: &View,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let spec = &group.spec;
        if !spec.auto_scale
            || group.status.is_terminal()
            || group.rolling_update_state == RollingUpdateState::Rolling
        {
            return Ok(false);
        }
        let metric = match metric_value(&spec.scale_policy.metric, group, view) {
            Reading::Value(v) => v,
            Reading::NoData | Reading::Unsupported => {
                report.unsupported_metric.push(group.id.clone());
                return Ok(false);
            }
        };
        let input = ScaleInput {
            metric,
            current: group.current_replicas,
            min: spec.min_replicas,
            max: spec.max_replicas,
            since_last_change_s: group
                .last_scaled_at_ms
                .map(|t| view.now.saturating_sub(t) / 1000),
        };
        let decision = decide(&spec.scale_policy, input);
        let step: i32 = match decision {
            ScaleDecision::Up => 1,
            ScaleDecision::Down => -1,
            ScaleDecision::Hold => return Ok(false),
        };
        let mut updated = group.clone();
        updated.current_replicas = if step > 0 {
            group.current_replicas.saturating_add(1)
        } else {
            group.current_replicas.saturating_sub(1)
        };
        updated.last_scaled_at_ms = Some(view.now);
        updated.updated_at_ms = view.now;
        // The group first: of two replicas deciding at once, one writes.
        if !self.store.update_group(updated, group.status).await? {
            return Ok(false);
        }
        let per_replica = spec.shape().tasks.max(1);
        let tasks: Vec<_> = view
            .tasks
            .iter()
            .filter(|t| t.group_id == group.id)
            .collect();
        if step > 0 {
            let next_rank = tasks.iter().map(|t| t.rank + 1).max().unwrap_or(0);
            let memory_mb = tasks
                .iter()
                .map(|t| t.estimated_gpu_memory_mb)
                .max()
                .or(spec.estimated_gpu_memory_mb)
                .unwrap_or_default();
            let new =
                gonka_admin::deploy::new_tasks(group, next_rank, per_replica, memory_mb, view.now);
            self.store.add_tasks(new).await?;
        } else {
            let mut live: Vec<_> = tasks
                .iter()
                .filter(|t| t.status.is_live() && !memory.draining.contains_key(&t.id))
                .collect();
            live.sort_by_key(|t| std::cmp::Reverse(t.rank));
            for t in live.into_iter().take(per_replica as usize) {
                memory.draining.insert(t.id.clone(), view.now);
            }
        }
        tracing::info!(group = %group.id, metric, step, replicas = group.current_replicas as i64 + i64::from(step), "autoscaled");
        self.audit(
            "task_group.autoscale",
            &group.id,
            format!(
                "{} {metric:.2} vs target {}: {} → {}",
                spec.scale_policy.metric,
                spec.scale_policy.target,
                group.current_replicas,
                i64::from(group.current_replicas) + i64::from(step)
            ),
            view.now,
        )
        .await?;
        report.scaled.push((group.id.clone(), step));
        Ok(true)
    }

    /// Stops drained tasks whose requests finished (or whose drain timed out): `DELETE` on the
    /// node, then completed. Returns the groups touched.
    ///
    /// # Errors
    /// The store's errors.
    pub(crate) async fn drain(
        &self,
        view: &View,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<BTreeSet<String>> {
        let mut touched = BTreeSet::new();
        let bound = u64::try_from(self.settings.drain_timeout.as_millis()).unwrap_or(u64::MAX);
        let draining: Vec<(String, u64)> = memory
            .draining
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (id, since) in draining {
            let Some(task) = view.tasks.iter().find(|t| t.id == id) else {
                memory.draining.remove(&id);
                continue;
            };
            if !task.status.is_live() {
                memory.draining.remove(&id);
                continue;
            }
            let in_flight = match view.instance(task) {
                Some(Some(i)) => i.in_flight,
                Some(None) => 0,
                // Not placed yet: nothing to drain; node not read: wait for it.
                None if task.node_id.is_none() => 0,
                None => continue,
            };
            if in_flight > 0 && view.now.saturating_sub(since) < bound {
                report.draining.push(id.clone());
                continue;
            }
            if let (Some(node), Some(Some(_))) = (task.node_id.as_deref(), view.instance(task)) {
                let Some(client) = self.node(node) else {
                    continue;
                };
                if let Err(e) = client.stop_task(&id).await {
                    tracing::warn!(task = %id, error = %e, "stopping a drained instance failed; trying again next tick");
                    continue;
                }
                report.deleted.push(id.clone());
            }
            if self
                .move_task(task, task.status, TaskStatus::Completed, None, view.now)
                .await?
            {
                memory.draining.remove(&id);
                touched.insert(task.group_id.clone());
            }
        }
        Ok(touched)
    }
}
