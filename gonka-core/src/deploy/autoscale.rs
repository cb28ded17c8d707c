//! Autoscaling decisions and the split of a node's concurrency between gateway replicas.

use crate::deploy::spec::ScalePolicy;

/// What the autoscaler does this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDecision {
    /// One more replica.
    Up,
    /// One fewer replica.
    Down,
    /// Nothing: within target, at a bound, or cooling down.
    Hold,
}

/// Inputs of one decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleInput {
    /// The metric's value per replica now.
    pub metric: f64,
    /// Replicas now.
    pub current: u32,
    /// Lower bound (at least 1).
    pub min: u32,
    /// Upper bound; 0 = none.
    pub max: u32,
    /// Seconds since the last scaling decision that changed something (`None`: never).
    pub since_last_change_s: Option<u64>,
}

/// `+1` when the metric is above the policy's target and below max, `−1` when below target and
/// above min, nothing while the last change is younger than the cooldown (at least 30 s). A
/// replica count outside min/max moves back toward the bounds first, cooldown or not.
pub fn decide(policy: &ScalePolicy, input: ScaleInput) -> ScaleDecision {
    let min = input.min.max(1);
    let below_max = input.max == 0 || input.current < input.max;
    if input.current < min {
        return ScaleDecision::Up;
    }
    if input.max != 0 && input.current > input.max {
        return ScaleDecision::Down;
    }
    let cooldown = u64::from(policy.cooldown_seconds.max(30));
    if input.since_last_change_s.is_some_and(|s| s < cooldown) {
        return ScaleDecision::Hold;
    }
    if input.metric > policy.target && below_max {
        ScaleDecision::Up
    } else if input.metric < policy.target && input.current > min {
        ScaleDecision::Down
    } else {
        ScaleDecision::Hold
    }
}

/// The part of a node's `max_concurrent` that replica `rank` (0-based, among `replicas` live ones,
/// ordered by replica id) may use: an even split, the remainder going to the lowest ranks, at
/// least 1 each so no replica is shut out. The shares add up to `max_concurrent` whenever it is at
/// least `replicas`.
pub fn concurrency_share(max_concurrent: u32, replicas: u32, rank: u32) -> u32 {
    let n = replicas.max(1);
    let base = max_concurrent / n;
    let extra = u32::from(rank < max_concurrent % n);
    (base + extra).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(metric: f64, current: u32, since: Option<u64>) -> ScaleInput {
        ScaleInput {
            metric,
            current,
            min: 1,
            max: 4,
            since_last_change_s: since,
        }
    }

    #[test]
    fn scales_by_one_within_bounds_after_the_cooldown() {
        let p = ScalePolicy {
            metric: "concurrent_requests".into(),
            target: 8.0,
            cooldown_seconds: 30,
        };
        assert_eq!(decide(&p, input(12.0, 1, None)), ScaleDecision::Up);
        assert_eq!(decide(&p, input(12.0, 2, Some(10))), ScaleDecision::Hold);
        assert_eq!(decide(&p, input(12.0, 2, Some(30))), ScaleDecision::Up);
        assert_eq!(decide(&p, input(12.0, 4, Some(300))), ScaleDecision::Hold);
        assert_eq!(decide(&p, input(2.0, 4, Some(300))), ScaleDecision::Down);
        assert_eq!(decide(&p, input(2.0, 1, Some(300))), ScaleDecision::Hold);
        assert_eq!(decide(&p, input(8.0, 2, Some(300))), ScaleDecision::Hold);
        // Out of bounds moves back even while cooling down.
        assert_eq!(decide(&p, input(0.0, 6, Some(1))), ScaleDecision::Down);
        let short = ScalePolicy {
            cooldown_seconds: 5,
            ..p
        };
        assert_eq!(
            decide(&short, input(12.0, 2, Some(10))),
            ScaleDecision::Hold
        );
    }

    #[test]
    fn shares_split_a_node_between_replicas() {
        for (max, n) in [(10, 3), (7, 2), (64, 5), (3, 3), (1, 1)] {
            let total: u32 = (0..n).map(|r| concurrency_share(max, n, r)).sum();
            assert_eq!(total, max, "{max} over {n}");
        }
        assert_eq!(concurrency_share(10, 3, 0), 4);
        assert_eq!(concurrency_share(10, 3, 2), 3);
        assert_eq!(concurrency_share(2, 4, 3), 1);
        assert_eq!(concurrency_share(8, 0, 0), 8);
    }
}
