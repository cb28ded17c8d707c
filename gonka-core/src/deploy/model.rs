//! The stored records of deployments: task groups, tasks, endpoints and the audit log.

use sha2::{Digest, Sha256};

use crate::deploy::spec::TaskGroupSpec;
use crate::deploy::status::{GroupStatus, TaskStatus};
use crate::deploy::update::GroupUpdate;

/// Progress of a group's rolling update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollingUpdateState {
    /// No update running.
    #[default]
    Idle,
    /// An update is replacing tasks (one at a time, or all at once for a recreate).
    Rolling,
    /// The last update finished.
    Completed,
    /// The last update failed and was not rolled back (a recreate whose new tasks failed).
    Failed,
    /// The last update failed and the old version was restored.
    Rollback,
}

/// A task group: one deployed service.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskGroup {
    /// `tg-{unix_ns}-{hex4}`.
    pub id: String,
    /// Its state.
    pub status: GroupStatus,
    /// Nodes per replica (0: any).
    pub node_count: u32,
    /// Replicas that exist now.
    pub current_replicas: u32,
    /// Its endpoint's id, when it has one.
    pub endpoint: Option<String>,
    /// Rolling update progress.
    pub rolling_update_state: RollingUpdateState,
    /// Version of its tasks' configuration; a rolling update raises it.
    pub generation: u32,
    /// Creation time, Unix ms.
    pub created_at_ms: u64,
    /// Last change, Unix ms.
    pub updated_at_ms: u64,
    /// When the autoscaler last changed the replica count, Unix ms (its cooldown counts from
    /// here, whichever gateway replica scaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaled_at_ms: Option<u64>,
    /// The last update (`rolling_update_state` says whether it is still running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<GroupUpdate>,
    /// What the operator asked for.
    #[serde(flatten)]
    pub spec: TaskGroupSpec,
}

/// One task: an engine instance on GPUs of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Task {
    /// `task-{hex}-r{rank}-{group_id}`.
    pub id: String,
    /// Its group.
    pub group_id: String,
    /// Rank in the group (0 = master).
    pub rank: u32,
    /// Its state.
    pub status: TaskStatus,
    /// GPUs it needs (≥ 1).
    pub gpu_required: u32,
    /// GPU filter inherited from the group.
    pub gpu_type: Option<String>,
    /// GPUs it was placed on, comma-separated device ids (`"0,1"`).
    pub gpu_id: Option<String>,
    /// Node it was placed on.
    pub node_id: Option<String>,
    /// Weights it loads.
    pub model_path: String,
    /// Engine it runs, once placed.
    pub engine: Option<String>,
    /// Port its engine listens on, once placed.
    pub ports: Vec<u16>,
    /// Estimated GPU memory per GPU, MiB.
    pub estimated_gpu_memory_mb: u64,
    /// Configuration version (the group's generation when created).
    pub generation: u32,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Last change, Unix ms.
    pub updated_at_ms: u64,
}

/// Where a placed task runs, written with its move pending → scheduled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskPlacement {
    /// Node.
    pub node_id: String,
    /// GPU device ids.
    pub gpu_ids: Vec<String>,
    /// Engine.
    pub engine: String,
    /// Engine port.
    pub port: u16,
}

/// The API entry of a group: its endpoint API key scopes requests to the group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// `ep-{hex16}`.
    pub id: String,
    /// Name (the group's name).
    pub name: String,
    /// Its group.
    pub task_group_id: String,
    /// `http`.
    pub protocol: String,
    /// Load-balancing algorithm.
    pub algorithm: String,
    /// SHA-256 of the API key, hex; the key itself is never stored.
    pub api_key_sha256: String,
    /// The key's first characters (`sk-1234…`), to tell keys apart.
    pub api_key_prefix: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When, Unix ms.
    pub at_ms: u64,
    /// Who: `admin`, `scheduler`, `autoscaler`, `agent:<node>`.
    pub actor: String,
    /// What: `task_group.create`, `task.sleep`, …
    pub action: String,
    /// The id acted on.
    pub target: String,
    /// Details for a person.
    pub detail: String,
}

/// The hex SHA-256 of an API key, as stored in [`Endpoint::api_key_sha256`].
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The displayable prefix of a key (`sk-` and 8 characters).
pub fn api_key_prefix(key: &str) -> String {
    key.chars().take(11).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_sha256_hex() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(api_key_prefix("sk-0123456789abcdef"), "sk-01234567");
    }

    #[test]
    fn a_group_serializes_its_spec_fields_flat() {
        let spec: TaskGroupSpec =
            serde_json::from_value(serde_json::json!({"name": "svc"})).unwrap();
        let g = TaskGroup {
            id: "tg-1-0000".into(),
            status: GroupStatus::Pending,
            node_count: 1,
            current_replicas: 1,
            endpoint: None,
            rolling_update_state: RollingUpdateState::Idle,
            generation: 1,
            created_at_ms: 1,
            updated_at_ms: 1,
            last_scaled_at_ms: None,
            update: None,
            spec,
        };
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["name"], "svc");
        assert_eq!(v["status"], "pending");
        assert_eq!(v["rolling_update_state"], "idle");
        assert_eq!(v["health_check"]["path"], "/health");
        let back: TaskGroup = serde_json::from_value(v).unwrap();
        assert_eq!(back, g);
    }
}
