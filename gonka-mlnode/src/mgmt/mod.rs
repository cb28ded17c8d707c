//! The management API (default `0.0.0.0:8080`), compatible with Gonka's ML node API: health
//! probes, `/api/v1/state`, inference up/down/stop, engine logs, GPU devices, local models and
//! their download from the Hugging Face hub; and the engine instances of deployment tasks
//! (`/api/v1/tasks`, see [`crate::tasks`]).
//!
//! With a token configured, every `/api/*` call needs `Authorization: Bearer <token>` (401
//! otherwise); the health probes stay open. A request carrying an `Origin` header (a web page;
//! the network node and the gateway send none) is refused with 403 on every route, so a page
//! cannot drive the node cross-site or through DNS rebinding. Bodies need no `Content-Type`
//! (upstream's network node sends none).

mod error;
mod inference;
mod info;
mod tasks;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use gonka_core::mlnode_api::paths;

pub use error::ApiError;

use crate::agent::Agent;

/// The management routes on `agent`, each also under upstream's `/{version}` prefix
/// (e.g. `/v3.0.8/api/v1/state`, see [`crate::version_prefix`]).
pub fn router(agent: Arc<Agent>) -> Router {
    let token = agent.config().token.clone().map(Arc::<str>::from);
    let api = Router::new()
        .route(paths::STATE, get(info::state))
        .route(paths::INFERENCE_UP, post(inference::up))
        .route(paths::INFERENCE_UP_ASYNC, post(inference::up_async))
        .route(paths::INFERENCE_UP_STATUS, get(inference::up_status))
        .route(paths::INFERENCE_DOWN, post(inference::down))
        .route(paths::INFERENCE_LOGS, get(inference::logs))
        .route(paths::GPU_DEVICES, get(info::gpu_devices))
        .route(paths::GPU_DRIVER, get(info::gpu_driver))
        .route(paths::TASKS, get(tasks::list))
        .route(
            paths::TASK,
            get(tasks::get_one).put(tasks::put).delete(tasks::delete),
        )
        .route(paths::TASK_SLEEP, post(tasks::sleep))
        .route(paths::TASK_WAKE, post(tasks::wake))
        .merge(crate::models::routes(models_state(agent.config())))
        .merge(crate::poc::routes())
        .route_layer(middleware::from_fn_with_state(token, require_token));
    let app = Router::new()
        .route(paths::HEALTH, get(info::health))
        .route(paths::LIVEZ, get(gonka_core::server::probe::livez))
        .route(paths::READYZ, get(info::readyz))
        .route("/metrics", get(info::metrics))
        .merge(api)
        .route_layer(middleware::from_fn_with_state(
            crate::metrics::Counted {
                metrics: Arc::clone(agent.metrics()),
                listener: "management",
            },
            crate::metrics::count_requests,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(
            agent.config().max_body_bytes,
        ))
        .with_state(agent)
        .layer(middleware::from_fn(refuse_browsers));
    crate::version_prefix::accept_version_prefix(app)
}

fn models_state(config: &crate::MlNodeConfig) -> crate::models::ModelsState {
    let dir = config
        .models_dir
        .clone()
        .unwrap_or_else(crate::models::default_cache_dir);
    crate::models::ModelsState {
        manager: crate::models::ModelManager::new(
            crate::models::HubCache::new(dir),
            config.hub.clone(),
        ),
        gguf_files: config.model_files.clone(),
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "no such endpoint: {} {}",
            request.method(),
            request.uri().path()
        ),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    }
}

/// Middleware: 403 naming the origin for any request with an `Origin` header
/// ([`gonka_core::cross_site::SitePolicy::no_browsers`]).
async fn refuse_browsers(request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match gonka_core::cross_site::SitePolicy::no_browsers().check(None, origin.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, path = %request.uri().path(), "management request refused");
            ApiError {
                status: StatusCode::FORBIDDEN,
                message: e.to_string(),
            }
            .into_response()
        }
    }
}

async fn require_token(
    State(token): State<Option<Arc<str>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError {
                status: StatusCode::UNAUTHORIZED,
                message: "missing or wrong bearer token (Authorization: Bearer <token>)".into(),
            }
            .into_response();
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
