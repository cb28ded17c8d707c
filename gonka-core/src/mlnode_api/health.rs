//! The management port's `/health` (`/livez`) and `/readyz` answers, in upstream's shapes
//! (`api.health`).

use serde::{Deserialize, Serialize};

use super::GpuDevice;

/// `GET /health`: `{status: healthy|unhealthy, service_state, gpu, managers}`. Decoding is
/// lenient: every field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthReport {
    /// `healthy` or `unhealthy` (then the answer is 503).
    pub status: String,
    /// `STOPPED`, `INFERENCE`, `POW` or `TRAIN`, as `/api/v1/state` reports it.
    pub service_state: String,
    /// The GPUs found.
    pub gpu: GpuHealth,
    /// The services and their health.
    pub managers: ManagersHealth,
}

/// The `gpu` part of [`HealthReport`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuHealth {
    /// At least one GPU could be queried.
    pub available: bool,
    /// `devices.len()`.
    pub count: usize,
    /// The devices, as `GET /api/v1/gpu/devices` lists them.
    pub devices: Vec<GpuDevice>,
}

/// One service of [`ManagersHealth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagerHealth {
    /// The service runs.
    pub running: bool,
    /// It has not failed.
    pub healthy: bool,
}

/// The `managers` part of [`HealthReport`]: `pow`, `inference` and `train`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagersHealth {
    /// Proof-of-Compute generation.
    pub pow: ManagerHealth,
    /// The inference engines.
    pub inference: ManagerHealth,
    /// Training (never runs on gonka-mlnode).
    pub train: ManagerHealth,
}

/// `GET /readyz`: `{ready, reason}`, 503 when not ready.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Readiness {
    /// The node can take traffic for its current state: its engine serves, or it is idle on
    /// purpose (no model requested, stopped, running PoC without an engine).
    pub ready: bool,
    /// Why: `serving`, `idle`, `poc`, or what keeps it from being ready (loading, the engine's
    /// failure). Absent in upstream's answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
