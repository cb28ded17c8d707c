//! `inference/up` and `inference/logs`.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/inference/up` (and `up/async`) body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpRequest {
    /// Model to serve.
    pub model: String,
    /// Data type (`auto` when absent).
    #[serde(default = "auto")]
    pub dtype: String,
    /// Engine arguments (the node's `models[model].args`); empty when absent.
    #[serde(default)]
    pub additional_args: Vec<String>,
}

impl UpRequest {
    /// An up for `model` with dtype `auto` and `additional_args`.
    pub fn new(model: impl Into<String>, additional_args: Vec<String>) -> Self {
        Self {
            model: model.into(),
            dtype: auto(),
            additional_args,
        }
    }
}

fn auto() -> String {
    "auto".to_owned()
}

/// `GET /api/v1/inference/logs`: the last output lines of each engine replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineLogs {
    /// One entry per replica, in replica order.
    #[serde(default)]
    pub replicas: Vec<ReplicaLogs>,
}

/// The log tail of one engine replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLogs {
    /// Replica number.
    #[serde(default)]
    pub index: usize,
    /// Process id (process engines).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The most recent output lines, oldest first.
    #[serde(default)]
    pub lines: Vec<String>,
}
