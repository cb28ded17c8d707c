//! [`limit_large_bodies`]: a budget of large request bodies in flight, so concurrent large
//! batches cannot exhaust the process's memory (each takes many times its size once parsed).

use std::sync::Arc;
use std::time::Duration;

use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::options::SMALL_BODY;

/// Longest a request with a large body waits for the body budget before it answers 503.
pub const BODY_BUDGET_WAIT: Duration = Duration::from_secs(5);

/// The bytes of large bodies that may be in flight, shared by every request of one router.
#[derive(Debug, Clone)]
pub(crate) struct BodyBudget {
    permits: Arc<Semaphore>,
    /// The budget in bytes (also the most one request can take).
    total: u32,
    /// The router's body limit: a body of unknown length may be this large.
    body_limit: u64,
}

impl BodyBudget {
    /// A budget of `budget` bytes (at least `body_limit`, at most `u32::MAX`).
    pub(crate) fn new(budget: usize, body_limit: usize) -> Self {
        let total = u32::try_from(budget.max(body_limit)).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            body_limit: u64::try_from(body_limit).unwrap_or(u64::MAX),
        }
    }
}

/// Middleware: a request whose body may exceed [`SMALL_BODY`] (by `Content-Length`, or of unknown
/// length) takes that many bytes of the budget for as long as it is handled; one that does not
/// get them within [`BODY_BUDGET_WAIT`] answers 503 with `Retry-After: 1`. A body declared larger
/// than the body limit passes through to its 413 without taking any budget.
pub(crate) async fn limit_large_bodies(
    State(budget): State<BodyBudget>,
    request: Request,
    next: Next,
) -> Response {
    let size = request.body().size_hint();
    let needed = size.exact().unwrap_or(budget.body_limit);
    if needed <= SMALL_BODY as u64 || needed > budget.body_limit {
        return next.run(request).await;
    }
    let needed = u32::try_from(needed).unwrap_or(u32::MAX).min(budget.total);
    let acquire = Arc::clone(&budget.permits).acquire_many_owned(needed);
    match tokio::time::timeout(BODY_BUDGET_WAIT, acquire).await {
        Ok(Ok(_permit)) => next.run(request).await,
        _ => {
            tracing::warn!(
                body_bytes = needed,
                budget_bytes = budget.total,
                "large request body refused: the body budget is taken"
            );
            ApiError::Overloaded(format!(
                "the admin API is already handling {} bytes of large request bodies, its budget; \
                 retry in a moment (Retry-After)",
                budget.total
            ))
            .into_response()
        }
    }
}
