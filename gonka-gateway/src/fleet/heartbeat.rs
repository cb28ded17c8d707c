//! `POST /fleet/nodes/{id}/heartbeat`: an agent's heartbeat. The body is the agent's
//! `GET /api/v1/state` report, taken exactly as a passed health check's
//! ([`crate::health::observation_of`]); the node stays routable for
//! `heartbeat_misses × interval_ms` unless another heartbeat (or a health check) follows.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use gonka_core::mlnode_api::StateReport;
use serde::Deserialize;

use super::{Fleet, FleetError, DEFAULT_HEARTBEAT_INTERVAL};
use crate::pool::NodeSource;

/// Query of a heartbeat: the agent's interval and how it found the gateway.
#[derive(Debug, Deserialize)]
pub(super) struct HeartbeatQuery {
    /// The agent's heartbeat interval in ms (default 5000); at least 10.
    interval_ms: Option<u64>,
    /// `mdns` when the agent found the gateway by mDNS; anything else (or nothing): `heartbeat`.
    source: Option<String>,
}

pub(super) async fn heartbeat(
    State(fleet): State<Arc<Fleet>>,
    Path(id): Path<String>,
    Query(query): Query<HeartbeatQuery>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, FleetError> {
    let state: StateReport = serde_json::from_slice(&body).map_err(|e| {
        FleetError::new(
            StatusCode::BAD_REQUEST,
            format!("a heartbeat's body is the agent's /api/v1/state report (JSON with at least \"state\"): {e}"),
        )
    })?;
    let interval = query
        .interval_ms
        .map(|ms| Duration::from_millis(ms.max(10)))
        .unwrap_or(DEFAULT_HEARTBEAT_INTERVAL);
    let ttl = interval.saturating_mul(fleet.settings.heartbeat_misses.max(1));
    let source = match query.source.as_deref() {
        Some("mdns") => NodeSource::Mdns,
        _ => NodeSource::Heartbeat,
    };
    let observation = crate::health::observation_of(&state);
    let passed = observation.passed;
    if !fleet.pool.heartbeat(&id, observation, ttl, source) {
        return Err(FleetError::new(
            StatusCode::NOT_FOUND,
            format!("unknown node {id:?}: register it through the admin API first (POST /admin/v1/nodes)"),
        ));
    }
    Ok(Json(serde_json::json!({
        "status": "ok",
        "node_id": id,
        "passed": passed,
        "expires_in_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    })))
}
