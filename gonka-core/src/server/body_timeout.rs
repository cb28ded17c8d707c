//! The request body read timeout of [`super::serve`]: each request body is wrapped in
//! `tower_http`'s `TimeoutBody` (the body fails when no part of it arrives for the timeout), and
//! a request whose body failed that way is answered `408 Request Timeout` with `Connection: close`
//! and an OpenAI-shaped JSON body, whatever the handler made of the read error (axum's extractors
//! turn any body error into 400).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::timeout::{TimeoutBody, TimeoutError};

use super::openai_error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails after `timeout` without a frame and then raises `timed_out`.
struct FlaggedTimeoutBody {
    inner: Pin<Box<TimeoutBody<Body>>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for FlaggedTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Err(e))) = &polled {
            if e.is::<TimeoutError>() {
                self.timed_out.store(true, Ordering::Release);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware (`axum::middleware::from_fn_with_state` with the timeout as state): times the
/// request body and turns the response of a request whose body paused past the timeout into 408.
pub(crate) async fn request_body_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&timed_out);
    let request = request.map(|body| {
        Body::new(FlaggedTimeoutBody {
            inner: Box::pin(TimeoutBody::new(timeout, body)),
            timed_out: flag,
        })
    });
    let response = next.run(request).await;
    if !timed_out.load(Ordering::Acquire) {
        return response;
    }
    let mut response = openai_error(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request_error",
        "request_timeout",
        &format!(
            "the request body paused for more than {} s",
            timeout.as_secs_f64()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
