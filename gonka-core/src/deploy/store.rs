//! [`DeploymentStore`]: where task groups, tasks, routes, endpoints and the audit log live, and
//! [`MemoryDeploymentStore`], the in-memory implementation.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::deploy::model::{AuditEntry, Endpoint, Task, TaskGroup, TaskPlacement};
use crate::deploy::routes::ModelRoute;
use crate::deploy::status::{GroupStatus, TaskStatus};
use crate::{Error, FieldError, Result};

/// Everything one `POST /api/v1/task-groups` writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCreation {
    /// The group.
    pub group: TaskGroup,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// Its model route.
    pub route: ModelRoute,
    /// Its endpoint, when asked for.
    pub endpoint: Option<Endpoint>,
    /// The audit entry.
    pub audit: AuditEntry,
}

/// Which tasks [`DeploymentStore::tasks`] returns (`None` = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Of this group.
    pub group_id: Option<String>,
    /// On this node.
    pub node_id: Option<String>,
    /// In this status.
    pub status: Option<TaskStatus>,
}

impl TaskFilter {
    /// Whether `task` passes.
    pub fn matches(&self, task: &Task) -> bool {
        self.group_id.as_ref().is_none_or(|g| *g == task.group_id)
            && self
                .node_id
                .as_ref()
                .is_none_or(|n| task.node_id.as_ref() == Some(n))
            && self.status.is_none_or(|s| s == task.status)
    }
}

/// A task's move, applied only when the task is in `from` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskMove {
    /// State it must be in.
    pub from: TaskStatus,
    /// State it moves to; `from → to` must be legal.
    pub to: TaskStatus,
    /// Placement written with the move (pending → scheduled); cleared when moving to pending.
    pub placement: Option<TaskPlacement>,
    /// Failure reason written with the move (cleared by any move to a live state).
    pub error: Option<String>,
    /// Time of the move, Unix ms.
    pub at_ms: u64,
}

/// Where deployments live.
///
/// Contract (checked by `gonka_core::testing::deployment_suite`, which every implementation
/// runs): writes are durable and atomic when they return `Ok`; on `Err` nothing changed. Group
/// names are unique (the model name clients send). [`Self::move_task`] is a compare-and-set: of
/// two concurrent moves from the same state, at most one applies, so two gateway replicas never
/// place one task twice. Lists are ordered by id.
#[async_trait]
pub trait DeploymentStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new group with its tasks, route, endpoint and audit entry, all or nothing.
    ///
    /// # Errors
    /// `Conflict` (field `name`) when a group of that name exists, or (field `id`) when an id is
    /// taken.
    async fn create_group(&self, creation: GroupCreation) -> Result<()>;

    /// The group with `id`.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn group(&self, id: &str) -> Result<TaskGroup>;

    /// Every group, by id.
    async fn groups(&self) -> Result<Vec<TaskGroup>>;

    /// Replaces a group's record when its status is still `expected` (compare-and-set on the
    /// status; the new record's status may differ, and must be a legal move). Returns whether it
    /// applied.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (field `status`) for an illegal status move.
    async fn update_group(&self, group: TaskGroup, expected: GroupStatus) -> Result<bool>;

    /// Deletes a completed or failed group with its tasks, routes and endpoint.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (field `status`) naming the status when it is neither.
    async fn delete_group(&self, id: &str) -> Result<()>;

    /// Tasks passing `filter`, by id.
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>>;

    /// The task with `id`.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn task(&self, id: &str) -> Result<Task>;

    /// Adds tasks to an existing group (scaling up, updates).
    ///
    /// # Errors
    /// `NotFound` for an unknown group; `Conflict` (field `id`) for a taken id.
    async fn add_tasks(&self, tasks: Vec<Task>) -> Result<()>;

    /// Removes a completed or failed task.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (field `status`) when it is live.
    async fn remove_task(&self, id: &str) -> Result<()>;

    /// Moves a task when it is in `m.from`; returns the task after the move, or `None` when it
    /// was not in `m.from` (someone else moved it first).
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (field `status`) when `from → to` is illegal.
    async fn move_task(&self, id: &str, m: TaskMove) -> Result<Option<Task>>;

    /// Every route, by id.
    async fn routes(&self) -> Result<Vec<ModelRoute>>;

    /// Inserts or replaces a route.
    ///
    /// # Errors
    /// `NotFound` (field `task_group_id`) when its group does not exist.
    async fn put_route(&self, route: ModelRoute) -> Result<()>;

    /// Deletes a route.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn delete_route(&self, id: &str) -> Result<()>;

    /// The endpoint whose key hashes to `sha256_hex`, if any.
    async fn endpoint_by_key(&self, sha256_hex: &str) -> Result<Option<Endpoint>>;

    /// Appends to the audit log.
    async fn audit(&self, entry: AuditEntry) -> Result<()>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>>;

    /// Takes or renews lease `name` for `holder` until `now_ms + ttl_ms`, when it is free,
    /// expired, or already `holder`'s; returns whether `holder` holds it now. Atomic: of two
    /// holders asking at once, one gets it. Gateway replicas use it so one at a time places tasks
    /// (no GPU is booked twice).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool>;

    /// The names of the leases starting with `prefix` that have not expired at `now_ms`, sorted.
    /// Gateway replicas announce themselves with a lease each (`replica/{id}`) and read who else
    /// is alive here.
    async fn live_leases(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>>;
}

/// Re-derives group `id`'s status from its tasks ([`crate::deploy::advance_group`]: legal moves
/// only) and stores it with a compare-and-set, retrying a few times when another writer moved
/// the group meanwhile. Returns the group as stored.
///
/// # Errors
/// `NotFound`; the store's errors.
pub async fn refresh_group<S: DeploymentStore + ?Sized>(
    store: &S,
    id: &str,
    now_ms: u64,
) -> Result<crate::deploy::TaskGroup> {
    for _ in 0..5 {
        let group = store.group(id).await?;
        let tasks = store
            .tasks(&TaskFilter {
                group_id: Some(id.to_owned()),
                ..TaskFilter::default()
            })
            .await?;
        let statuses: Vec<TaskStatus> = tasks.iter().map(|t| t.status).collect();
        let next = crate::deploy::advance_group(group.status, &statuses);
        if next == group.status {
            return Ok(group);
        }
        let mut updated = group.clone();
        updated.status = next;
        updated.updated_at_ms = now_ms;
        if store.update_group(updated.clone(), group.status).await? {
            return Ok(updated);
        }
    }
    store.group(id).await
}

fn conflict(field: &str, message: String) -> Error {
    Error::Conflict(FieldError::new(field, message))
}

fn not_found(id: &str) -> Error {
    Error::NotFound { id: id.to_owned() }
}

/// Checks that `group` may be written over `current`: same status, or a legal move.
pub fn check_group_move(current: GroupStatus, next: GroupStatus) -> Result<()> {
    if current == next || current.can_become(next) {
        Ok(())
    } else {
        Err(conflict(
            "status",
            current
                .transition(next)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ))
    }
}

/// Applies `m` to `task` when it is in `m.from`: `Ok(false)` when it is not.
///
/// # Errors
/// `Conflict` (field `status`) when `from → to` is illegal.
pub fn apply_move(task: &mut Task, m: &TaskMove) -> Result<bool> {
    if let Err(e) = m.from.transition(m.to) {
        return Err(conflict("status", e.to_string()));
    }
    if task.status != m.from {
        return Ok(false);
    }
    task.status = m.to;
    task.updated_at_ms = m.at_ms;
    if let Some(p) = &m.placement {
        task.node_id = Some(p.node_id.clone());
        task.gpu_id = Some(p.gpu_ids.join(","));
        task.engine = Some(p.engine.clone());
        task.ports = vec![p.port];
    }
    if m.to == TaskStatus::Pending {
        task.node_id = None;
        task.gpu_id = None;
        task.ports.clear();
    }
    if m.to.is_live() {
        task.error = None;
    }
    if m.error.is_some() {
        task.error = m.error.clone();
    }
    Ok(true)
}

#[derive(Debug, Default)]
struct Tables {
    leases: BTreeMap<String, (String, u64)>,
    groups: BTreeMap<String, TaskGroup>,
    tasks: BTreeMap<String, Task>,
    routes: BTreeMap<String, ModelRoute>,
    endpoints: BTreeMap<String, Endpoint>,
    audit: Vec<AuditEntry>,
}

/// [`DeploymentStore`] in memory: for tests, embedding and the devnet.
#[derive(Debug, Default)]
pub struct MemoryDeploymentStore {
    tables: Mutex<Tables>,
}

impl MemoryDeploymentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl DeploymentStore for MemoryDeploymentStore {
    async fn create_group(&self, c: GroupCreation) -> Result<()> {
        let mut t = self.lock();
        if t.groups.values().any(|g| g.spec.name == c.group.spec.name) {
            return Err(conflict(
                "name",
                format!("a task group named {:?} exists", c.group.spec.name),
            ));
        }
        let taken = t.groups.contains_key(&c.group.id)
            || c.tasks.iter().any(|x| t.tasks.contains_key(&x.id))
            || t.routes.contains_key(&c.route.id)
            || c.endpoint
                .as_ref()
                .is_some_and(|e| t.endpoints.contains_key(&e.id));
        if taken {
            return Err(conflict("id", "an id of the new group is taken".into()));
        }
        for task in c.tasks {
            t.tasks.insert(task.id.clone(), task);
        }
        t.routes.insert(c.route.id.clone(), c.route);
        if let Some(e) = c.endpoint {
            t.endpoints.insert(e.id.clone(), e);
        }
        t.audit.push(c.audit);
        t.groups.insert(c.group.id.clone(), c.group);
        Ok(())
    }

    async fn group(&self, id: &str) -> Result<TaskGroup> {
        self.lock()
            .groups
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    async fn groups(&self) -> Result<Vec<TaskGroup>> {
        Ok(self.lock().groups.values().cloned().collect())
    }

    async fn update_group(&self, group: TaskGroup, expected: GroupStatus) -> Result<bool> {
        let mut t = self.lock();
        let current = t
            .groups
            .get_mut(&group.id)
            .ok_or_else(|| not_found(&group.id))?;
        if current.status != expected {
            return Ok(false);
        }
        check_group_move(current.status, group.status)?;
        *current = group;
        Ok(true)
    }

    async fn delete_group(&self, id: &str) -> Result<()> {
        let mut t = self.lock();
        let status = t.groups.get(id).ok_or_else(|| not_found(id))?.status;
        if !status.is_terminal() {
            return Err(conflict(
                "status",
                format!(
                    "task group {id} is {status}; only completed or failed groups can be deleted"
                ),
            ));
        }
        t.groups.remove(id);
        t.tasks.retain(|_, x| x.group_id != id);
        t.routes.retain(|_, r| r.task_group_id != id);
        t.endpoints.retain(|_, e| e.task_group_id != id);
        Ok(())
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        Ok(self
            .lock()
            .tasks
            .values()
            .filter(|x| filter.matches(x))
            .cloned()
            .collect())
    }

    async fn task(&self, id: &str) -> Result<Task> {
        self.lock()
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    async fn add_tasks(&self, tasks: Vec<Task>) -> Result<()> {
        let mut t = self.lock();
        for x in &tasks {
            if !t.groups.contains_key(&x.group_id) {
                return Err(not_found(&x.group_id));
            }
            if t.tasks.contains_key(&x.id) {
                return Err(conflict("id", format!("task id {} is taken", x.id)));
            }
        }
        for x in tasks {
            t.tasks.insert(x.id.clone(), x);
        }
        Ok(())
    }

    async fn remove_task(&self, id: &str) -> Result<()> {
        let mut t = self.lock();
        let status = t.tasks.get(id).ok_or_else(|| not_found(id))?.status;
        if status.is_live() {
            return Err(conflict(
                "status",
                format!("task {id} is {status}; stop it before removing it"),
            ));
        }
        t.tasks.remove(id);
        Ok(())
    }

    async fn move_task(&self, id: &str, m: TaskMove) -> Result<Option<Task>> {
        let mut t = self.lock();
        let task = t.tasks.get_mut(id).ok_or_else(|| not_found(id))?;
        Ok(apply_move(task, &m)?.then(|| task.clone()))
    }

    async fn routes(&self) -> Result<Vec<ModelRoute>> {
        Ok(self.lock().routes.values().cloned().collect())
    }

    async fn put_route(&self, route: ModelRoute) -> Result<()> {
        let mut t = self.lock();
        if !t.groups.contains_key(&route.task_group_id) {
            return Err(not_found(&route.task_group_id));
        }
        t.routes.insert(route.id.clone(), route);
        Ok(())
    }

    async fn delete_route(&self, id: &str) -> Result<()> {
        self.lock()
            .routes
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }

    async fn endpoint_by_key(&self, sha256_hex: &str) -> Result<Option<Endpoint>> {
        Ok(self
            .lock()
            .endpoints
            .values()
            .find(|e| e.api_key_sha256 == sha256_hex)
            .cloned())
    }

    async fn audit(&self, entry: AuditEntry) -> Result<()> {
        self.lock().audit.push(entry);
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool> {
        let mut t = self.lock();
        let free = t
            .leases
            .get(name)
            .is_none_or(|(h, expires)| h == holder || *expires <= now_ms);
        if free {
            t.leases.insert(
                name.to_owned(),
                (holder.to_owned(), now_ms.saturating_add(ttl_ms)),
            );
        }
        Ok(free)
    }

    async fn live_leases(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>> {
        let t = self.lock();
        let mut live: Vec<String> = t
            .leases
            .iter()
            .filter(|(name, (_, expires))| name.starts_with(prefix) && *expires > now_ms)
            .map(|(name, _)| name.clone())
            .collect();
        live.sort();
        Ok(live)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    #[tokio::test]
    async fn memory_store_passes_the_suite() {
        crate::testing::deployment_suite(super::MemoryDeploymentStore::new()).await;
    }
}
