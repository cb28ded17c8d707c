//! The JSON the management API reports: `GET /api/v1/state` and `GET /api/v1/inference/up/status`.

use serde::Serialize;

/// Progress of the last `inference/up` (upstream names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
}

/// `GET /api/v1/inference/up/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpStatusReport {
    /// Phase of the last up.
    pub status: UpPhase,
    /// `status == in_progress`.
    pub is_starting: bool,
    /// Up completed and at least one engine answers ready.
    pub is_running: bool,
    /// Seconds since the up began (frozen when it ended); `null` before any up.
    pub elapsed_seconds: Option<f64>,
    /// Failure reason of a failed up.
    pub error: Option<String>,
    /// Model of the last up.
    pub model: Option<String>,
}

/// One engine instance in the state report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaReport {
    /// Replica number.
    pub index: usize,
    /// `stopped`, `starting`, `ready` or `failed`.
    pub health: &'static str,
    /// Base URL while ready.
    pub base_url: Option<String>,
    /// Process id (process engines).
    pub pid: Option<u32>,
    /// Restarts after crashes since the up.
    pub restarts: u32,
    /// Requests being proxied to it now.
    pub in_flight: usize,
    /// Its most recent failure reason.
    pub last_error: Option<String>,
}

/// `GET /api/v1/state`: upstream fields (`state`, `version`, `poc_status`,
/// `inference_healthy`, `loaded_model`) plus ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateReport {
    /// `STOPPED`, `INFERENCE`, `POW` or `TRAIN`.
    pub state: &'static str,
    /// Agent version.
    pub version: &'static str,
    /// `GENERATING` while a PoC round runs, else `IDLE`.
    pub poc_status: &'static str,
    /// An engine answers ready.
    pub inference_healthy: bool,
    /// Model loaded or loading.
    pub loaded_model: Option<String>,
    /// Engine kind.
    pub engine: &'static str,
    /// dtype of the loaded model.
    pub dtype: Option<String>,
    /// Process id of the first engine process.
    pub pid: Option<u32>,
    /// Seconds the engines have been ready.
    pub uptime_s: Option<f64>,
    /// Seconds since the agent started.
    pub agent_uptime_s: f64,
    /// Most recent failure reason (start failure, crash, give-up).
    pub last_error: Option<String>,
    /// Phase of the last up.
    pub up_status: UpPhase,
    /// Engine instances.
    pub replicas: Vec<ReplicaReport>,
}
