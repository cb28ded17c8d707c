//! [`probe_router`]: `GET /livez` and `GET /readyz` of the admin binary.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gonka_core::server::probe::{self, Readiness, REGISTRY_CHECK_TIMEOUT};
use gonka_core::NodeRegistry;

/// Kubernetes-style probes over `registry`: `/livez` answers 200 while the process serves;
/// `/readyz` answers 200 when the registry's database answers within
/// [`REGISTRY_CHECK_TIMEOUT`], else 503 with `Retry-After` and the reason in
/// `{"status":"not ready","checks":{"registry":{"ok":false,"detail":...}}}`.
///
/// They need no token and no allowed `Host` (a kubelet probes by pod IP) and disclose nothing
/// but whether the database answers. Merge it beside [`router`](crate::router), which has the
/// fallback.
pub fn probe_router(registry: Arc<dyn NodeRegistry>) -> Router {
    Router::new()
        .route("/livez", get(probe::livez))
        .route("/readyz", get(readyz))
        .with_state(registry)
}

async fn readyz(State(registry): State<Arc<dyn NodeRegistry>>) -> Response {
    let answers = probe::registry_answers(registry.as_ref(), REGISTRY_CHECK_TIMEOUT).await;
    Readiness::new().check("registry", answers).into_response()
}
