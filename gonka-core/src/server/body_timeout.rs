//! The request body read timeout of [`super::serve`] ([`Served`]): each request body is wrapped in
//! `tower_http`'s `TimeoutBody` (the body fails when no part of it arrives for the timeout), and
//! a request whose body failed that way is answered `408 Request Timeout` with `Connection: close`
//! and an OpenAI-shaped JSON body, whatever the handler made of the read error (axum's extractors
//! turn any body error into 400).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tower_http::timeout::{TimeoutBody, TimeoutError};

use super::openai_error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails after `timeout` without a frame and then raises `timed_out`.
///
/// It keeps the wrapped body's size hint (what remains of the `Content-Length`): `TimeoutBody`
/// reports none, and a handler that budgets memory by the hint would otherwise size every small
/// request as large as its limit.
struct FlaggedTimeoutBody {
    inner: Pin<Box<TimeoutBody<Body>>>,
    timed_out: Arc<AtomicBool>,
    /// The wrapped body's size hint before any frame was read.
    hint: http_body::SizeHint,
    /// Data bytes read so far.
    read: u64,
}

impl FlaggedTimeoutBody {
    fn new(timeout: Duration, body: Body, timed_out: Arc<AtomicBool>) -> Self {
        let hint = body.size_hint();
        Self {
            inner: Box::pin(TimeoutBody::new(timeout, body)),
            timed_out,
            hint,
            read: 0,
        }
    }
}

impl HttpBody for FlaggedTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Err(e))) if e.is::<TimeoutError>() => {
                self.timed_out.store(true, Ordering::Release);
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.read = self.read.saturating_add(data.len() as u64);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(self.hint.lower().saturating_sub(self.read));
        if let Some(upper) = self.hint.upper() {
            hint.set_upper(upper.saturating_sub(self.read));
        }
        hint
    }
}

/// The service [`super::serve`] hands each connection: turns hyper's request body into an axum
/// [`Body`] (timed when a body read timeout is set), calls `inner`, and answers a request whose
/// body paused past the timeout with 408 and `Connection: close`, whatever `inner` answered. Per
/// request it allocates one boxed future, and with a timeout the timed body and its flag.
#[derive(Clone)]
pub(crate) struct Served<S> {
    inner: S,
    body_timeout: Option<Duration>,
}

impl<S> Served<S> {
    pub(crate) fn new(inner: S, body_timeout: Option<Duration>) -> Self {
        Self {
            inner,
            body_timeout,
        }
    }
}

impl<S, B> tower::Service<Request<B>> for Served<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(timeout) = self.body_timeout else {
            let answered = self.inner.call(request.map(Body::new));
            return Box::pin(answered);
        };
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&timed_out);
        let request =
            request.map(|body| Body::new(FlaggedTimeoutBody::new(timeout, Body::new(body), flag)));
        let answered = self.inner.call(request);
        Box::pin(async move {
            let response = answered.await?;
            if !timed_out.load(Ordering::Acquire) {
                return Ok(response);
            }
            Ok(body_timed_out(timeout))
        })
    }
}

/// The 408 answer to a request whose body paused for more than `timeout`.
fn body_timed_out(timeout: Duration) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(body: Body) -> FlaggedTimeoutBody {
        FlaggedTimeoutBody::new(
            Duration::from_secs(5),
            body,
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[tokio::test]
    async fn keeps_the_size_hint_of_the_wrapped_body_minus_what_was_read() {
        let mut body = wrap(Body::from("hello world"));
        assert_eq!(body.size_hint().exact(), Some(11));
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("no error");
        assert_eq!(frame.data_ref().map(|d| d.len()), Some(11));
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[test]
    fn a_body_of_unknown_length_has_no_upper_bound() {
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
        let body = wrap(Body::from_stream(stream));
        assert_eq!(body.size_hint().upper(), None);
        assert_eq!(body.size_hint().lower(), 0);
    }
}
