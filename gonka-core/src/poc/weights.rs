//! Weight from committed nonces (docs/poc-v2.md §7).
//!
//! Nonces are not individually "valid": a prover's weight for a model is its committed leaf
//! count, gated by the sampled validation vote, scaled by the time normalisation factor (TNF)
//! and the model's coefficient. Products are computed in `f64` and truncated toward zero, as
//! upstream does.

use std::collections::BTreeMap;

/// Seconds per block the TNF assumes (upstream constant).
pub const SECONDS_PER_BLOCK: f64 = 5.41;

/// The time normalisation factor: `(stage_blocks + exchange_blocks) × 5.41 s / (exchange_end −
/// generation_start)` with block timestamps in seconds. It rewards a stage that ran faster than
/// nominal less than its raw count would. `1.0` when either block count is 0 or the measured
/// duration is not positive.
pub fn time_normalization_factor(
    stage_blocks: u64,
    exchange_blocks: u64,
    generation_start_ts: i64,
    exchange_end_ts: i64,
) -> f64 {
    let measured = exchange_end_ts.saturating_sub(generation_start_ts);
    if stage_blocks == 0 || exchange_blocks == 0 || measured <= 0 {
        return 1.0;
    }
    (stage_blocks + exchange_blocks) as f64 * SECONDS_PER_BLOCK / measured as f64
}

/// `trunc(count × factor)`, saturating; 0 for a negative or NaN product.
pub fn scale_weight(count: u64, factor: f64) -> u64 {
    let w = (count as f64 * factor).trunc();
    if w.is_nan() || w <= 0.0 {
        0
    } else if w >= u64::MAX as f64 {
        u64::MAX
    } else {
        w as u64
    }
}

/// A model's weight for one participant: each ML node's normalised weight
/// `trunc(w_node × tnf)`, summed, times the model coefficient `weight_scale_factor`, truncated.
pub fn model_weight(node_counts: &[u64], tnf: f64, weight_scale_factor: f64) -> u64 {
    let sum = node_counts
        .iter()
        .fold(0u64, |acc, &w| acc.saturating_add(scale_weight(w, tnf)));
    scale_weight(sum, weight_scale_factor)
}

/// The `MsgMLNodeWeightDistribution` entries: how many of the first `count` committed leaves
/// each ML node produced, given the producing node of every leaf in arrival order. The weights
/// sum exactly to `min(count, leaves)` as the chain requires.
pub fn weight_distribution(leaf_nodes: &[u32], count: u32) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for &node in leaf_nodes.iter().take(count as usize) {
        *out.entry(node).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tnf_is_nominal_over_measured_duration() {
        // 60 + 40 blocks nominal = 541 s; the stage took 500 s.
        let tnf = time_normalization_factor(60, 40, 1_000, 1_500);
        assert!((tnf - 1.082).abs() < 1e-12);
        assert_eq!(time_normalization_factor(0, 40, 1_000, 1_500), 1.0);
        assert_eq!(time_normalization_factor(60, 40, 1_500, 1_500), 1.0);
        assert_eq!(time_normalization_factor(60, 40, 1_500, 1_000), 1.0);
        let extreme = time_normalization_factor(60, 40, i64::MIN, i64::MAX);
        assert!(extreme > 0.0 && extreme < 1e-15, "{extreme}");
    }

    #[test]
    fn weights_truncate_like_upstream() {
        assert_eq!(scale_weight(1000, 1.082), 1082);
        assert_eq!(scale_weight(999, 0.5), 499);
        assert_eq!(scale_weight(10, -1.0), 0);
        assert_eq!(scale_weight(10, f64::NAN), 0);
        assert_eq!(scale_weight(u64::MAX, 2.0), u64::MAX);
        // Per node first, then the coefficient: trunc(0.3593 × (trunc(333×1.5) + trunc(333×1.5))).
        assert_eq!(model_weight(&[333, 333], 1.5, 0.3593), 358);
    }

    #[test]
    fn distribution_sums_to_the_committed_count() {
        let leaves = [0, 1, 0, 2, 1, 0, 2];
        let d = weight_distribution(&leaves, 5);
        assert_eq!(d, BTreeMap::from([(0, 2), (1, 2), (2, 1)]));
        assert_eq!(d.values().sum::<u64>(), 5);
        assert_eq!(weight_distribution(&leaves, 100).values().sum::<u64>(), 7);
    }
}
