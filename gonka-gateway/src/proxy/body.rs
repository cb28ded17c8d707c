//! The response body forwarded to the client: upstream chunks as they arrive, holding the node
//! slot until the stream ends or the client goes away (which drops the upstream request).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};

use crate::metrics::{Metrics, ModelLabel};
use crate::pool::{FailureKind, Outcome, Permit};

/// State of one forwarded body.
pub(crate) struct Forwarding {
    pub first: Option<Bytes>,
    pub upstream: BoxStream<'static, Result<Bytes, hyper::Error>>,
    pub permit: Option<Permit>,
    pub metrics: Arc<Metrics>,
    pub model: String,
    pub status: u16,
    pub idle_timeout: Duration,
    pub started: tokio::time::Instant,
}

impl Forwarding {
    fn finish(&mut self, outcome: Outcome, status: u16) {
        if let Some(mut permit) = self.permit.take() {
            permit.finish(outcome);
            self.metrics
                .count_request(&self.model, permit.node(), status);
            self.metrics
                .duration
                .get_or_create(&ModelLabel {
                    model: self.model.clone(),
                })
                .observe(self.started.elapsed().as_secs_f64());
        }
    }

    /// Turns the state into the stream of body chunks.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        futures::stream::unfold(self, |mut s| async move {
            if let Some(first) = s.first.take() {
                return Some((Ok(first), s));
            }
            s.permit.as_ref()?;
            match tokio::time::timeout(s.idle_timeout, s.upstream.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), s)),
                Ok(None) => {
                    let status = s.status;
                    let latency_ms = s.started.elapsed().as_secs_f32() * 1000.0;
                    s.finish(Outcome::Success { latency_ms }, status);
                    None
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream stream broke after the first byte");
                    s.finish(Outcome::Failure(FailureKind::Server), 502);
                    Some((Err(std::io::Error::other(e)), s))
                }
                Err(_) => {
                    tracing::warn!("upstream stream idle for too long; closing");
                    s.finish(Outcome::Failure(FailureKind::Timeout), 504);
                    Some((Err(std::io::Error::other("upstream idle timeout")), s))
                }
            }
        })
        .boxed()
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        if self.permit.is_some() {
            tracing::debug!(model = %self.model, "client went away; upstream request cancelled");
            // 499: client closed request (nginx convention).
            self.finish(Outcome::Cancelled, 499);
        }
    }
}
