//! The result of validating one prover: counts, p-value and decision (docs/poc-v2.md §6.2).

use serde::{Deserialize, Serialize};

use super::params::ValidationParams;
use super::stats::binomial_sf;
use super::Nonce;

/// What the validator concludes about a prover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The mismatch count is consistent with honest numeric noise.
    #[default]
    Valid,
    /// The mismatch count is too high: `p_value < fraud_threshold`.
    Fraud,
    /// The validator could not score enough of the sample itself (its own recomputation failed
    /// for too many nonces, or nothing was scored); no vote should be cast on this basis.
    Inconclusive,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Sampled items that were scored (matches + mismatches); excluded items are not counted.
    pub n_total: usize,
    /// Scored items counted as mismatches: vectors farther than `dist_threshold`, and anything
    /// the prover could not back (missing or failing proof, undecodable vector, duplicate nonce).
    pub n_mismatch: usize,
    /// Sampled items left out because the validator's own recomputation produced NaN.
    pub n_excluded: usize,
    /// The nonces of the mismatches whose nonce is known, in sample order.
    pub mismatch_nonces: Vec<Nonce>,
    /// One-sided binomial p-value `P[X ≥ n_mismatch]`, `X ~ Binomial(n_total, p_mismatch)`.
    pub p_value: f64,
    /// The conclusion.
    pub decision: Decision,
}

impl Verdict {
    /// Judges the counts with `params`: `Fraud` when `p_value < fraud_threshold`,
    /// `Inconclusive` when nothing was scored or more than
    /// `max(1, ⌊max_excluded_fraction · sampled⌋)` items were excluded, else `Valid`.
    /// `params` must pass [`ValidationParams::check`] (a NaN `p_mismatch` would never flag fraud).
    pub fn from_counts(
        params: &ValidationParams,
        n_total: usize,
        n_mismatch: usize,
        n_excluded: usize,
        mismatch_nonces: Vec<Nonce>,
    ) -> Self {
        let p_value = binomial_sf(n_mismatch as u64, n_total as u64, params.p_mismatch);
        let sampled = n_total + n_excluded;
        let allowed_excluded =
            ((params.max_excluded_fraction * sampled as f64).floor() as usize).max(1);
        let decision = if p_value < params.fraud_threshold {
            // Enough proven-bad items already: exclusions cannot make this honest.
            Decision::Fraud
        } else if n_total == 0 || n_excluded > allowed_excluded {
            Decision::Inconclusive
        } else {
            Decision::Valid
        };
        Self {
            n_total,
            n_mismatch,
            n_excluded,
            mismatch_nonces,
            p_value,
            decision,
        }
    }

    /// Whether the prover was judged fraudulent.
    pub fn fraud_detected(&self) -> bool {
        self.decision == Decision::Fraud
    }

    /// The validator's chain vote (`validated_weight`): `-1` for fraud, `n_total` when valid,
    /// `None` when inconclusive (abstain or retry rather than punish for the validator's own
    /// failure).
    pub fn vote(&self) -> Option<i64> {
        match self.decision {
            Decision::Fraud => Some(-1),
            Decision::Valid => Some(self.n_total as i64),
            Decision::Inconclusive => None,
        }
    }

    /// Adds items that failed before recomputation (e.g. proof failures found by the network
    /// node) as mismatches and judges again.
    pub fn with_extra_mismatches(
        &self,
        params: &ValidationParams,
        nonces: &[Option<Nonce>],
    ) -> Self {
        let mut mismatch_nonces = self.mismatch_nonces.clone();
        mismatch_nonces.extend(nonces.iter().flatten());
        Self::from_counts(
            params,
            self.n_total + nonces.len(),
            self.n_mismatch + nonces.len(),
            self.n_excluded,
            mismatch_nonces,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds_flag_ten_of_two_hundred() {
        let p = ValidationParams::default();
        let ok = Verdict::from_counts(&p, 200, 9, 0, vec![]);
        assert_eq!(ok.decision, Decision::Valid);
        assert_eq!(ok.vote(), Some(200));
        let bad = Verdict::from_counts(&p, 200, 10, 0, vec![]);
        assert_eq!(bad.decision, Decision::Fraud);
        assert!(bad.fraud_detected());
        assert_eq!(bad.vote(), Some(-1));
        assert!((bad.p_value - 0.0074792878653614885).abs() < 1e-12);
    }

    #[test]
    fn nothing_scored_is_inconclusive_not_fraud() {
        let v = Verdict::from_counts(&ValidationParams::default(), 0, 0, 0, vec![]);
        assert_eq!(v.p_value, 1.0);
        assert_eq!(v.decision, Decision::Inconclusive);
        assert_eq!(v.vote(), None);
    }

    #[test]
    fn too_many_validator_side_exclusions_are_inconclusive() {
        let p = ValidationParams::default();
        // 200 sampled: up to 20 excluded is fine, 21 is not.
        assert_eq!(
            Verdict::from_counts(&p, 180, 0, 20, vec![]).decision,
            Decision::Valid
        );
        assert_eq!(
            Verdict::from_counts(&p, 179, 0, 21, vec![]).decision,
            Decision::Inconclusive
        );
        // …unless the scored part already proves fraud.
        assert_eq!(
            Verdict::from_counts(&p, 179, 50, 21, vec![]).decision,
            Decision::Fraud
        );
        // Small samples always tolerate one exclusion.
        assert_eq!(
            Verdict::from_counts(&p, 4, 0, 1, vec![]).decision,
            Decision::Valid
        );
    }

    #[test]
    fn extra_mismatches_are_added_and_rejudged() {
        let p = ValidationParams::default();
        let v = Verdict::from_counts(&p, 190, 5, 0, vec![1, 2, 3, 4, 5]);
        assert_eq!(v.decision, Decision::Valid);
        let w = v.with_extra_mismatches(
            &p,
            &[
                Some(9),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ],
        );
        assert_eq!((w.n_total, w.n_mismatch), (200, 15));
        assert_eq!(w.mismatch_nonces, [1, 2, 3, 4, 5, 9]);
        assert_eq!(w.decision, Decision::Fraud);
    }

    #[test]
    fn verdict_serializes_with_snake_case_decision() {
        let v = Verdict::from_counts(&ValidationParams::default(), 10, 0, 0, vec![]);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["decision"], "valid");
        assert_eq!(json["n_total"], 10);
    }
}
