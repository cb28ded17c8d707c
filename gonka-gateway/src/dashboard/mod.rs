//! The web dashboard, served on the admin listener (docs/dashboard.md).
//!
//! - `GET /dashboard` (and `/dashboard/`): the page; `GET /dashboard/assets/{path}`: its
//!   scripts, styles and the vendored chart library ([`assets`]). Plain HTML/CSS/JS embedded in
//!   the binary; no token needed (they hold no data), the page asks for the admin token when an
//!   API answers 401.
//! - The JSON the page reads that no other module serves, behind the admin token:
//!   `GET /dashboard/api/status` (the readiness report with node counts, as the public
//!   listener's `/v1/status`) and `GET /dashboard/api/poc` ([`poc`]).
//!
//! Every route refuses cross-site requests as the admin API does.

pub mod assets;
pub mod poc;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::{middleware, Router};

use crate::handlers::health::{self, ReadinessChecks};
use crate::GatewayConfig;

/// What the dashboard's routes read.
#[derive(Debug, Clone)]
pub struct DashboardState {
    /// The readiness checks behind `/dashboard/api/status`.
    pub readiness: ReadinessChecks,
    /// The PoC view behind `/dashboard/api/poc`.
    pub poc: poc::PocView,
}

/// The dashboard's routes (no fallback: merge them into the admin router): the page and its
/// assets open, the data routes behind the admin token; all behind the admin listener's
/// cross-site refusal ([`crate::admin::protect`]).
pub fn router(state: DashboardState, config: &GatewayConfig) -> Router {
    let data = Router::new()
        .route("/dashboard/api/status", get(health::status))
        .with_state(state.readiness)
        .merge(
            Router::new()
                .route("/dashboard/api/poc", get(poc::poc))
                .with_state(state.poc),
        )
        .layer(middleware::map_response(no_store));
    let page = Router::new()
        .route("/dashboard", get(assets::page))
        .route("/dashboard/", get(assets::page))
        .route("/dashboard/assets/{*path}", get(assets::file));
    crate::admin::refuse_cross_site(
        page.merge(crate::admin::require_admin_token(data, config)),
        config,
    )
}

/// Data answers are never cached (they change every second).
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
