//! Middleware refusing requests a web page could have sent: a foreign `Origin` or an
//! unexpected `Host` (DNS rebinding), as [`SitePolicy`] says.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gonka_core::cross_site::SitePolicy;

use crate::error::ApiError;

/// Middleware: 403 `{"error": ...}` naming the origin or host when `policy` refuses the request,
/// before any handler runs (so nothing is read or written).
pub async fn refuse_cross_site(
    State(policy): State<Arc<SitePolicy>>,
    request: Request,
    next: Next,
) -> Response {
    match check(&policy, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, path = %request.uri().path(), "admin request refused");
            ApiError::Forbidden(e.to_string()).into_response()
        }
    }
}

/// Checks `request`'s `Host` (or its URI authority, as HTTP/2 sends it) and `Origin`.
pub(crate) fn check(
    policy: &SitePolicy,
    request: &Request,
) -> Result<(), gonka_core::cross_site::CrossSiteRefusal> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    policy.check(host.as_deref(), origin.as_deref())
}
