//! The trace and analytics JSON APIs on the admin listener (docs/traces.md):
//!
//! | route | answer |
//! |---|---|
//! | `GET /dashboard/api/traces?limit=&model=&node_id=&status=&minutes=` | `{"traces": [...]}`, newest first |
//! | `GET /dashboard/api/performance?minutes=` | `{"rows": [...]}` per node and model |
//! | `GET /dashboard/api/usage?minutes=` | `{"keys": [...]}` per API key and app tag |
//! | `GET /dashboard/api/trends?minutes=&bucket_seconds=` | `{"buckets": [...]}` oldest first |
//! | `GET /dashboard/api/health?minutes=` | `{"nodes": [...], "recommendations": [...]}` |
//! | `GET /dashboard/api/recommendations?minutes=` | `{"recommendations": [...]}` |
//!
//! Behind the admin token and the cross-site refusal ([`crate::admin::protect`]). A parameter
//! given empty counts as not given; an unknown parameter or a bad value answers 400
//! `{"error": ...}` naming it. With traces off the trace-based routes answer 503.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use gonka_core::traces::{
    now_ms, trend_buckets, TraceQuery, TraceStatus, TraceStore, MAX_TREND_SAMPLES,
};
use serde_json::json;

use crate::metrics::Metrics;
use crate::pool::NodePool;
use crate::GatewayConfig;

/// Most traces one `/dashboard/api/traces` call returns.
pub const MAX_LIMIT: u64 = 1000;
/// Longest window of the aggregate routes, in minutes (7 days).
pub const MAX_MINUTES: u64 = 7 * 24 * 60;
/// Longest window of `/dashboard/api/trends`, in minutes (1 day).
pub const MAX_TREND_MINUTES: u64 = 24 * 60;
/// Most buckets one `/dashboard/api/trends` call returns.
pub const MAX_BUCKETS: u64 = 1440;

/// What the routes read.
#[derive(Debug, Clone)]
pub struct TraceApiState {
    /// The trace store; `None` when traces are off.
    pub store: Option<Arc<dyn TraceStore>>,
    /// The live node view (for health).
    pub pool: Arc<NodePool>,
    /// The gateway's metrics (the dropped-traces count).
    pub metrics: Arc<Metrics>,
}

/// The routes of this module (no fallback: merge them into the admin router), behind the
/// admin listener's protection.
pub fn router(state: TraceApiState, config: &GatewayConfig) -> Router {
    let routes = Router::new()
        .route("/dashboard/api/traces", get(traces))
        .route("/dashboard/api/performance", get(performance))
        .route("/dashboard/api/usage", get(usage))
        .route("/dashboard/api/trends", get(trends))
        .route("/dashboard/api/health", get(health))
        .route("/dashboard/api/recommendations", get(recommendations))
        .with_state(state)
        .layer(middleware::map_response(no_store));
    crate::admin::protect(routes, config)
}

/// Answers change every second: never cached.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An answer other than 200: its status and the `{"error": ...}` message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn bad_request(message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

fn unavailable(e: &gonka_core::Error) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("trace store unavailable: {e}"),
    }
}

type RawParams = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// A request's query parameters, checked against the names a route takes.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: RawParams, known: &[&str]) -> Result<Self, ApiError> {
        let Query(pairs) =
            raw.map_err(|e| bad_request(format!("malformed query string: {}", e.body_text())))?;
        for (name, _) in &pairs {
            if !known.contains(&name.as_str()) {
                return Err(bad_request(format!(
                    "unknown query parameter `{name}`; expected {}",
                    known.join(", ")
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// The last non-empty value of `name`.
    fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, v)| n == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// `name` as a whole number in `min..=max`, `default` when not given.
    fn number(&self, name: &str, min: u64, max: u64, default: u64) -> Result<u64, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad_request(format!(
                "query parameter `{name}` must be a whole number from {min} to {max}, got {text:?}"
            ))),
        }
    }

    /// The window start of `minutes` (Unix ms).
    fn since(&self, default_minutes: u64) -> Result<(u64, i64), ApiError> {
        let minutes = self.number("minutes", 1, MAX_MINUTES, default_minutes)?;
        Ok((minutes, now_ms() - minutes as i64 * 60_000))
    }
}

fn store(state: &TraceApiState) -> Result<&Arc<dyn TraceStore>, ApiError> {
    state.store.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "request traces are off (--traces off)".to_owned(),
    })
}

type Answer = Result<Json<serde_json::Value>, ApiError>;

async fn traces(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let p = Params::parse(raw, &["limit", "model", "node_id", "status", "minutes"])?;
    let limit = p.number("limit", 1, MAX_LIMIT, 100)?;
    let status = match p.text("status") {
        None => None,
        Some(s) => Some(TraceStatus::parse(s).ok_or_else(|| {
            bad_request(format!(
                "query parameter `status` must be one of completed, failed, rejected, \
                 cancelled, got {s:?}"
            ))
        })?),
    };
    let since_ms = match p.text("minutes") {
        None => None,
        Some(_) => Some(p.since(0)?.1),
    };
    let query = TraceQuery {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        model: p.text("model").map(str::to_owned),
        node_id: p.text("node_id").map(str::to_owned),
        status,
        since_ms,
    };
    let rows = store(&state)?
        .query(&query)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Json(json!({ "traces": rows })))
}

async fn performance(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let p = Params::parse(raw, &["minutes"])?;
    let (minutes, since) = p.since(24 * 60)?;
    let rows = store(&state)?
        .performance(since)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Json(json!({ "rows": rows, "minutes": minutes })))
}

async fn usage(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let p = Params::parse(raw, &["minutes"])?;
    let (minutes, since) = p.since(24 * 60)?;
    let rows = store(&state)?
        .usage(since)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Json(json!({ "keys": rows, "minutes": minutes })))
}

async fn trends(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let p = Params::parse(raw, &["minutes", "bucket_seconds"])?;
    let minutes = p.number("minutes", 1, MAX_TREND_MINUTES, 60)?;
    let bucket_seconds = p.number("bucket_seconds", 1, 3600, 60)?;
    let buckets = (minutes * 60).div_ceil(bucket_seconds);
    if buckets > MAX_BUCKETS {
        return Err(bad_request(format!(
            "query parameter `bucket_seconds` {bucket_seconds} cuts {minutes} minutes into \
             {buckets} buckets; at most {MAX_BUCKETS}: use a larger bucket"
        )));
    }
    let bucket_ms = bucket_seconds as i64 * 1000;
    // Buckets aligned on their size; the last one holds now.
    let end = (now_ms() / bucket_ms + 1) * bucket_ms;
    let start = end - buckets as i64 * bucket_ms;
    let samples = store(&state)?
        .trend_samples(start, MAX_TREND_SAMPLES)
        .await
        .map_err(|e| unavailable(&e))?;
    let out = trend_buckets(&samples, start, end, bucket_ms);
    Ok(Json(json!({
        "buckets": out,
        "minutes": minutes,
        "bucket_seconds": bucket_seconds,
        "truncated": samples.len() >= MAX_TREND_SAMPLES,
    })))
}

type Assessment = (
    Vec<super::health::NodeHealth>,
    Vec<super::health::Recommendation>,
);

/// The health assessment of the window `minutes` (default 60).
async fn assess(state: &TraceApiState, raw: RawParams) -> Result<Assessment, ApiError> {
    let p = Params::parse(raw, &["minutes"])?;
    let (_, since) = p.since(60)?;
    let perf = match &state.store {
        Some(s) => s.performance(since).await.map_err(|e| unavailable(&e))?,
        None => Vec::new(),
    };
    Ok(super::health::assess(
        &state.pool.snapshot(),
        &perf,
        state.metrics.traces_dropped.get(),
        state.store.is_some(),
    ))
}

async fn health(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let (nodes, recommendations) = assess(&state, raw).await?;
    Ok(Json(
        json!({ "nodes": nodes, "recommendations": recommendations }),
    ))
}

async fn recommendations(State(state): State<TraceApiState>, raw: RawParams) -> Answer {
    let (_, recommendations) = assess(&state, raw).await?;
    Ok(Json(json!({ "recommendations": recommendations })))
}
