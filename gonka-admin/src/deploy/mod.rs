//! The deployments API (`/api/v1`): task groups, tasks and model routes over a
//! [`DeploymentStore`], as one axum `Router` for the gateway's admin listener.

mod create;
mod groups;
mod routes;
mod tasks;
mod update;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::routing::{get, post, put};
use axum::{middleware, Router};
use gonka_core::deploy::placement::PlacementNode;
use gonka_core::deploy::DeploymentStore;
use gonka_core::Error;

use crate::error::ApiError;
use crate::AdminOptions;

pub use create::{build, memory_per_gpu, new_tasks, task_request, Created};

/// What placement knows of the fleet's GPUs now (the gateway builds it from its node pool).
/// Creation uses it to refuse a group that fits on no GPU even when every GPU is empty.
pub trait FleetGpus: Send + Sync + std::fmt::Debug {
    /// The nodes with their GPUs; empty when unknown.
    fn nodes(&self) -> Vec<PlacementNode>;

    /// The host (name or address) `node_id` runs on, when known. Engine ports are unique per
    /// host, so nodes sharing one (a devnet, several agents on one server) never get a task
    /// port another of them uses. Default: unknown (ports are then unique per node only).
    fn host_of(&self, node_id: &str) -> Option<String> {
        let _ = node_id;
        None
    }
}

/// What the server knows of its tasks' health now (the gateway's continuous health checks):
/// `GET /api/v1/tasks/{id}` shows it in `health`.
pub trait TaskHealthSource: Send + Sync + std::fmt::Debug {
    /// The health of task `task_id`, when it was checked.
    fn task_health(&self, task_id: &str) -> Option<gonka_core::deploy::TaskHealth>;
}

/// Shared state of the deployments API.
#[derive(Clone, Debug)]
pub(crate) struct DeployState {
    pub store: Arc<dyn DeploymentStore>,
    pub fleet: Option<Arc<dyn FleetGpus>>,
    pub health: Option<Arc<dyn TaskHealthSource>>,
}

/// The deployments API over `store`:
///
/// | route | what |
/// |---|---|
/// | `GET, POST /api/v1/task-groups` | list; create (201 with the group, tasks, route, endpoint and its `api_key`, shown once) |
/// | `GET, DELETE /api/v1/task-groups/{id}` | one group with its tasks; delete (completed or failed groups only, else 409) |
/// | `PUT /api/v1/task-groups/{id}/scale` | `{"replicas": n}` within min/max |
/// | `PUT /api/v1/task-groups/{id}/scale-policy` | `{"auto_scale", "min_replicas", "max_replicas", "scale_policy"}` |
/// | `PUT /api/v1/task-groups/{id}/update` | `{"model_path"?, "engine"?, "engine_args"?, "dtype"?, "context_length"?, "version"?, "strategy": "rolling" \| "recreate"}`: 202, the driver replaces the tasks; 409 while an update runs |
/// | `PUT /api/v1/task-groups/{id}/schedule-window` | `{"start": "HH:MM", "end": "HH:MM"}` or `null` |
/// | `GET /api/v1/tasks?group=&node=&status=` | tasks |
/// | `GET /api/v1/tasks/{id}`; `POST .../sleep`, `/wake`, `/stop`, `/retry` | one task; its moves (illegal ones answer 409 naming both states) |
/// | `GET, POST /api/v1/model-routes`, `GET, PUT, DELETE /api/v1/model-routes/{id}` | model routes |
///
/// Protection as the admin API: `options.sites` (cross-site refusal), `options.token` (bearer),
/// `options.body_limit`. Errors are JSON `{"error": ...}` (400s add `fields`).
pub fn deploy_router(
    store: Arc<dyn DeploymentStore>,
    fleet: Option<Arc<dyn FleetGpus>>,
    options: &AdminOptions,
) -> Router {
    deploy_router_with_health(store, fleet, None, options)
}

/// [`deploy_router`] whose `GET /api/v1/tasks/{id}` also answers the task's `health` from
/// `health` (absent when the task was not checked).
pub fn deploy_router_with_health(
    store: Arc<dyn DeploymentStore>,
    fleet: Option<Arc<dyn FleetGpus>>,
    health: Option<Arc<dyn TaskHealthSource>>,
    options: &AdminOptions,
) -> Router {
    let state = DeployState {
        store,
        fleet,
        health,
    };
    let routes = Router::new()
        .route(
            "/api/v1/task-groups",
            get(groups::list).post(groups::create),
        )
        .route(
            "/api/v1/task-groups/{id}",
            get(groups::get).delete(groups::delete),
        )
        .route("/api/v1/task-groups/{id}/scale", put(groups::scale))
        .route("/api/v1/task-groups/{id}/update", put(update::update))
        .route(
            "/api/v1/task-groups/{id}/scale-policy",
            put(groups::scale_policy),
        )
        .route(
            "/api/v1/task-groups/{id}/schedule-window",
            put(groups::schedule_window),
        )
        .route("/api/v1/tasks", get(tasks::list))
        .route("/api/v1/tasks/{id}", get(tasks::get))
        .route("/api/v1/tasks/{id}/{action}", post(tasks::act))
        .route(
            "/api/v1/model-routes",
            get(routes::list).post(routes::create),
        )
        .route(
            "/api/v1/model-routes/{id}",
            get(routes::get).put(routes::put).delete(routes::delete),
        )
        .layer(DefaultBodyLimit::max(options.body_limit))
        .with_state(state);
    let routes = match options.token.clone().filter(|t| !t.is_empty()) {
        Some(token) => routes.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            crate::auth::require_token,
        )),
        None => routes,
    };
    routes.layer(middleware::from_fn_with_state(
        Arc::new(options.sites.clone()),
        crate::cross_site::refuse_cross_site,
    ))
}

/// Parses a JSON body (415 without a JSON `Content-Type`, 400 naming the problem otherwise).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    crate::extract::check_content_type(headers.get(header::CONTENT_TYPE))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected JSON".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

/// Store errors as answers: state conflicts are 409, the rest as the admin API maps them.
pub(crate) fn store_error(e: Error) -> ApiError {
    match e {
        Error::Conflict(f) if f.field == "status" || f.field == "name" => {
            ApiError::Conflict(f.message)
        }
        other => ApiError::Core(other),
    }
}

/// Now, in Unix nanoseconds.
pub(crate) fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(now_ns() / 1_000_000).unwrap_or(u64::MAX)
}
