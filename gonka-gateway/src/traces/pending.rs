//! [`PendingTrace`]: the trace of a request still being routed or answered.

use std::collections::BTreeMap;

use gonka_core::traces::{Trace, TraceStatus};
use tokio::time::Instant;

use super::TraceRecorder;
use crate::pool::Permit;

/// A trace being filled in as its request is routed and answered; [`finish`](Self::finish) or
/// [`refused`](Self::refused) hands it to the writer. One per request, moved along with the request (into the answer's
/// body once it streams).
#[derive(Debug)]
pub struct PendingTrace {
    trace: Trace,
    arrived: Instant,
    recorder: TraceRecorder,
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl PendingTrace {
    pub(super) fn new(trace: Trace, recorder: TraceRecorder) -> Self {
        Self {
            trace,
            arrived: Instant::now(),
            recorder,
        }
    }

    /// When the request arrived.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// The request took `permit` on try `attempt` (0 for the first): the node, the model that
    /// serves it, the retries so far and, when the pool recorded the decision, the candidates
    /// and the scheduler's score breakdown of the chosen node. The first try's queue wait is
    /// kept.
    pub fn chose(&mut self, permit: &mut Permit, attempt: u32) {
        let t = &mut self.trace;
        if attempt == 0 {
            t.queue_wait_ms = Some(millis(self.arrived));
        }
        t.retries = attempt;
        t.node_id = Some(String::from(&**permit.node()));
        permit.model().clone_into(&mut t.model);
        t.score = None;
        t.scores_breakdown = None;
        if let Some(decision) = permit.take_decision() {
            t.candidates = decision.candidates;
            if let Some(b) = decision.breakdown {
                t.score = Some(f64::from(b.total));
                t.scores_breakdown = Some(
                    b.signals
                        .iter()
                        .map(|s| (s.signal.to_owned(), f64::from(s.value)))
                        .collect::<BTreeMap<_, _>>(),
                );
            }
        }
    }

    /// The first byte of the node's answer arrived now.
    pub fn first_byte(&mut self) {
        self.trace.ttft_ms = Some(millis(self.arrived));
    }

    /// Ends the trace: `status` with `http_status`, `latency` (ms from taking the node's slot)
    /// and the answer's `usage` when known; hands it to the writer.
    pub fn finish(
        mut self,
        status: TraceStatus,
        http_status: u16,
        latency_ms: Option<f64>,
        usage: Option<(u64, u64)>,
    ) {
        let t = &mut self.trace;
        t.status = status;
        t.http_status = http_status;
        t.latency_ms = latency_ms;
        if let Some((prompt, completion)) = usage {
            t.prompt_tokens = Some(prompt);
            t.completion_tokens = Some(completion);
        }
        self.recorder.record(self.trace);
    }

    /// Ends the trace of a request the gateway answered itself with `http_status`: `failed`
    /// when a node had been chosen (every try failed), else `rejected`.
    pub fn refused(self, http_status: u16) {
        let status = if self.trace.node_id.is_some() {
            TraceStatus::Failed
        } else {
            TraceStatus::Rejected
        };
        self.finish(status, http_status, None, None);
    }
}
