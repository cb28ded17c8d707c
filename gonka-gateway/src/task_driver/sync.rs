//! One task against its instance on the ML node: launch, follow, sleep, wake, idle sleep.

use gonka_core::deploy::{Task, TaskGroup, TaskStatus};
use gonka_core::mlnode_api::{TaskInstance, TaskState};

use super::{DriverReport, Memory, TaskDriver, View};
use crate::mlnode_client::MlNodeError;

/// Whether a launch refusal is final (the node will refuse it again): a 4xx.
fn refused(e: &MlNodeError) -> bool {
    e.http_status().is_some_and(|s| s.is_client_error())
}

fn failure(inst: &TaskInstance, node: &str) -> String {
    inst.error
        .clone()
        .unwrap_or_else(|| format!("the engine instance on {node} failed"))
}

impl TaskDriver {
    /// Brings `task` and its instance together; returns whether the task moved.
    ///
    /// # Errors
    /// The store's errors.
    pub(crate) async fn sync_task(
        &self,
        task: &Task,
        view: &View,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        if task.status != TaskStatus::Sleeping {
            memory.asleep.remove(&task.id);
        }
        let (Some(group), Some(node)) = (view.groups.get(&task.group_id), task.node_id.as_deref())
        else {
            return Ok(false);
        };
        if task.status == TaskStatus::Scheduled {
            if let Some(moved) = self.start_timed_out(task, node, view, report).await? {
                return Ok(moved);
            }
        }
        // A node not read this tick: nothing is known, nothing is done.
        let Some(inst) = view.instance(task) else {
            return Ok(false);
        };
        let now = view.now;
        use TaskStatus::*;
        match (task.status, inst) {
            (Scheduled, None) => self.launch(task, group, node, report).await,
            (Scheduled | Running | Sleeping | Waking, Some(i)) if i.state == TaskState::Failed => {
                let why = failure(i, node);
                self.fail(task, why, now, report).await
            }
            (Running | Sleeping | Waking, None) => {
                let why = format!("the engine instance vanished from ML node {node}");
                self.fail(task, why, now, report).await
            }
            (Scheduled, Some(i)) if i.state == TaskState::Running => {
                self.to_running(task, Scheduled, now, report).await
            }
            (Running, Some(i)) if i.state == TaskState::Sleeping => {
                // The node put it to sleep itself.
                memory.asleep.insert(task.id.clone());
                self.move_task(task, Running, Sleeping, None, now).await
            }
            (Running, Some(i)) if i.state == TaskState::Running => {
                self.idle_sleep(task, group, node, i, view, memory, report)
                    .await
            }
            (Sleeping, Some(i)) if i.state == TaskState::Sleeping => {
                memory.asleep.insert(task.id.clone());
                Ok(false)
            }
            (Sleeping, Some(i))
                if memory.asleep.contains(&task.id)
                    && matches!(i.state, TaskState::Running | TaskState::Waking) =>
            {
                // Seen asleep, now awake: a request woke it on the node.
                memory.asleep.remove(&task.id);
                let mut moved = self.move_task(task, Sleeping, Waking, None, now).await?;
                if moved && i.state == TaskState::Running {
                    moved = self.to_running(task, Waking, now, report).await?;
                }
                Ok(moved)
            }
            (Sleeping, Some(i)) if i.state == TaskState::Running => {
                // The sleep asked through the admin API is still to be carried out.
                self.sleep_instance(task, node, memory, report).await;
                Ok(false)
            }
            (Waking, Some(i)) if i.state == TaskState::Sleeping => {
                if let Some(client) = self.node(node) {
                    match client.wake_task(&task.id).await {
                        Ok(_) => report.woken.push(task.id.clone()),
                        Err(e) => {
                            tracing::warn!(task = %task.id, error = %e, "waking an engine instance failed")
                        }
                    }
                }
                Ok(false)
            }
            (Waking, Some(i)) if i.state == TaskState::Running => {
                self.to_running(task, Waking, now, report).await
            }
            _ => Ok(false),
        }
    }

    /// A task scheduled longer than the start timeout: its starting instance fails it; without
    /// an instance (the node unknown, unreachable, or never given it) the placement is given
    /// back. `None` while within the timeout or when the instance runs or failed (followed as
    /// usual).
    async fn start_timed_out(
        &self,
        task: &Task,
        node: &str,
        view: &View,
        report: &mut DriverReport,
    ) -> gonka_core::Result<Option<bool>> {
        let bound = u64::try_from(self.settings.start_timeout.as_millis()).unwrap_or(u64::MAX);
        if view.now.saturating_sub(task.updated_at_ms) <= bound {
            return Ok(None);
        }
        let minutes = self.settings.start_timeout.as_secs() / 60;
        match view.instance(task) {
            Some(Some(i)) if i.state == TaskState::Starting => {
                let why = format!(
                    "the engine instance on {node} did not start within {minutes} minute(s)"
                );
                Ok(Some(self.fail(task, why, view.now, report).await?))
            }
            Some(Some(_)) => Ok(None),
            Some(None) | None => {
                let why = format!("ML node {node} did not start the task within {minutes} minute(s); placed again");
                let moved = self
                    .move_task(
                        task,
                        TaskStatus::Scheduled,
                        TaskStatus::Pending,
                        Some(why.clone()),
                        view.now,
                    )
                    .await?;
                if moved {
                    tracing::warn!(task = %task.id, node = %node, "{why}");
                    self.audit("task.requeue", &task.id, why, view.now).await?;
                    report.requeued.push(task.id.clone());
                }
                Ok(Some(moved))
            }
        }
    }

    async fn to_running(
        &self,
        task: &Task,
        from: TaskStatus,
        now: u64,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let moved = self
            .move_task(task, from, TaskStatus::Running, None, now)
            .await?;
        if moved {
            tracing::info!(task = %task.id, "task running");
            report.running.push(task.id.clone());
        }
        Ok(moved)
    }

    async fn fail(
        &self,
        task: &Task,
        why: String,
        now: u64,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let moved = self
            .move_task(
                task,
                task.status,
                TaskStatus::Failed,
                Some(why.clone()),
                now,
            )
            .await?;
        if moved {
            tracing::warn!(task = %task.id, error = %why, "task failed");
            self.audit("task.fail", &task.id, why.clone(), now).await?;
            report.failed.push((task.id.clone(), why));
        }
        Ok(moved)
    }

    async fn launch(
        &self,
        task: &Task,
        group: &TaskGroup,
        node: &str,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let (Some(client), Some(launch)) = (self.node(node), super::task_launch(task, group))
        else {
            return Ok(false);
        };
        match client.launch_task(&task.id, &launch).await {
            Ok(inst) => {
                tracing::info!(task = %task.id, node = %node, engine = %launch.engine, port = launch.port, "engine instance launched");
                report.launched.push(task.id.clone());
                match inst.state {
                    TaskState::Running => {
                        self.to_running(task, TaskStatus::Scheduled, self.clock.now_ms(), report)
                            .await
                    }
                    TaskState::Failed => {
                        let why = failure(&inst, node);
                        self.fail(task, why, self.clock.now_ms(), report).await
                    }
                    _ => Ok(false),
                }
            }
            Err(e) if refused(&e) => {
                let why = format!("ML node {node} refused the launch: {e}");
                self.fail(task, why, self.clock.now_ms(), report).await
            }
            Err(e) => {
                tracing::warn!(task = %task.id, node = %node, error = %e, "launching an engine instance failed; trying again next tick");
                Ok(false)
            }
        }
    }

    /// `POST .../sleep`; remembers the instance asleep when the node says so.
    async fn sleep_instance(
        &self,
        task: &Task,
        node: &str,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> bool {
        let Some(client) = self.node(node) else {
            return false;
        };
        match client.sleep_task(&task.id).await {
            Ok(inst) => {
                if inst.state == TaskState::Sleeping {
                    memory.asleep.insert(task.id.clone());
                }
                report.slept.push(task.id.clone());
                true
            }
            Err(e) => {
                tracing::warn!(task = %task.id, error = %e, "putting an engine instance to sleep failed");
                false
            }
        }
    }

    /// Puts a running task to sleep when its group's idle timeout has passed since its instance
    /// last served (or since it runs, when it never served) and nothing is in flight.
    #[allow(clippy::too_many_arguments)]
    async fn idle_sleep(
        &self,
        task: &Task,
        group: &TaskGroup,
        node: &str,
        inst: &TaskInstance,
        view: &View,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let timeout_ms = u64::from(group.spec.idle_timeout_minutes) * 60_000;
        let idle_since = inst.last_request_ms.max(inst.since_ms);
        if timeout_ms == 0
            || inst.in_flight > 0
            || memory.draining.contains_key(&task.id)
            || view.now.saturating_sub(idle_since) < timeout_ms
        {
            return Ok(false);
        }
        if !self.sleep_instance(task, node, memory, report).await {
            return Ok(false);
        }
        let moved = self
            .move_task(
                task,
                TaskStatus::Running,
                TaskStatus::Sleeping,
                None,
                view.now,
            )
            .await?;
        if moved {
            tracing::info!(task = %task.id, minutes = group.spec.idle_timeout_minutes, "idle task put to sleep");
            self.audit(
                "task.idle_sleep",
                &task.id,
                format!(
                    "no request for {} minute(s)",
                    group.spec.idle_timeout_minutes
                ),
                view.now,
            )
            .await?;
            report.idle_slept.push(task.id.clone());
        }
        Ok(moved)
    }
}
