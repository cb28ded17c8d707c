//! The response body forwarded to the client: upstream data as it arrives (what is already
//! received leaves in one frame, see [`super::coalesce`]), holding the node slot until the body
//! ends or the client goes away (which drops the upstream request).
//!
//! A stream (SSE, NDJSON) is passed on in whole events ([`Events`]); when the node breaks it off
//! (its connection dies, or it sends nothing for the idle timeout) the client gets the whole
//! events sent so far, then an error event naming the node ([`Framing::broken_end`]), then a
//! proper end of the body. A document broken off after the gateway started sending it (only one
//! over [`super::attempt`]'s whole-read limit can be) ends with a body error: its length is
//! already sent, the client's HTTP library reports the body incomplete.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::coalesce::Coalesce;
use super::framing::{Events, Framing};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::pool::{FailureKind, Outcome, Permit};
use crate::traces::PendingTrace;
use gonka_core::traces::TraceStatus;

/// State of one forwarded body.
pub(crate) struct Forwarding<B: Body> {
    upstream: Coalesce<B>,
    events: Events,
    permit: Option<Permit>,
    metrics: Arc<Metrics>,
    model: String,
    status: u16,
    idle: IdleTimer,
    started: Instant,
    /// Whether to look for `usage` (a successful answer), and the last one seen.
    count_usage: bool,
    usage: Option<super::usage::Tokens>,
    /// The request's trace, ended with the body.
    trace: Option<PendingTrace>,
}

impl<B: Body<Data = Bytes> + Unpin> Forwarding<B> {
    /// A body that sends `first` (already read from `upstream`), then the rest of `upstream`,
    /// framed as `framing`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        first: Option<Bytes>,
        upstream: B,
        framing: Framing,
        permit: Permit,
        metrics: Arc<Metrics>,
        model: String,
        status: u16,
        idle_timeout: Duration,
        started: Instant,
    ) -> Self {
        Self {
            upstream: Coalesce::with_first(first, upstream),
            events: Events::new(framing),
            permit: Some(permit),
            metrics,
            model,
            status,
            idle: IdleTimer::new(idle_timeout),
            started,
            count_usage: false,
            usage: None,
            trace: None,
        }
    }

    /// Ends `trace` (when traced) with the body: completed, failed or cancelled, with the
    /// status, latency and usage.
    pub fn tracing(mut self, trace: Option<PendingTrace>) -> Self {
        self.trace = trace;
        self
    }

    /// Counts the answer's `usage` tokens when the body ends: `document` (the usage of a
    /// document already read), or the last usage of the stream's events as they pass.
    pub fn counting_usage(mut self, document: Option<super::usage::Tokens>) -> Self {
        self.count_usage = true;
        self.usage = document;
        self
    }
}

impl<B: Body> Forwarding<B> {
    fn finish(&mut self, outcome: Outcome, status: u16) {
        if let Some(mut permit) = self.permit.take() {
            permit.finish(outcome);
            self.metrics
                .count_request(&self.model, permit.node(), status);
            let elapsed = self.started.elapsed().as_secs_f64();
            self.metrics.observe_duration(&self.model, elapsed);
            let usage = self.usage.take();
            if let Some((prompt, completion)) = usage {
                self.metrics.count_tokens(&self.model, prompt, completion);
            }
            if let Some(trace) = self.trace.take() {
                let traced = match outcome {
                    Outcome::Success { .. } if status < 400 => TraceStatus::Completed,
                    Outcome::Cancelled => TraceStatus::Cancelled,
                    _ => TraceStatus::Failed,
                };
                trace.finish(traced, status, Some(elapsed * 1000.0), usage);
            }
        }
    }

    fn succeed(&mut self) {
        let latency_ms = self.started.elapsed().as_secs_f32() * 1000.0;
        let status = self.status;
        self.finish(Outcome::Success { latency_ms }, status);
    }

    /// The node broke the answer off: the slot is released with `outcome` and the body ends with
    /// the stream's error event (or, for a document, a body error).
    fn broke(
        &mut self,
        reason: String,
        outcome: Outcome,
        status: u16,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let node = self
            .permit
            .as_ref()
            .map(|p| p.node().to_string())
            .unwrap_or_default();
        let error = GatewayError::UpstreamBroke {
            node,
            stage: "mid-stream",
            reason,
        };
        tracing::warn!(model = %self.model, %error, "upstream answer broke off after the first byte");
        self.finish(outcome, status);
        let held = self.events.take_partial().map_or(0, |p| p.len());
        if held > 0 {
            tracing::debug!(bytes = held, "partial event of the broken stream dropped");
        }
        match self.events.framing().broken_end(&error) {
            Some(end) => Poll::Ready(Some(Ok(Frame::data(end)))),
            None => Poll::Ready(Some(Err(std::io::Error::other(error.to_string())))),
        }
    }
}

impl<B> Body for Forwarding<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display + Unpin,
{
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.permit.is_none() {
            return Poll::Ready(None);
        }
        // Bounded: each turn takes a frame the upstream had ready; a turn that sends nothing
        // (a partial event held back) polls again, until the upstream has nothing ready.
        loop {
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.idle.saw_data();
                    let ended = this.upstream.is_end_stream();
                    let frame = match frame.into_data() {
                        Ok(chunk) => {
                            let mut data = this.events.whole(chunk);
                            if ended {
                                if let Some(rest) = this.events.take_partial() {
                                    data = [data, rest].concat().into();
                                }
                            }
                            if data.is_empty() && !ended {
                                continue;
                            }
                            if this.count_usage && this.events.framing().is_stream() {
                                if let Some(tokens) = super::usage::of_events(&data) {
                                    this.usage = Some(tokens);
                                }
                            }
                            Frame::data(data)
                        }
                        Err(other) => other,
                    };
                    if ended {
                        // Finished now, so the server sees the end with this frame and writes
                        // the closing chunk in the same write.
                        this.succeed();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(None) => {
                    this.succeed();
                    return Poll::Ready(this.events.take_partial().map(|p| Ok(Frame::data(p))));
                }
                Poll::Ready(Some(Err(e))) => {
                    return this.broke(e.to_string(), Outcome::Failure(FailureKind::Server), 502);
                }
                Poll::Pending => {
                    return match this.idle.poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(()) => this.broke(
                            format!(
                                "it sent nothing for {} s (idle timeout)",
                                this.idle.timeout.as_secs()
                            ),
                            Outcome::Failure(FailureKind::Timeout),
                            504,
                        ),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.permit.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.events.framing().is_stream() {
            // Events may be held back or added (a broken stream's end): never a fixed length.
            return SizeHint::default();
        }
        self.upstream.size_hint()
    }
}

/// Fires when no data came for `timeout`. Armed the first time it is polled and re-armed only
/// when it fires early (data came meanwhile): one timer registration per stream, not one per
/// chunk.
struct IdleTimer {
    timeout: Duration,
    /// When the last upstream data arrived; the deadline is this plus `timeout`.
    last_data: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            last_data: Instant::now(),
            sleep: None,
        }
    }

    fn saw_data(&mut self) {
        self.last_data = Instant::now();
    }

    /// `Ready` when no data came for `timeout`.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.last_data + self.timeout;
        let timer = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            timer.as_mut().reset(deadline);
        }
    }
}

impl<B: Body> Drop for Forwarding<B> {
    fn drop(&mut self) {
        if self.permit.is_some() {
            tracing::debug!(model = %self.model, "client went away; upstream request cancelled");
            // 499: client closed request (nginx convention).
            self.finish(Outcome::Cancelled, 499);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn poll(timer: &mut IdleTimer) -> Poll<()> {
        timer.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timer_fires_only_after_a_full_timeout_without_data() {
        let mut timer = IdleTimer::new(Duration::from_secs(10));
        assert!(poll(&mut timer).is_pending());
        tokio::time::advance(Duration::from_secs(6)).await;
        timer.saw_data();
        assert!(poll(&mut timer).is_pending());
        // The first deadline passes, but data came 6 s in: re-armed, not fired.
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(poll(&mut timer).is_pending());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(poll(&mut timer).is_ready());
    }
}
