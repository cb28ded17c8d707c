//! `scored`: seed 003's weighted scoring over the signals a network node observes.

use std::sync::atomic::{AtomicUsize, Ordering};

use gonka_core::{NodeView, RequestInfo, Scheduler};

/// Weights of the scoring signals (seed 003, restricted to what applies to Gonka ML nodes: the
/// model is loaded by eligibility; queue depth, estimated wait from latency percentiles, error rate
/// and recent availability are scored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreWeights {
    /// Penalty at full load (`in_flight / max_concurrent` = 1).
    pub load: f32,
    /// Penalty per request waiting on the node's engine queue.
    pub queue_depth: f32,
    /// Penalty per second of estimated wait (p95 latency × (load + queue)).
    pub wait_per_second: f32,
    /// Penalty at a 100 % error rate.
    pub error_rate: f32,
    /// Bonus at 100 % availability.
    pub availability: f32,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        Self {
            load: 30.0,
            queue_depth: 3.0,
            wait_per_second: 5.0,
            error_rate: 40.0,
            availability: 10.0,
        }
    }
}

/// Scores eligible nodes and returns the highest. With up to `sample` eligible nodes every one
/// is scored (ties go to the node listed first); in larger fleets a window of `sample` eligible
/// nodes, starting at a position that rotates with every pick, is scored, which bounds the cost
/// of a pick (and spreads load like power-of-d choices). A node that cannot be beaten (idle,
/// fully available, no errors, no queue) ends the search at once.
#[derive(Debug)]
pub struct Scored {
    /// The weights used.
    pub weights: ScoreWeights,
    /// Eligible nodes scored per pick at most (default 64).
    pub sample: usize,
    next: AtomicUsize,
}

impl Default for Scored {
    fn default() -> Self {
        Self::new(ScoreWeights::default(), 64)
    }
}

impl Scored {
    /// A scorer with these weights, scoring at most `sample` (≥ 1) eligible nodes per pick.
    pub fn new(weights: ScoreWeights, sample: usize) -> Self {
        Self {
            weights,
            sample: sample.max(1),
            next: AtomicUsize::new(0),
        }
    }

    /// The score of one node (higher is better). Pure; exposed for inspection and tests.
    pub fn score(&self, node: &NodeView) -> f32 {
        let w = &self.weights;
        let load = node.load() as f32;
        let queue = node.queue_depth as f32;
        let latency_s = if node.latency_p95_ms > 0.0 {
            node.latency_p95_ms
        } else {
            node.latency_p50_ms
        } / 1000.0;
        let wait = latency_s * (load + queue / node.max_concurrent.max(1) as f32);
        w.availability * node.availability.clamp(0.0, 1.0)
            - w.load * load
            - w.queue_depth * queue
            - w.wait_per_second * wait
            - w.error_rate * node.error_rate.clamp(0.0, 1.0)
    }
}

impl Scheduler for Scored {
    fn name(&self) -> &'static str {
        "scored"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let len = nodes.len();
        if len == 0 {
            return None;
        }
        // Small fleets: exact, from the first node. Large ones: a rotating window.
        let start = if len <= self.sample {
            0
        } else {
            self.next.fetch_add(self.sample, Ordering::Relaxed) % len
        };
        let unbeatable = self.weights.availability;
        let mut best: Option<(usize, f32)> = None;
        let mut scored = 0;
        for k in 0..len {
            let i = if start + k < len {
                start + k
            } else {
                start + k - len
            };
            let node = &nodes[i];
            if !node.eligible(request) {
                continue;
            }
            let s = self.score(node);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
                if s >= unbeatable {
                    break;
                }
            }
            scored += 1;
            if scored >= self.sample {
                break;
            }
        }
        best.map(|(i, _)| i)
    }
}
