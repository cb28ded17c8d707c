//! The admin API of seed 000 inside your own axum application.
//!
//! `gonka_admin::router` is a plain axum `Router`: merge it next to your own routes (as here) or
//! `nest` it under a prefix. It brings its own JSON 404 fallback, so the router you merge it
//! into must not have a fallback of its own.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use gonka_admin::AdminOptions;
use gonka_core::NodeRegistry;

/// Your service: `GET /hello` plus every `/admin/v1/nodes...` call over `registry`.
pub fn app(registry: Arc<dyn NodeRegistry>) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .merge(gonka_admin::router(registry, AdminOptions::default()))
}

async fn hello() -> &'static str {
    "hello from my service\n"
}
