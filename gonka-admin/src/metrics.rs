//! [`with_metrics`]: the admin binary's Prometheus metrics at `GET /metrics`: requests by
//! method, route and status, their latency, and `gonka_build_info`. Names are listed in
//! `docs/observability.md`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `gonka_admin_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The matched route (`/admin/v1/nodes/{id}`), `unmatched` for unknown paths.
    route: String,
    status: String,
}

/// A `route` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

/// Labels of `gonka_build_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    binary: String,
    version: String,
}

type Histograms = Family<RouteLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~33 s: admin calls are database round trips; a batch of 10,000 nodes takes seconds.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The admin API's metrics.
#[derive(Debug)]
pub struct AdminMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms,
}

impl Default for AdminMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AdminMetrics {
    /// A fresh set: `gonka_admin_*` and `gonka_build_info`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                binary: "gonka-admin".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register(
            "gonka_build_info",
            "Always 1; the labels name the binary and its version",
            build,
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: Histograms = Family::new_with_constructor(latency_histogram);
        let sub = registry.sub_registry_with_prefix("gonka_admin");
        sub.register(
            "requests",
            "Admin API requests by method, route and status",
            requests.clone(),
        );
        sub.register(
            "request_duration_seconds",
            "Time to answer an admin API request, by route",
            duration.clone(),
        );
        Self {
            registry,
            requests,
            duration,
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Everything in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("failed to encode metrics");
        }
        out
    }
}

/// `app` plus `GET /metrics` (behind `token` when one is given: Prometheus sends it as its
/// `authorization` credentials), with every request of `app` counted and timed.
pub fn with_metrics(app: Router, token: Option<&str>) -> Router {
    let metrics = Arc::new(AdminMetrics::new());
    let route = Router::new()
        .route("/metrics", get(render))
        .with_state(Arc::clone(&metrics));
    let route = match token.filter(|t| !t.is_empty()) {
        Some(t) => route.layer(middleware::from_fn_with_state(
            Arc::<str>::from(t),
            crate::auth::require_token,
        )),
        None => route,
    };
    app.merge(route)
        .layer(middleware::from_fn_with_state(metrics, count_requests))
}

async fn render(State(metrics): State<Arc<AdminMetrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

async fn count_requests(
    State(metrics): State<Arc<AdminMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
