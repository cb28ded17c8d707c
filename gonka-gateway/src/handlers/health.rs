//! Probes of the public listener: `GET /livez` (the process serves), `GET /readyz` (it can route
//! now), `GET /health` (liveness, kept for existing callers) and `GET /v1/status` (the readiness
//! report, always `200`, for people and dashboards).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::server::probe::{self, Readiness};
use gonka_core::NodeRegistry;
use serde_json::{json, Value};

use crate::pool::NodePool;

/// What the gateway's readiness depends on.
#[derive(Clone)]
pub struct ReadinessChecks {
    /// The registry that must answer.
    pub registry: Arc<dyn NodeRegistry>,
    /// The pool whose routable nodes are counted.
    pub pool: Arc<NodePool>,
    /// Ready with zero routable nodes (e.g. a fresh install that nodes join later).
    pub ready_without_nodes: bool,
    /// How long the registry may take to answer.
    pub registry_timeout: Duration,
}

impl std::fmt::Debug for ReadinessChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessChecks")
            .field("ready_without_nodes", &self.ready_without_nodes)
            .field("registry_timeout", &self.registry_timeout)
            .finish_non_exhaustive()
    }
}

impl ReadinessChecks {
    /// Runs the checks: `registry` (its database answers within the timeout) and `nodes` (at
    /// least one node is routable: healthy, admitted, breaker closed, in a serving state —
    /// passes with zero when `ready_without_nodes`).
    pub async fn run(&self) -> Readiness {
        let registry = probe::registry_answers(self.registry.as_ref(), self.registry_timeout).await;
        let routable = self.pool.routable_nodes();
        let nodes = if routable > 0 {
            Ok(format!("{routable} routable"))
        } else if self.ready_without_nodes {
            Ok("0 routable (ready without nodes is set)".to_string())
        } else {
            Err(
                "no routable node: every node is unhealthy, disabled, busy with PoC or absent"
                    .into(),
            )
        };
        Readiness::new()
            .check("registry", registry)
            .check("nodes", nodes)
    }
}

/// `GET /livez` and `GET /health`: `200` while the process serves.
pub async fn health() -> Response {
    probe::livez().await
}

/// `GET /readyz`: `200` when ready, `503` naming the failing checks otherwise.
pub async fn readyz(State(checks): State<ReadinessChecks>) -> Response {
    checks.run().await.into_response()
}

/// `GET /v1/status`: the readiness report with node counts and this replica's place among the
/// live gateway replicas (whose share of each node's `max_concurrent` it enforces), always `200`.
pub async fn status(State(checks): State<ReadinessChecks>) -> Json<Value> {
    let report = checks.run().await;
    let share = checks.pool.replica_share();
    Json(json!({
        "status": if report.is_ready() { "ready" } else { "not ready" },
        "checks": report.checks,
        "nodes": checks.pool.node_count(),
        "routable_nodes": checks.pool.routable_nodes(),
        "in_flight": checks.pool.in_flight(),
        "replica": {
            "rank": share.rank,
            "live_replicas": share.replicas,
        },
    }))
}
