//! The wire types of the ML node management API (Gonka's ML node API, default port 8080): the
//! request and response bodies of `/health`, `/api/v1/state`, `/api/v1/inference/*`,
//! `/api/v1/stop`, `/api/v1/gpu/*` and `/api/v1/models/*`, and the paths of every call
//! (PoC ones included).
//!
//! The ML node agent (`gonka-mlnode`) serialises these and the gateway's management client
//! deserialises them, so both ends share one definition. Pure serde types, no I/O. The PoC
//! endpoints (`/api/v1/inference/pow/*`) have their bodies in [`crate::poc::wire`].
//!
//! Decoding is lenient where upstream ML nodes differ from ours: every field but
//! [`StateReport::state`] may be missing (it then takes its documented default), so a client
//! built on these types also reads a node that reports only the upstream subset.
//!
//! ```
//! use gonka_core::mlnode_api::StateReport;
//! use gonka_core::NodeStatus;
//!
//! let upstream: StateReport = serde_json::from_str(r#"{"state": "POW"}"#).unwrap();
//! assert_eq!(upstream.node_status(), NodeStatus::Poc);
//! assert!(!upstream.serving());
//! ```

mod health;
mod host;
mod inference;
mod models;
mod state;
mod tasks;

pub use health::{GpuHealth, HealthReport, ManagerHealth, ManagersHealth, Readiness};
pub use host::{DiskSpace, DriverInfo, GpuDevice, GpuReport, ModelsList};
pub use inference::{EngineLogs, ReplicaLogs, UpRequest};
pub use models::{
    DeleteReply, DownloadProgress, DownloadStarted, HfModel, HfModelStatus, HfModelStatusReply,
    ModelListItem,
};
pub use state::{
    map_state, MemoryReport, ReplicaHealth, ReplicaReport, StateReport, UpPhase, UpStatusReport,
};

pub use tasks::{SleepMode, TaskInstance, TaskLaunch, TaskList, TaskState};

use serde::{Deserialize, Serialize};

/// The paths of the management API, relative to the node's management base URL.
pub mod paths {
    /// `GET`: [`HealthReport`](super::HealthReport), 503 when unhealthy.
    pub const HEALTH: &str = "/health";
    /// `GET`: the same as [`HEALTH`].
    pub const LIVEZ: &str = "/livez";
    /// `GET`: [`Readiness`](super::Readiness), 503 while the engine does not serve.
    pub const READYZ: &str = "/readyz";
    /// `GET`: [`StateReport`](super::StateReport).
    pub const STATE: &str = "/api/v1/state";
    /// `POST` [`UpRequest`](super::UpRequest): start engines for a model.
    pub const INFERENCE_UP: &str = "/api/v1/inference/up";
    /// `POST` [`UpRequest`](super::UpRequest): as [`INFERENCE_UP`], never blocking.
    pub const INFERENCE_UP_ASYNC: &str = "/api/v1/inference/up/async";
    /// `GET`: [`UpStatusReport`](super::UpStatusReport).
    pub const INFERENCE_UP_STATUS: &str = "/api/v1/inference/up/status";
    /// `POST`: stop the engines.
    pub const INFERENCE_DOWN: &str = "/api/v1/inference/down";
    /// `GET`: [`EngineLogs`](super::EngineLogs).
    pub const INFERENCE_LOGS: &str = "/api/v1/inference/logs";
    /// `POST`: stop PoC generation and every engine.
    pub const STOP: &str = "/api/v1/stop";
    /// `GET`: [`GpuReport`](super::GpuReport).
    pub const GPU_DEVICES: &str = "/api/v1/gpu/devices";
    /// `GET`: [`DriverInfo`](super::DriverInfo).
    pub const GPU_DRIVER: &str = "/api/v1/gpu/driver";
    /// `GET`: [`ModelsList`](super::ModelsList).
    pub const MODELS_LIST: &str = "/api/v1/models/list";
    /// `GET`: [`DiskSpace`](super::DiskSpace) of the model cache.
    pub const MODELS_SPACE: &str = "/api/v1/models/space";
    /// `POST` [`HfModel`](super::HfModel): [`HfModelStatusReply`](super::HfModelStatusReply).
    pub const MODELS_STATUS: &str = "/api/v1/models/status";
    /// `POST` [`HfModel`](super::HfModel): start a download, 202
    /// [`DownloadStarted`](super::DownloadStarted).
    pub const MODELS_DOWNLOAD: &str = "/api/v1/models/download";
    /// `DELETE` [`HfModel`](super::HfModel): delete or cancel,
    /// [`DeleteReply`](super::DeleteReply).
    pub const MODELS: &str = "/api/v1/models";
    /// `POST` [`InitGenerateRequest`](crate::poc::wire::InitGenerateRequest): start PoC
    /// generation.
    pub const POW_INIT_GENERATE: &str = "/api/v1/inference/pow/init/generate";
    /// `POST` [`GenerateRequest`](crate::poc::wire::GenerateRequest): compute (and judge) given
    /// nonces: queued ([`GenerateQueued`](crate::poc::wire::GenerateQueued)), or at once with
    /// `wait: true`.
    pub const POW_GENERATE: &str = "/api/v1/inference/pow/generate";
    /// `GET`: [`GenerateResult`](crate::poc::wire::GenerateResult) of a queued `/generate`,
    /// by the `request_id` it answered (`{port}:{id}`; upstream's route takes the id as a path,
    /// so the pattern is a catch-all).
    pub const POW_GENERATE_RESULT: &str = "/api/v1/inference/pow/generate/{*request_id}";
    /// `GET`: [`PowStatus`](crate::poc::wire::PowStatus).
    pub const POW_STATUS: &str = "/api/v1/inference/pow/status";
    /// `POST`: stop PoC generation.
    pub const POW_STOP: &str = "/api/v1/inference/pow/stop";
    /// `GET`: [`TaskList`](super::TaskList), the engine instances of deployment tasks.
    pub const TASKS: &str = "/api/v1/tasks";
    /// `PUT` [`TaskLaunch`](super::TaskLaunch): start (idempotent) an instance, 202
    /// [`TaskInstance`](super::TaskInstance); `GET`: the instance (404 when unknown); `DELETE`:
    /// stop it and forget it (200, also for an unknown id).
    pub const TASK: &str = "/api/v1/tasks/{task_id}";
    /// `POST`: put the instance to sleep (202 [`TaskInstance`](super::TaskInstance)).
    pub const TASK_SLEEP: &str = "/api/v1/tasks/{task_id}/sleep";
    /// `POST`: wake the instance (202 [`TaskInstance`](super::TaskInstance)).
    pub const TASK_WAKE: &str = "/api/v1/tasks/{task_id}/wake";
}

/// `{"status": "..."}`: the answer of `inference/up` (`starting`, or `OK` once up) and of
/// `inference/down` and `stop` (`OK`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// What the node says; empty when it sent no `status`.
    #[serde(default)]
    pub status: String,
}

impl StatusReply {
    /// A reply saying `status`.
    pub fn new(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
        }
    }
}

/// The body of every error answer: `{"detail": "...", "error": "..."}` (`detail` is upstream's
/// key, `error` ours; our agent sends both with the same message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Upstream's message key.
    #[serde(default)]
    pub detail: Option<String>,
    /// Our message key.
    #[serde(default)]
    pub error: Option<String>,
}

impl ErrorReply {
    /// Both keys set to `message`.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            detail: Some(message.clone()),
            error: Some(message),
        }
    }

    /// The message: `error`, else `detail` (`None` when neither is set).
    pub fn message(&self) -> Option<&str> {
        self.error.as_deref().or(self.detail.as_deref())
    }
}

#[cfg(test)]
mod tests;
