//! `GET /metrics`: Prometheus text exposition, and who may read it ([`MetricsAccess`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;
use crate::server::AppState;

/// Every gateway metric in the OpenMetrics text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state.proxy.pool()),
    )
}

/// Middleware state: the bearer token `/metrics` requires.
#[derive(Clone)]
pub struct MetricsToken(pub Arc<str>);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// Middleware: 401 unless `Authorization: Bearer <metrics token>`.
pub async fn require_metrics_token(
    State(token): State<MetricsToken>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.0.as_bytes()) => next.run(request).await,
        _ => GatewayError::Unauthorized(
            "metrics need the metrics token: send it as `Authorization: Bearer <token>`".into(),
        )
        .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
