//! Refusing browsers on the PoC callback listener: ML nodes post artifacts there, a web page
//! has no reason to. A request carrying an `Origin` header (every cross-site `POST` a browser
//! sends has one) is answered 403 naming the origin. The admin listener has its own, fuller
//! policy (`gonka_admin::AdminOptions::sites`, `GatewayConfig::admin_sites`).

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::cross_site::SitePolicy;

/// Middleware: 403 `{"error": ...}` for a request with an `Origin` header, before any handler.
pub async fn refuse_browsers(request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match SitePolicy::no_browsers().check(None, origin.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, path = %request.uri().path(), "PoC request refused");
            (
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({"error": e.to_string()})),
            )
                .into_response()
        }
    }
}
