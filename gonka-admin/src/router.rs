//! [`router`]: every admin call of seed 000 as one axum `Router`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};
use gonka_core::NodeRegistry;

use crate::handlers::{admin_state, batch, fallback, nodes};
use crate::state::AppState;
use crate::AdminOptions;

/// The admin API over `registry`:
///
/// | route | handler |
/// |---|---|
/// | `GET, POST /admin/v1/nodes` | list, create (upsert) |
/// | `POST /admin/v1/nodes/batch` | batch upsert (201 / 206 / 400) |
/// | `GET, PUT, DELETE /admin/v1/nodes/:id` | get, upsert, delete |
/// | `POST /admin/v1/nodes/:id/enable`, `/disable` | admin state |
/// | `GET /admin/v1/openapi.json` | this API's OpenAPI document ([`crate::openapi()`]) |
///
/// Unknown paths answer 404 and wrong methods 405, both JSON. Every call (unknown paths
/// included) whose `Host` or `Origin` `options.sites` refuses answers 403 before anything else,
/// and bodies without `Content-Type: application/json` answer 415. When `options.token` is set
/// every call needs `Authorization: Bearer <token>`. Bodies above
/// `options.body_limit` answer 413; large bodies beyond `options.body_budget` in flight wait,
/// then answer 503 with `Retry-After`. The router has a fallback: embed it with `Router::nest` or
/// `Router::merge` into a router without one.
pub fn router(registry: Arc<dyn NodeRegistry>, options: AdminOptions) -> Router {
    let body_limit = options.body_limit;
    let budget = crate::budget::BodyBudget::new(options.body_budget, body_limit);
    let token = options.token.clone().filter(|t| !t.is_empty());
    let sites = Arc::new(options.sites.clone());
    let state = AppState {
        registry,
        options: Arc::new(options),
    };
    let routes = Router::new()
        .route("/admin/v1/nodes", get(nodes::list).post(nodes::create))
        .route("/admin/v1/nodes/batch", post(batch::batch))
        .route(
            "/admin/v1/nodes/{id}",
            get(nodes::get).put(nodes::put).delete(nodes::delete),
        )
        .route("/admin/v1/nodes/{id}/enable", post(admin_state::enable))
        .route("/admin/v1/nodes/{id}/disable", post(admin_state::disable))
        .route("/admin/v1/openapi.json", get(crate::openapi::document))
        .fallback(fallback::no_route)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            budget,
            crate::budget::limit_large_bodies,
        ));
    let routes = match token {
        Some(token) => routes.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            crate::auth::require_token,
        )),
        None => routes,
    };
    routes.layer(middleware::from_fn_with_state(
        sites,
        crate::cross_site::refuse_cross_site,
    ))
}
