//! `scored`: seed 003's weighted scoring over the signals a network node observes.

use gonka_core::{
    NodeView, OrderedIndex, RequestInfo, Scheduler, SchedulerIndex, ScoreBreakdown, SignalScore,
};

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

/// Scores eligible nodes and returns the one with the highest score; ties go to the node listed
/// first. Scores compare with `f32::total_cmp`, so the order is total (a NaN signal never makes a
/// pick depend on scan order).
///
/// `pick` scores every eligible node (O(n)); [`Scheduler::index`] gives an [`OrderedIndex`]
/// keyed by score that answers the same pick in O(log n), which the gateway's pool uses.
#[derive(Debug, Default)]
pub struct Scored {
    /// The weights used.
    pub weights: ScoreWeights,
}

/// A score as an index key: higher scores sort first, in `f32::total_cmp` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScoreKey(std::cmp::Reverse<i32>);

impl ScoreKey {
    /// The key of a score.
    pub fn new(score: f32) -> Self {
        // The bit trick behind `f32::total_cmp`, as an integer that sorts the same way.
        let bits = score.to_bits() as i32;
        Self(std::cmp::Reverse(
            bits ^ ((((bits >> 31) as u32) >> 1) as i32),
        ))
    }
}

impl Scored {
    /// A scorer with these weights.
    pub fn new(weights: ScoreWeights) -> Self {
        Self { weights }
    }

    /// The score of one node (higher is better). Pure; exposed for inspection and tests.
    pub fn score(&self, node: &NodeView) -> f32 {
        score(&self.weights, node)
    }
}

/// The score of `node` under `w` (higher is better).
fn score(w: &ScoreWeights, node: &NodeView) -> f32 {
    let [availability, load, queue, wait, errors] = signals(w, node);
    availability + load + queue + wait + errors
}

/// Each signal's signed part of the score, in [`SIGNALS`] order.
fn signals(w: &ScoreWeights, node: &NodeView) -> [f32; 5] {
    let load = node.load() as f32;
    let queue = node.queue_depth as f32;
    let latency_s = if node.latency_p95_ms > 0.0 {
        node.latency_p95_ms
    } else {
        node.latency_p50_ms
    } / 1000.0;
    let wait = latency_s * (load + queue / node.max_concurrent.max(1) as f32);
    [
        w.availability * node.availability.clamp(0.0, 1.0),
        -w.load * load,
        -w.queue_depth * queue,
        -w.wait_per_second * wait,
        -w.error_rate * node.error_rate.clamp(0.0, 1.0),
    ]
}

/// Signal names of [`Scored`]'s breakdown, in the order [`Scheduler::explain`] lists them.
pub const SIGNALS: [&str; 5] = ["availability", "load", "queue_depth", "wait", "error_rate"];

impl Scheduler for Scored {
    fn name(&self) -> &'static str {
        "scored"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let mut best: Option<(usize, ScoreKey)> = None;
        for (i, node) in nodes.iter().enumerate() {
            if !node.eligible(request) {
                continue;
            }
            let key = ScoreKey::new(self.score(node));
            if best.is_none_or(|(_, b)| key < b) {
                best = Some((i, key));
            }
        }
        best.map(|(i, _)| i)
    }

    fn explain(&self, _request: &RequestInfo, node: &NodeView) -> Option<ScoreBreakdown> {
        let parts = signals(&self.weights, node);
        Some(ScoreBreakdown {
            total: parts.iter().sum(),
            signals: SIGNALS
                .iter()
                .zip(parts)
                .map(|(&signal, value)| SignalScore { signal, value })
                .collect(),
        })
    }

    fn index(&self) -> Option<Box<dyn SchedulerIndex>> {
        let weights = self.weights;
        Some(Box::new(OrderedIndex::new(move |v: &NodeView| {
            ScoreKey::new(score(&weights, v))
        })))
    }
}
