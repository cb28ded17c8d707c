//! The state machines of task groups and tasks, and the one rule for moving between states.
//!
//! ```text
//! group: pending → scheduling → running ⇄ sleeping
//!                      ↓            ↓        ↓
//!                    failed     completed / failed
//! task:  pending → scheduled → running ⇄ sleeping
//!                                 ↑          ↓
//!                                 └─ waking ─┘
//!        any live state → completed (stopped) or failed; failed → pending (retry)
//! ```

use std::fmt;

/// Status of a task group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Created; no task placed yet.
    Pending,
    /// Tasks are being placed and started.
    Scheduling,
    /// Every task runs (or the group serves with the tasks that run).
    Running,
    /// Every task sleeps: weights released, woken by a request or a call.
    Sleeping,
    /// Stopped on purpose; terminal.
    Completed,
    /// Could not be placed or started; terminal until a retry.
    Failed,
}

/// Status of one task (one engine instance on one node's GPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for placement.
    Pending,
    /// Placed on a node and GPUs (compare-and-set from pending); the agent starts it.
    Scheduled,
    /// The engine answers its health check.
    Running,
    /// The engine sleeps (vLLM `/sleep`, or stopped / paused).
    Sleeping,
    /// Being woken; back to running once healthy.
    Waking,
    /// Stopped on purpose; terminal.
    Completed,
    /// Crashed, failed its health check or could not start; a retry makes it pending again.
    Failed,
}

impl GroupStatus {
    /// Every group status, in state-machine order.
    pub const ALL: [GroupStatus; 6] = [
        GroupStatus::Pending,
        GroupStatus::Scheduling,
        GroupStatus::Running,
        GroupStatus::Sleeping,
        GroupStatus::Completed,
        GroupStatus::Failed,
    ];

    /// The wire name (`"running"`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Pending => "pending",
            GroupStatus::Scheduling => "scheduling",
            GroupStatus::Running => "running",
            GroupStatus::Sleeping => "sleeping",
            GroupStatus::Completed => "completed",
            GroupStatus::Failed => "failed",
        }
    }

    /// Whether the machine allows `self → to`. Staying in the same state is not a transition.
    pub fn can_become(self, to: GroupStatus) -> bool {
        use GroupStatus::*;
        matches!(
            (self, to),
            (Pending, Scheduling)
                | (Pending, Failed)
                | (Pending, Completed)
                | (Scheduling, Running)
                | (Scheduling, Failed)
                | (Scheduling, Completed)
                | (Running, Sleeping)
                | (Running, Completed)
                | (Running, Failed)
                | (Sleeping, Running)
                | (Sleeping, Completed)
                | (Sleeping, Failed)
                | (Failed, Pending)
        )
    }

    /// `self → to`, or the [`IllegalTransition`] naming both states.
    ///
    /// # Errors
    /// [`IllegalTransition`] when [`GroupStatus::can_become`] refuses.
    pub fn transition(self, to: GroupStatus) -> Result<GroupStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition::new(
                "task group",
                self.as_str(),
                to.as_str(),
            ))
        }
    }

    /// Completed and failed groups end here (a failed one may be retried).
    pub fn is_terminal(self) -> bool {
        matches!(self, GroupStatus::Completed | GroupStatus::Failed)
    }
}

impl TaskStatus {
    /// Every task status, in state-machine order.
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Pending,
        TaskStatus::Scheduled,
        TaskStatus::Running,
        TaskStatus::Sleeping,
        TaskStatus::Waking,
        TaskStatus::Completed,
        TaskStatus::Failed,
    ];

    /// The wire name (`"scheduled"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Scheduled => "scheduled",
            TaskStatus::Running => "running",
            TaskStatus::Sleeping => "sleeping",
            TaskStatus::Waking => "waking",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }

    /// Whether the machine allows `self → to`. Staying in the same state is not a transition.
    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        match (self, to) {
            (Pending, Scheduled) => true,
            // A placement whose agent never started it goes back to the queue.
            (Scheduled, Running) | (Scheduled, Pending) => true,
            (Running, Sleeping) => true,
            (Sleeping, Waking) => true,
            (Waking, Running) | (Waking, Sleeping) => true,
            (Failed, Pending) => true,
            (from, Completed | Failed) => from.is_live(),
            _ => false,
        }
    }

    /// `self → to`, or the [`IllegalTransition`] naming both states.
    ///
    /// # Errors
    /// [`IllegalTransition`] when [`TaskStatus::can_become`] refuses.
    pub fn transition(self, to: TaskStatus) -> Result<TaskStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition::new("task", self.as_str(), to.as_str()))
        }
    }

    /// Neither completed nor failed.
    pub fn is_live(self) -> bool {
        !matches!(self, TaskStatus::Completed | TaskStatus::Failed)
    }

    /// Holds GPU memory: scheduled, running or waking (a sleeping task has released it).
    pub fn holds_gpu(self) -> bool {
        matches!(
            self,
            TaskStatus::Scheduled | TaskStatus::Running | TaskStatus::Waking
        )
    }
}

impl fmt::Display for GroupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the state machine does not allow; servers answer it with 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal {what} transition: {from} → {to}")]
pub struct IllegalTransition {
    /// `"task group"` or `"task"`.
    pub what: &'static str,
    /// The state it is in.
    pub from: &'static str,
    /// The state asked for.
    pub to: &'static str,
}

impl IllegalTransition {
    fn new(what: &'static str, from: &'static str, to: &'static str) -> Self {
        Self { what, from, to }
    }
}

/// The status a group's tasks add up to: completed when all completed; failed when none is live
/// and one failed; running while any task runs (it serves); sleeping when every live task sleeps or
/// wakes; pending while every live task is pending; scheduling otherwise. `None` without tasks.
pub fn group_status_of(tasks: &[TaskStatus]) -> Option<GroupStatus> {
    if tasks.is_empty() {
        return None;
    }
    let all_live = |f: fn(TaskStatus) -> bool| tasks.iter().filter(|t| t.is_live()).all(|&t| f(t));
    let live = tasks.iter().any(|t| t.is_live());
    Some(if tasks.iter().all(|&t| t == TaskStatus::Completed) {
        GroupStatus::Completed
    } else if !live {
        GroupStatus::Failed
    } else if tasks.contains(&TaskStatus::Running) {
        GroupStatus::Running
    } else if all_live(|t| matches!(t, TaskStatus::Sleeping | TaskStatus::Waking)) {
        GroupStatus::Sleeping
    } else if all_live(|t| t == TaskStatus::Pending) {
        GroupStatus::Pending
    } else {
        GroupStatus::Scheduling
    })
}

/// The group's next status: what its tasks add up to ([`group_status_of`]) when the machine allows
/// that move from `current`, else `current` (the group waits for its tasks to reach a state it
/// can move to; e.g. a sleeping group whose task is being re-placed stays sleeping until that task
/// runs). Tasks that moved on by several steps at once are followed through pending and
/// scheduling (pending → scheduling → running; failed → pending → scheduling). Every step taken is
/// a legal transition.
pub fn advance_group(current: GroupStatus, tasks: &[TaskStatus]) -> GroupStatus {
    group_status_of(tasks)
        .and_then(|next| group_path(current, next).last().copied())
        .unwrap_or(current)
}

/// The legal steps from `from` to `to` that [`advance_group`] takes (empty when it stays).
pub fn group_path(from: GroupStatus, to: GroupStatus) -> Vec<GroupStatus> {
    use GroupStatus::*;
    if from == to {
        return Vec::new();
    }
    if from.can_become(to) {
        return vec![to];
    }
    for mid in [Scheduling, Pending] {
        if from.can_become(mid) && mid.can_become(to) {
            return vec![mid, to];
        }
    }
    if from.can_become(Pending) && Pending.can_become(Scheduling) && Scheduling.can_become(to) {
        return vec![Pending, Scheduling, to];
    }
    Vec::new()
}
