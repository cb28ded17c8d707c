//! The [`NodeRegistry`] trait: where ML node configurations and their state live.

mod conflict;
mod memory;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{NodeConfig, NodeRecord, NodeStatus, PocStatus, Result};

pub use conflict::find_endpoint_conflict;
pub use memory::{MemoryRegistry, WATCH_CAPACITY};

/// A change seen through [`NodeRegistry::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// A node was created, replaced, enabled/disabled or had its status updated; the record is
    /// the state after the change.
    Upserted(NodeRecord),
    /// A node was deleted; the record is the state just before deletion.
    Deleted(NodeRecord),
}

impl RegistryEvent {
    /// The id of the node the event concerns.
    pub fn id(&self) -> &str {
        match self {
            RegistryEvent::Upserted(r) | RegistryEvent::Deleted(r) => &r.node.id,
        }
    }
}

/// A partial update of a node's runtime state, written by the broker. `None` leaves a field as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusUpdate {
    /// New intended status.
    pub intended_status: Option<NodeStatus>,
    /// New observed status; `status_timestamp` is set to now when it changes.
    pub current_status: Option<NodeStatus>,
    /// New intended PoC status.
    pub poc_intended_status: Option<PocStatus>,
    /// New observed PoC status.
    pub poc_current_status: Option<PocStatus>,
    /// New failure reason (`Some("")` clears it).
    pub failure_reason: Option<String>,
}

/// Outcome of one element of [`NodeRegistry::upsert_batch`].
pub type BatchItemResult = Result<NodeRecord>;

/// Where ML node configurations and their state live.
///
/// Contract (checked by `gonka_core::testing::registry_suite`, which every implementation runs):
/// - **Durability**: a method that changes data returns `Ok` only after the change is durable
///   for that backend (on disk for SQLite, committed for PostgreSQL, in memory for
///   [`MemoryRegistry`]). On `Err` nothing was changed.
/// - **Identity**: nodes are keyed by `config.id`. Each node gets a `node_num` on first insert,
///   unique in the registry, never reused, and kept across upserts.
/// - **Endpoints**: no two nodes share a normalized host with an equal port (inference or PoC);
///   a write that would break this fails with [`crate::Error::Conflict`] naming the other node.
/// - **Order**: [`list`](Self::list) returns nodes in ascending `node_num` (registration order).
/// - **Change feed**: every successful change is sent to [`watch`](Self::watch) receivers after
///   it is durable, in commit order per node. A receiver that lags (`RecvError::Lagged`) must
///   re-read with [`list`](Self::list).
/// - **Concurrency**: methods may be called concurrently from many tasks; each is atomic.
///
/// Callers are expected to validate configurations first (see [`crate::validate`]); registries
/// do not re-check governance rules.
#[async_trait]
pub trait NodeRegistry: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts or replaces the node with `config.id` (its `node_num` input is ignored). A new node
    /// starts with [`NodeState::new_registered(0)`](crate::NodeState::new_registered): enabled,
    /// intended INFERENCE, current UNKNOWN. An existing node keeps its state and `node_num`.
    ///
    /// # Errors
    /// `Conflict` when another node uses one of its host:port endpoints; `Unavailable` when the
    /// storage is down.
    async fn upsert(&self, config: NodeConfig) -> Result<NodeRecord>;

    /// Upserts many nodes in one atomic, durable write. Each element's outcome is returned at its
    /// position: nodes that conflict (with stored nodes or an earlier element) fail alone and the
    /// others are stored.
    ///
    /// # Errors
    /// `Unavailable` when the storage is down; then nothing was stored.
    async fn upsert_batch(&self, configs: Vec<NodeConfig>) -> Result<Vec<BatchItemResult>>;

    /// The node with this id.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    async fn get(&self, id: &str) -> Result<NodeRecord>;

    /// All nodes in ascending `node_num`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self) -> Result<Vec<NodeRecord>>;

    /// Sets `admin_state = {enabled, epoch}` without touching the configuration.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    async fn set_enabled(&self, id: &str, enabled: bool, epoch: u64) -> Result<NodeRecord>;

    /// Applies a partial update of the runtime state.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    async fn update_status(&self, id: &str, update: StatusUpdate) -> Result<NodeRecord>;

    /// Removes the node and returns it as it was.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    async fn delete(&self, id: &str) -> Result<NodeRecord>;

    /// A receiver of every change made through this registry value (and, for shared databases
    /// that support it, by other processes).
    fn watch(&self) -> broadcast::Receiver<RegistryEvent>;

    /// Whether the one-time marker `name` was recorded by [`set_marker`](Self::set_marker)
    /// (e.g. "the operator's node-config.json was merged"). Markers live as long as the
    /// registry's nodes: a persistent registry keeps them across restarts and shares them
    /// between the processes using it. Deleting nodes does not clear them.
    ///
    /// # Errors
    /// `Unavailable` when the storage is down; the default implementation, for registries
    /// that keep no markers, always fails with `Unavailable` saying so.
    async fn marker(&self, name: &str) -> Result<bool> {
        Err(crate::Error::Unavailable(
            format!("this registry keeps no markers (asked for `{name}`)").into(),
        ))
    }

    /// Records the one-time marker `name`; recording it again changes nothing.
    ///
    /// # Errors
    /// As [`marker`](Self::marker).
    async fn set_marker(&self, name: &str) -> Result<()> {
        Err(crate::Error::Unavailable(
            format!("this registry keeps no markers (cannot record `{name}`)").into(),
        ))
    }
}

/// Applies a [`StatusUpdate`] to a state in place; used by every backend so they agree.
pub fn apply_status_update(state: &mut crate::NodeState, update: &StatusUpdate) {
    if let Some(s) = update.intended_status {
        state.intended_status = s;
    }
    if let Some(s) = update.current_status {
        if state.current_status != s {
            state.status_timestamp = time::OffsetDateTime::now_utc();
        }
        state.current_status = s;
    }
    if let Some(s) = update.poc_intended_status {
        state.poc_intended_status = s;
    }
    if let Some(s) = update.poc_current_status {
        state.poc_current_status = s;
    }
    if let Some(r) = &update.failure_reason {
        state.failure_reason.clone_from(r);
    }
}
