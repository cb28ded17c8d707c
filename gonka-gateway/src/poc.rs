//! The PoC callback listener (`--poc-listen`, default :9100). The receiver of PoC artifacts is
//! added by the PoC work; until then the listener answers `/health` and 404 elsewhere.

use axum::routing::get;
use axum::Router;

/// Routes of the PoC callback listener.
pub fn poc_router() -> Router {
    Router::new().route("/health", get(crate::handlers::health::health))
}
