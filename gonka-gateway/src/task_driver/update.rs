//! Carrying out a group's update (`PUT /api/v1/task-groups/{id}/update` records it; the group's
//! `generation` is raised, its spec is the new one, `rolling_update_state` is `rolling`).
//!
//! - **rolling**: one task at a time. A new task (the new generation) is added; once it runs and
//!   passes the group's health check, one old task is drained and stopped; then the next new
//!   task, until no old task is left (`completed`; the group's model route takes the new version
//!   label). Old tasks serve until their replacement is healthy, so requests keep being served.
//!   A new task that fails, fails its health check `unhealthy_threshold` times in a row, or an
//!   update that outlasts [`super::DriverSettings::update_timeout`] rolls back: the new tasks stop,
//!   the old spec and generation return, old tasks drained meanwhile are started again, and
//!   `rolling_update_state` is `rollback` with the reason in `update.error`.
//! - **recreate**: every old task stops at once, then the new ones start; `completed` once they
//!   all run and pass their health check, `failed` (with the reason) when one fails.

use gonka_core::deploy::{RollingUpdateState, Task, TaskGroup, TaskStatus, UpdateStrategy};

use super::{DriverReport, Memory, TaskDriver, View};

impl TaskDriver {
    /// One step of `group`'s update, if it has one running; returns whether it changed something.
    ///
    /// # Errors
    /// The store's errors.
    pub(crate) async fn step_update(
        &self,
        group: &TaskGroup,
        view: &View,
        memory: &mut Memory,
        report: &mut DriverReport,
    ) -> gonka_core::Result<bool> {
        let Some(update) = group.update.as_ref() else {
            return Ok(false);
        };
        if group.rolling_update_state != RollingUpdateState::Rolling || group.status.is_terminal() {
            return Ok(false);
        }
        let tasks: Vec<&Task> = view
            .tasks
            .iter()
            .filter(|t| t.group_id == group.id)
            .collect();
        let old: Vec<&Task> = tasks
            .iter()
            .copied()
            .filter(|t| {
                t.generation != group.generation
                    && t.status.is_live()
                    && !memory.draining.contains_key(&t.id)
            })
            .collect();
        let draining_old = tasks
            .iter()
            .any(|t| t.generation != group.generation && memory.draining.contains_key(&t.id));
        let new: Vec<&Task> = tasks
            .iter()
            .copied()
            .filter(|t| t.generation == group.generation && t.status.is_live())
            .collect();
        let threshold = group.spec.health_check.unhealthy_threshold;
        let failed_new = tasks.iter().find(|t| {
            t.generation == group.generation
                && t.updated_at_ms >= update.started_at_ms
                && t.status == TaskStatus::Failed
        });
        let unhealthy = new.iter().find(|t| Self::unhealthy(memory, t, threshold));
        let per_replica = group.spec.shape().tasks.max(1);
        let desired = (group.current_replicas.max(1) * per_replica) as usize;
        let step = |what: String| (group.id.clone(), what);
        let rolling = update.strategy == UpdateStrategy::Rolling;
        let problem = if let Some(t) = failed_new {
            Some(format!(
                "new task {} failed: {}",
                t.id,
                t.error.as_deref().unwrap_or("failure")
            ))
        } else if let Some(t) = unhealthy {
            Some(format!(
                "new task {} failed its health check {} time(s) in a row",
                t.id, threshold
            ))
        } else if view.now.saturating_sub(update.started_at_ms)
            > u64::try_from(self.settings.update_timeout.as_millis()).unwrap_or(u64::MAX)
        {
            Some("the update timed out".to_owned())
        } else {
            None
        };
        if let Some(why) = problem {
            if rolling {
                report.update_steps.push(step(format!("rollback: {why}")));
                self.roll_back(group, &new, &old, why, view, memory).await?;
            } else {
                report.update_steps.push(step(format!("failed: {why}")));
                self.finish(group, RollingUpdateState::Failed, Some(why), view)
                    .await?;
            }
            return Ok(true);
        }
        let ready = |t: &&Task| t.status == TaskStatus::Running && Self::healthy(memory, t);
        if !rolling {
            if !old.is_empty() {
                // The new tasks are added in the same step: a group without a live task would
                // complete.
                if new.len() < desired {
                    let count = u32::try_from(desired - new.len()).unwrap_or(u32::MAX);
                    self.add(group, &tasks, count, view).await?;
                }
                for t in &old {
                    self.stop_now(t, view, report).await?;
                }
                report
                    .update_steps
                    .push(step(format!("stopped {} old task(s)", old.len())));
                return Ok(true);
            }
            if new.len() < desired {
                let count = u32::try_from(desired - new.len()).unwrap_or(u32::MAX);
                self.add(group, &tasks, count, view).await?;
                report
                    .update_steps
                    .push(step(format!("started {count} new task(s)")));
                return Ok(true);
            }
            if new.iter().all(ready) {
                self.finish(group, RollingUpdateState::Completed, None, view)
                    .await?;
                report.update_steps.push(step("completed".into()));
                return Ok(true);
            }
            return Ok(false);
        }
        // Rolling: wait for every new task to be ready before the next step.
        if !new.iter().all(ready) || draining_old {
            return Ok(false);
        }
        if old.is_empty() {
            if new.len() < desired {
                let count = u32::try_from(desired - new.len()).unwrap_or(u32::MAX);
                self.add(group, &tasks, count.min(per_replica), view)
                    .await?;
                report.update_steps.push(step("started a new task".into()));
                return Ok(true);
            }
            self.finish(group, RollingUpdateState::Completed, None, view)
                .await?;
            report.update_steps.push(step("completed".into()));
            return Ok(true);
        }
        if old.len() + new.len() > desired {
            let mut by_rank = old.clone();
            by_rank.sort_by_key(|t| std::cmp::Reverse(t.rank));
            for t in by_rank.into_iter().take(per_replica as usize) {
                memory.draining.insert(t.id.clone(), view.now);
                report
                    .update_steps
                    .push(step(format!("draining old task {}", t.id)));
            }
        } else {
            self.add(group, &tasks, per_replica, view).await?;
            report.update_steps.push(step("started a new task".into()));
        }
        Ok(true)
    }

    /// Adds `count` tasks of the group's current generation after its highest rank.
    async fn add(
        &self,
        group: &TaskGroup,
        tasks: &[&Task],
        count: u32,
        view: &View,
    ) -> gonka_core::Result<()> {
        let next_rank = tasks.iter().map(|t| t.rank + 1).max().unwrap_or(0);
        let memory_mb = group
            .spec
            .estimated_gpu_memory_mb
            .or_else(|| tasks.iter().map(|t| t.estimated_gpu_memory_mb).max())
            .unwrap_or_default();
        let new = gonka_admin::deploy::new_tasks(group, next_rank, count, memory_mb, view.now);
        self.store.add_tasks(new).await
    }

    /// Stops `task` now: `DELETE` on its node (when placed), then completed.
    async fn stop_now(
        &self,
        task: &Task,
        view: &View,
        report: &mut DriverReport,
    ) -> gonka_core::Result<()> {
        if let Some(client) = task.node_id.as_deref().and_then(|n| self.node(n)) {
            match client.stop_task(&task.id).await {
                Ok(()) => report.deleted.push(task.id.clone()),
                // The orphan sweep stops it once the task is completed.
                Err(e) => {
                    tracing::warn!(task = %task.id, error = %e, "stopping an instance failed")
                }
            }
        }
        self.move_task(task, task.status, TaskStatus::Completed, None, view.now)
            .await?;
        Ok(())
    }

    /// Stops the new tasks, restores the old spec and generation, and starts old-spec tasks in
    /// place of the old ones drained meanwhile.
    async fn roll_back(
        &self,
        group: &TaskGroup,
        new: &[&Task],
        old: &[&Task],
        why: String,
        view: &View,
        memory: &mut Memory,
    ) -> gonka_core::Result<()> {
        let mut ignored = DriverReport::default();
        for t in new {
            memory.draining.remove(&t.id);
            self.stop_now(t, view, &mut ignored).await?;
        }
        let Some(update) = group.update.clone() else {
            return Ok(());
        };
        let mut restored = group.clone();
        restored.spec = (*update.previous).clone();
        restored.generation = update.from_generation;
        let restored = self
            .finish(&restored, RollingUpdateState::Rollback, Some(why), view)
            .await?;
        if let Some(g) = restored {
            let per_replica = g.spec.shape().tasks.max(1);
            let desired = (g.current_replicas.max(1) * per_replica) as usize;
            if old.len() < desired {
                let all: Vec<&Task> = view.tasks.iter().filter(|t| t.group_id == g.id).collect();
                let count = u32::try_from(desired - old.len()).unwrap_or(u32::MAX);
                self.add(&g, &all, count, view).await?;
            }
        }
        Ok(())
    }

    /// Ends the update in `state` with `error`; the route takes the new version label on
    /// completion. Returns the group as stored, or `None` when it changed meanwhile.
    async fn finish(
        &self,
        group: &TaskGroup,
        state: RollingUpdateState,
        error: Option<String>,
        view: &View,
    ) -> gonka_core::Result<Option<TaskGroup>> {
        let current = self.store.group(&group.id).await?;
        let mut done = current.clone();
        done.spec = group.spec.clone();
        done.generation = group.generation;
        done.rolling_update_state = state;
        if let Some(u) = done.update.as_mut() {
            u.finished_at_ms = Some(view.now);
            u.error = error.clone();
        }
        done.updated_at_ms = view.now;
        if !self
            .store
            .update_group(done.clone(), current.status)
            .await?
        {
            return Ok(None);
        }
        if state == RollingUpdateState::Completed {
            let version = done.spec.route.version.clone();
            for mut route in self.store.routes().await? {
                if route.task_group_id == done.id && route.spec.version != version {
                    route.spec.version = version.clone();
                    self.store.put_route(route).await?;
                }
            }
        }
        self.audit(
            "task_group.update",
            &done.id,
            match &error {
                Some(e) => format!("{state:?}: {e}"),
                None => format!("{state:?}"),
            },
            view.now,
        )
        .await?;
        tracing::info!(group = %done.id, state = ?state, error = ?error, "update ended");
        Ok(Some(done))
    }
}
