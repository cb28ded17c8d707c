//! Runtime state the network node keeps for each registered ML node.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::NodeConfig;

/// What an ML node is doing (upstream `HardwareNodeStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NodeStatus {
    /// Not yet observed.
    #[default]
    Unknown,
    /// Serving inference.
    Inference,
    /// Running Proof-of-Compute.
    Poc,
    /// Training (reserved upstream).
    Training,
    /// Engine stopped.
    Stopped,
    /// Failed; see `failure_reason`.
    Failed,
}

impl NodeStatus {
    /// The upper-case wire name (`"INFERENCE"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Unknown => "UNKNOWN",
            NodeStatus::Inference => "INFERENCE",
            NodeStatus::Poc => "POC",
            NodeStatus::Training => "TRAINING",
            NodeStatus::Stopped => "STOPPED",
            NodeStatus::Failed => "FAILED",
        }
    }
}

/// Proof-of-Compute sub-status of an ML node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PocStatus {
    /// No PoC work.
    #[default]
    Idle,
    /// Generating nonces.
    Generating,
    /// Validating another participant's nonces.
    Validating,
}

/// Administrative state set through enable/disable (upstream `admin_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminState {
    /// Whether the operator wants the node to take part.
    pub enabled: bool,
    /// The epoch in which `enabled` was last changed. A node disabled in epoch E keeps serving
    /// until E ends and skips the next PoC.
    pub epoch: u64,
}

impl Default for AdminState {
    fn default() -> Self {
        Self {
            enabled: true,
            epoch: 0,
        }
    }
}

/// The runtime half of a [`NodeRecord`]; field names match upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeState {
    /// Where the broker wants the node to be.
    pub intended_status: NodeStatus,
    /// Where the node was last observed to be.
    pub current_status: NodeStatus,
    /// Where the broker wants the node's PoC to be.
    pub poc_intended_status: PocStatus,
    /// The node's last observed PoC status.
    pub poc_current_status: PocStatus,
    /// Why the node is FAILED (or the last error seen), empty when none.
    #[serde(default)]
    pub failure_reason: String,
    /// When `current_status` last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub status_timestamp: OffsetDateTime,
    /// Enable/disable state.
    pub admin_state: AdminState,
}

impl NodeState {
    /// The state of a newly registered node: intended INFERENCE, current UNKNOWN, enabled.
    pub fn new_registered(epoch: u64) -> Self {
        Self {
            intended_status: NodeStatus::Inference,
            current_status: NodeStatus::Unknown,
            poc_intended_status: PocStatus::Idle,
            poc_current_status: PocStatus::Idle,
            failure_reason: String::new(),
            status_timestamp: OffsetDateTime::now_utc(),
            admin_state: AdminState {
                enabled: true,
                epoch,
            },
        }
    }
}

/// A registered node: its configuration and its state, serialized as
/// `{"node": {...}, "state": {...}}` (the element type of `GET /admin/v1/nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeRecord {
    /// The configuration, with `node_num` assigned.
    pub node: NodeConfig,
    /// The runtime state.
    pub state: NodeState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_serializes_as_node_and_state() {
        let mut state = NodeState::new_registered(3);
        state.status_timestamp = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let r = NodeRecord {
            node: NodeConfig::new("n1", "Qwen/QwQ-32B"),
            state,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["state"]["intended_status"], "INFERENCE");
        assert_eq!(v["state"]["current_status"], "UNKNOWN");
        assert_eq!(v["state"]["poc_current_status"], "IDLE");
        assert_eq!(v["state"]["status_timestamp"], "2026-01-02T03:04:05Z");
        assert_eq!(
            v["state"]["admin_state"],
            serde_json::json!({"enabled": true, "epoch": 3})
        );
        assert_eq!(v["node"]["id"], "n1");
        let back: NodeRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn status_names_are_upper_case() {
        for s in [
            NodeStatus::Unknown,
            NodeStatus::Inference,
            NodeStatus::Poc,
            NodeStatus::Training,
            NodeStatus::Stopped,
            NodeStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
