//! `GET /api/v1/state` and `GET /api/v1/inference/up/status`.

use serde::{Deserialize, Serialize};

use crate::{LoadedModel, MemoryPressure, NodeStatus};

/// Progress of the last `inference/up` (upstream names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UpPhase {
    /// No up since start (or since the last down when nothing was starting).
    NotStarted,
    /// Engines are starting.
    InProgress,
    /// Engines answered ready.
    Completed,
    /// Start-up failed; `error` says why.
    Failed,
    /// A down or stop arrived while starting.
    Cancelled,
    /// A phase this version does not know (decoding only; never sent by our agent).
    #[serde(other)]
    Unknown,
}

/// `GET /api/v1/inference/up/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpStatusReport {
    /// Phase of the last up.
    pub status: UpPhase,
    /// `status == in_progress`.
    #[serde(default)]
    pub is_starting: bool,
    /// Up completed and at least one engine answers ready.
    #[serde(default)]
    pub is_running: bool,
    /// Seconds since the up began (frozen when it ended); `null` before any up.
    #[serde(default)]
    pub elapsed_seconds: Option<f64>,
    /// Failure reason of a failed up.
    #[serde(default)]
    pub error: Option<String>,
    /// Model of the last up.
    #[serde(default)]
    pub model: Option<String>,
}

/// Health of one engine instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplicaHealth {
    /// Not running.
    Stopped,
    /// Started, not ready yet.
    Starting,
    /// Answers requests.
    Ready,
    /// Crashed or gave up; `last_error` says why.
    Failed,
}

/// One engine instance in the state report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// Replica number.
    pub index: usize,
    /// Its health now.
    pub health: ReplicaHealth,
    /// Base URL while ready.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Process id (process engines).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Restarts after crashes since the up.
    #[serde(default)]
    pub restarts: u32,
    /// Requests being proxied to it now.
    #[serde(default)]
    pub in_flight: usize,
    /// Its most recent failure reason.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Engine (accelerator) memory of a node, as its agent reports it in [`StateReport::memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Total engine memory in MiB (all devices together).
    pub total_mb: u64,
    /// Free engine memory in MiB.
    pub free_mb: u64,
    /// The agent's pressure class (`normal`, `elevated`, `critical`); `normal` when absent.
    #[serde(default)]
    pub pressure: MemoryPressure,
}

impl MemoryReport {
    /// A report of `total_mb` with `free_mb` free, classified by [`MemoryPressure::classify`].
    pub fn new(total_mb: u64, free_mb: u64) -> Self {
        Self {
            total_mb,
            free_mb,
            pressure: MemoryPressure::classify(total_mb, free_mb),
        }
    }
}

/// A string field that upstream may send as `null`: read as empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `GET /api/v1/state`: upstream fields (`state`, `version`, `poc_status`,
/// `inference_healthy`, `loaded_model`) plus ours. Only `state` is required when decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateReport {
    /// `STOPPED`, `INFERENCE`, `POW` or `TRAIN` (see [`map_state`] for how other names read).
    pub state: String,
    /// Agent version; empty when not reported (or `null`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub version: String,
    /// `GENERATING` while a PoC round runs, else `IDLE`; empty when not reported or `null`
    /// (upstream's ML node sends `null` unless its state is `INFERENCE`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub poc_status: String,
    /// An engine answers ready; `None` when not reported.
    #[serde(default)]
    pub inference_healthy: Option<bool>,
    /// Model loaded or loading.
    #[serde(default)]
    pub loaded_model: Option<String>,
    /// Engine kind: the replicas' [`crate::InferenceBackend::kind`] (a custom engine's own
    /// name), or the configured engine before the first up.
    #[serde(default)]
    pub engine: Option<String>,
    /// dtype of the loaded model.
    #[serde(default)]
    pub dtype: Option<String>,
    /// Process id of the first engine process.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Seconds the engines have been ready.
    #[serde(default)]
    pub uptime_s: Option<f64>,
    /// Seconds since the agent started.
    #[serde(default)]
    pub agent_uptime_s: Option<f64>,
    /// Most recent failure reason (start failure, crash, give-up).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Requests waiting in the engine, when the node reports it (our agent does not; omitted
    /// from the JSON when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<u32>,
    /// Phase of the last up.
    #[serde(default)]
    pub up_status: Option<UpPhase>,
    /// Engine instances.
    #[serde(default)]
    pub replicas: Vec<ReplicaReport>,
    /// Extension: the models in engine memory now, with the context window each was loaded
    /// with (0: unknown). `None` (omitted) when the node does not report it; `Some` and empty
    /// when nothing is in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_models: Option<Vec<LoadedModel>>,
    /// Extension: models whose weights are on the node's disk (its model cache); omitted when
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_models: Vec<String>,
    /// Extension: engine memory total, free and pressure; omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    /// Extension: the engine instances of deployment tasks (`/api/v1/tasks`), by task id;
    /// omitted when there are none, so a node without tasks answers upstream's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<crate::mlnode_api::TaskInstance>,
}

impl StateReport {
    /// A report of `state` with every other field unset.
    pub fn new(state: impl Into<String>) -> Self {
        Self {
            state: state.into(),
            version: String::new(),
            poc_status: String::new(),
            inference_healthy: None,
            loaded_model: None,
            engine: None,
            dtype: None,
            pid: None,
            uptime_s: None,
            agent_uptime_s: None,
            last_error: None,
            queue_depth: None,
            up_status: None,
            replicas: Vec::new(),
            loaded_models: None,
            disk_models: Vec::new(),
            memory: None,
            tasks: Vec::new(),
        }
    }

    /// The models in engine memory: [`loaded_models`](Self::loaded_models) when reported, else
    /// the [`model`](Self::model) of a serving node with an unknown context (a node that
    /// reports only `loaded_model`, as upstream's does), else none.
    pub fn resident_models(&self) -> Vec<LoadedModel> {
        match (&self.loaded_models, self.model()) {
            (Some(models), _) => models.clone(),
            (None, Some(model)) if self.serving() => vec![LoadedModel {
                name: model.into(),
                context_length: 0,
            }],
            _ => Vec::new(),
        }
    }

    /// [`state`](Self::state) as a [`NodeStatus`] ([`map_state`]); like upstream's broker, an
    /// `INFERENCE` node whose `poc_status` is `GENERATING` or `VALIDATING` is in POC (PoC v2
    /// runs inside the serving engine, so the state itself stays `INFERENCE`).
    pub fn node_status(&self) -> NodeStatus {
        let status = map_state(&self.state);
        let poc_running = matches!(
            self.poc_status.to_ascii_uppercase().as_str(),
            "GENERATING" | "VALIDATING"
        );
        if status == NodeStatus::Inference && poc_running {
            NodeStatus::Poc
        } else {
            status
        }
    }

    /// INFERENCE with a ready engine (or no readiness reported).
    pub fn serving(&self) -> bool {
        self.node_status() == NodeStatus::Inference && self.inference_healthy != Some(false)
    }

    /// The loaded model, `None` when absent or empty.
    pub fn model(&self) -> Option<&str> {
        self.loaded_model.as_deref().filter(|m| !m.is_empty())
    }

    /// The engine kind, `None` when absent or empty.
    pub fn engine_kind(&self) -> Option<&str> {
        self.engine.as_deref().filter(|e| !e.is_empty())
    }

    /// The last error, `None` when absent or empty.
    pub fn error(&self) -> Option<&str> {
        self.last_error.as_deref().filter(|e| !e.is_empty())
    }
}

/// Maps an ML node state name (any case) to a [`NodeStatus`]: `INFERENCE`; `POW`/`POC` → POC;
/// `TRAIN`/`TRAINING` → TRAINING; `STOPPED`; `FAILED`; anything else → UNKNOWN.
pub fn map_state(s: &str) -> NodeStatus {
    match s.to_ascii_uppercase().as_str() {
        "INFERENCE" => NodeStatus::Inference,
        "POW" | "POC" => NodeStatus::Poc,
        "TRAIN" | "TRAINING" => NodeStatus::Training,
        "STOPPED" => NodeStatus::Stopped,
        "FAILED" => NodeStatus::Failed,
        _ => NodeStatus::Unknown,
    }
}
