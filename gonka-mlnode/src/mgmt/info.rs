//! Read-only endpoints: health probes, state and GPUs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::mlnode_api::{
    GpuHealth, HealthReport, ManagerHealth, ManagersHealth, Readiness, UpPhase,
};

use super::error::ApiError;
use crate::agent::{Agent, StateReport};
use crate::gpu::{self, DriverInfo, GpuReport};

/// `GET /health` and `GET /livez`: upstream's `{status, service_state, gpu, managers}`,
/// `503` with `status: unhealthy` when a running service has failed. Unlike upstream, a
/// missing GPU does not make the node unhealthy (the simulator and llama.cpp run on CPU), and
/// an engine that is still loading counts as healthy (not failed): `inference_healthy` in
/// `/api/v1/state` says whether it serves.
pub(crate) async fn health(State(agent): State<Arc<Agent>>) -> Response {
    let state = agent.state().await;
    let gpus = agent.gpu_report().await;
    let report = health_report(&state, gpus);
    let code = if report.status == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report)).into_response()
}

/// The health of the services `state` describes, with the GPUs `gpus`.
fn health_report(state: &StateReport, gpus: GpuReport) -> HealthReport {
    let inference_running = state.state == "INFERENCE";
    let loading = state.up_status == Some(UpPhase::InProgress);
    let inference = ManagerHealth {
        running: inference_running,
        healthy: !inference_running || state.inference_healthy == Some(true) || loading,
    };
    let pow = ManagerHealth {
        running: state.state == "POW" || !matches!(state.poc_status.as_str(), "" | "IDLE"),
        healthy: true,
    };
    let healthy = inference.healthy && pow.healthy;
    HealthReport {
        status: if healthy { "healthy" } else { "unhealthy" }.to_owned(),
        service_state: state.state.clone(),
        gpu: GpuHealth {
            available: gpus.devices.iter().any(|d| d.is_available),
            count: gpus.count,
            devices: gpus.devices,
        },
        managers: ManagersHealth {
            pow,
            inference,
            train: ManagerHealth {
                running: false,
                healthy: true,
            },
        },
    }
}

/// `GET /readyz`: `{ready, reason}`; `200` while the engine serves or the node is idle on
/// purpose (no up since start, stopped by a down, PoC without an engine), `503` while an engine
/// loads, while no engine answers, or after an up failed (the engine died or never served):
/// Kubernetes takes the node out of rotation until it serves again.
pub(crate) async fn readyz(State(agent): State<Arc<Agent>>) -> Response {
    let readiness = readiness(&agent.state().await);
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness)).into_response()
}

/// Readiness of the node whose state is `state`.
fn readiness(state: &StateReport) -> Readiness {
    let (ready, reason) = match (state.state.as_str(), state.up_status) {
        ("INFERENCE", _) if state.inference_healthy == Some(true) => (true, "serving".to_owned()),
        ("INFERENCE", Some(UpPhase::InProgress)) => (false, "engine loading".to_owned()),
        ("INFERENCE", _) => (false, "engine not answering".to_owned()),
        (_, Some(UpPhase::Failed)) => (
            false,
            match &state.last_error {
                Some(e) => format!("engine failed: {e}"),
                None => "engine failed".to_owned(),
            },
        ),
        ("POW", _) => (true, "poc".to_owned()),
        _ => (true, "idle".to_owned()),
    };
    Readiness {
        ready,
        reason: Some(reason),
    }
}

/// `GET /metrics`: the node's metrics, then the engine's own (from a ready replica, within
/// [`crate::metrics::ENGINE_METRICS_TIMEOUT`]), in the Prometheus text format.
pub(crate) async fn metrics(State(agent): State<Arc<Agent>>) -> Response {
    let state = agent.state().await;
    let pow = agent.poc().status();
    let queued = agent.poc().queue().queued_nonces();
    let mut text = agent.metrics().render(&state, &pow, queued);
    let engine = state
        .replicas
        .iter()
        .find(|r| r.health == gonka_core::mlnode_api::ReplicaHealth::Ready)
        .and_then(|r| r.base_url.clone());
    if let Some(base) = engine {
        if let Some(engine_text) = engine_metrics(&base).await {
            text.push_str(&engine_text);
            if !engine_text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The engine's `GET {base}/metrics` text, when it answers 200 in time.
async fn engine_metrics(base: &str) -> Option<String> {
    let client = crate::http_client();
    let fetch = async {
        let r = client.get(format!("{base}/metrics")).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    };
    match tokio::time::timeout(crate::metrics::ENGINE_METRICS_TIMEOUT, fetch).await {
        Ok(text) => text,
        Err(_) => {
            tracing::debug!(%base, "engine metrics did not answer in time");
            None
        }
    }
}

/// `GET /api/v1/state`.
pub(crate) async fn state(State(agent): State<Arc<Agent>>) -> Json<StateReport> {
    Json(agent.state().await)
}

/// `GET /api/v1/gpu/devices`: the simulated GPUs when the node has some (their utilisation
/// follows the requests in flight, see [`Agent::gpu_report`]), else the host's.
pub(crate) async fn gpu_devices(State(agent): State<Arc<Agent>>) -> Json<GpuReport> {
    Json(agent.gpu_report().await)
}

/// `GET /api/v1/gpu/driver`.
pub(crate) async fn gpu_driver() -> Result<Json<DriverInfo>, ApiError> {
    tokio::task::spawn_blocking(gpu::driver)
        .await
        .map(Json)
        .map_err(|e| internal(format!("GPU driver query failed: {e}")))
}

fn internal(message: String) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message,
    }
}
