//! [`Permit`]: one in-flight slot on one node, released when dropped.

use std::sync::Arc;

use tokio::time::Instant;

use super::{FailureKind, NodePool};

/// How a request on a permit ended; reported to the breaker and the stats on release.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Completed; total latency in milliseconds.
    Success {
        /// End-to-end latency in milliseconds.
        latency_ms: f32,
    },
    /// Failed because of the node.
    Failure(FailureKind),
    /// Ended by the client or the gateway (disconnect, shutdown): no verdict on the node.
    Cancelled,
}

/// An in-flight slot on a node. Dropping it frees the slot and wakes queued requests; set the
/// outcome first with [`Permit::finish`] (the default is [`Outcome::Cancelled`]).
#[derive(Debug)]
pub struct Permit {
    pool: Arc<NodePool>,
    node: Arc<str>,
    generation: u64,
    slot: u64,
    url: Arc<str>,
    model: String,
    started: Instant,
    outcome: Outcome,
    decision: Option<Box<Decision>>,
    loaded_context: u32,
}

/// Why the pool chose a permit's node, kept for request traces when the pool records
/// decisions ([`NodePool::record_decisions`]).
#[derive(Debug, Clone)]
pub struct Decision {
    /// The scheduler's score breakdown ([`gonka_core::Scheduler::explain`]) of the chosen node's
    /// view as it saw it (before this request took its slot) for the request it was chosen for
    /// (the fallback model's when a fallback served, exclusions of earlier tries included);
    /// `None` for policies that do not score. Computed when the node is picked, so neither the
    /// view nor the request is copied.
    pub breakdown: Option<gonka_core::ScoreBreakdown>,
    /// Routable nodes serving the request's model at that moment (the nodes the policy
    /// ranked; capacity, exclusions and routing hints aside).
    pub candidates: u32,
}

impl Permit {
    pub(super) fn new(
        pool: Arc<NodePool>,
        node: Arc<str>,
        generation: u64,
        slot: u64,
        url: Arc<str>,
        model: String,
    ) -> Self {
        Self {
            pool,
            node,
            generation,
            slot,
            url,
            model,
            started: Instant::now(),
            outcome: Outcome::Cancelled,
            decision: None,
            loaded_context: 0,
        }
    }

    /// This permit with `decision` attached.
    pub(super) fn with_decision(mut self, decision: Option<Box<Decision>>) -> Self {
        self.decision = decision;
        self
    }

    /// Why the node was chosen, once (`None` when the pool does not record decisions).
    pub fn take_decision(&mut self) -> Option<Box<Decision>> {
        self.decision.take()
    }

    /// The permit, noting that the node has its model loaded with a `tokens` context window.
    pub(super) fn with_loaded_context(mut self, tokens: u32) -> Self {
        self.loaded_context = tokens;
        self
    }

    /// The context window the node had the permit's model loaded with when the slot was taken,
    /// in tokens; `None` when the model was not loaded there or its context is unknown.
    pub fn loaded_context(&self) -> Option<u32> {
        (self.loaded_context > 0).then_some(self.loaded_context)
    }

    /// Id of the node.
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// Base URL of the node's inference API.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The model this slot was taken for (the requested one or a fallback).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// When the slot was taken.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Sets the outcome reported on release.
    pub fn finish(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    /// Marks success with the latency since the slot was taken.
    pub fn succeed(&mut self) {
        self.outcome = Outcome::Success {
            latency_ms: self.started.elapsed().as_secs_f32() * 1000.0,
        };
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.pool
            .release(&self.node, self.generation, self.slot, self.outcome);
    }
}
