//! The request body read timeout of [`super::serve`] ([`Served`]): each request body is wrapped in
//! a timeout body (the body fails when no part of it arrives for the timeout), and
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

use super::openai_error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error of a request body that paused for longer than the read timeout.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body paused for longer than the read timeout")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body that fails after `timeout` without a frame and then raises `timed_out`.
///
/// The timer runs only while the body waits for its next frame: a body that is already there
/// (most requests: it came with the head) is read without arming a timer at all. The timer is
/// allocated once per request that waits, and reset for each later wait.
///
/// It keeps the wrapped body's size hint (what remains of the `Content-Length`), so a handler
/// that budgets memory by the hint does not size every small request as large as its limit.
struct FlaggedTimeoutBody<B> {
    inner: B,
    timeout: Duration,
    /// The timer of the current (or last) wait for a frame.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether `sleep` is armed for the current wait.
    waiting: bool,
    timed_out: Arc<AtomicBool>,
    /// The wrapped body's size hint before any frame was read.
    hint: http_body::SizeHint,
    /// Data bytes read so far.
    read: u64,
}

impl<B: HttpBody> FlaggedTimeoutBody<B> {
    fn new(timeout: Duration, body: B, timed_out: Arc<AtomicBool>) -> Self {
        let hint = body.size_hint();
        Self {
            inner: body,
            timeout,
            sleep: None,
            waiting: false,
            timed_out,
            hint,
            read: 0,
        }
    }
}

impl<B> HttpBody for FlaggedTimeoutBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                if let Some(Ok(frame)) = &frame {
                    if let Some(data) = frame.data_ref() {
                        this.read = this.read.saturating_add(data.len() as u64);
                    }
                }
                return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
            }
            Poll::Pending => {}
        }
        let deadline = tokio::time::Instant::now() + this.timeout;
        let sleep = match &mut this.sleep {
            Some(sleep) => {
                if !this.waiting {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => this
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.waiting = true;
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
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
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
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
        let request = request.map(|body| Body::new(FlaggedTimeoutBody::new(timeout, body, flag)));
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

    fn wrap(body: Body) -> FlaggedTimeoutBody<Body> {
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

    #[tokio::test(start_paused = true)]
    async fn a_body_that_pauses_past_the_timeout_fails_and_raises_the_flag() {
        use futures::StreamExt;
        let flag = Arc::new(AtomicBool::new(false));
        let parts = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"x"))])
            .chain(futures::stream::pending());
        let mut body = FlaggedTimeoutBody::new(
            Duration::from_secs(5),
            Body::from_stream(parts),
            flag.clone(),
        );
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("no error");
        assert_eq!(first.data_ref().map(|d| &d[..]), Some(&b"x"[..]));
        assert!(!flag.load(Ordering::Acquire));
        let waited_from = tokio::time::Instant::now();
        let error = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("an end")
            .expect_err("a timeout");
        assert!(error.to_string().contains("paused"), "{error}");
        assert!(flag.load(Ordering::Acquire));
        // The clock is paused: it moved exactly as far as the timer asked.
        assert_eq!(waited_from.elapsed(), Duration::from_secs(5));
    }
}
