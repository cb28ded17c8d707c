//! Validation thresholds, per model (docs/poc-v2.md §6.3), with our documented defaults.
//!
//! # Why these defaults
//!
//! Upstream has two sets that disagree: the ML node/vLLM default to `dist_threshold = 0.02,
//! p_mismatch = 0.001, fraud_threshold = 0.01` (same-hardware recomputation), the chain to
//! `0.4 / 0.1 / 0.05` — and the chain's p-value threshold never reaches the ML node, so 0.01 is
//! what mainnet really uses. The hypothesis test is `H0: mismatch rate ≤ p_mismatch`; its power
//! against a prover who fakes a fraction `f` of its nonces depends on the gap `f − p_mismatch`.
//! With the chain's `p_mismatch = 0.1` and 200 samples a prover faking 10 % of its nonces is
//! flagged with probability ≈ α (0.95 % at α = 0.01, 4.3 % at 0.05): it keeps 10 % free weight.
//!
//! Our defaults: `sample_size = 200`, `dist_threshold = 0.4` (the chain's; honest cross-GPU
//! FP8↔FP8 distances average 0.07 with a maximum of 0.52 in upstream's calibration, and two
//! independent random unit vectors in R¹² are ≈ 1.41 apart, so a faked vector essentially always
//! exceeds 0.4), `p_mismatch = 0.02` (the tolerated honest outlier rate at that distance) and
//! `fraud_threshold = 0.01` (the threshold mainnet actually applies). With 200 samples fraud
//! is declared from 10 mismatches on (`P[X ≥ 10] = 0.0075` under `p = 0.02`); a prover faking
//! 10 % of its nonces is caught with probability ≥ 99.6 %, 20 % with ≥ 1 − 3·10⁻¹⁰, while an
//! honest prover whose true outlier rate is 1 % is wrongly flagged with probability 4·10⁻⁵.
//! Models whose honest noise is larger (e.g. INT4 vs FP8, mean distance 0.24) need a larger
//! `dist_threshold` or `p_mismatch` — set per model from governance.

use serde::{Deserialize, Serialize};

use super::error::PocError;
use super::stats::critical_mismatch_count;

/// How a prover's artifacts are judged. `serde` fills missing fields with the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationParams {
    /// Leaves sampled per prover and model (all of them when fewer are committed). Default 200.
    pub sample_size: usize,
    /// L2 distance above which (strictly) a received vector mismatches the recomputed one.
    /// Default 0.4.
    pub dist_threshold: f64,
    /// The mismatch rate an honest prover may have (numeric noise across hardware). Default 0.02.
    pub p_mismatch: f64,
    /// The prover is judged fraudulent when the one-sided binomial p-value is below this.
    /// Default 0.01. JSON also accepts the chain's name `p_value_threshold`, so the threshold
    /// the network node sends is honoured (upstream's ML node silently drops it, §6.3).
    #[serde(alias = "p_value_threshold")]
    pub fraud_threshold: f64,
    /// The share of the sample the validator may fail to recompute itself (NaN on its side)
    /// before the verdict is inconclusive; at least one item is always tolerated. Default 0.1.
    pub max_excluded_fraction: f64,
}

impl Default for ValidationParams {
    fn default() -> Self {
        Self {
            sample_size: 200,
            dist_threshold: 0.4,
            p_mismatch: 0.02,
            fraud_threshold: 0.01,
            max_excluded_fraction: 0.1,
        }
    }
}

impl ValidationParams {
    /// The chain's `DefaultPoCStatTestParams` as written (0.4 / 0.1 / p-value threshold 0.05).
    /// Weak: a prover faking 10 % of its nonces is almost never caught (see module docs).
    pub fn upstream_chain() -> Self {
        Self {
            p_mismatch: 0.1,
            fraud_threshold: 0.05,
            ..Self::default()
        }
    }

    /// The ML node / vLLM defaults (0.02 / 0.001 / 0.01): only for recomputation on identical
    /// hardware and software.
    pub fn upstream_ml_node() -> Self {
        Self {
            dist_threshold: 0.02,
            p_mismatch: 0.001,
            ..Self::default()
        }
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`PocError::InvalidParams`] naming the first bad field: `sample_size ≥ 1`,
    /// `dist_threshold` finite and ≥ 0, `p_mismatch` and `fraud_threshold` in (0, 1),
    /// `max_excluded_fraction` in [0, 1].
    pub fn check(&self) -> Result<(), PocError> {
        let bad = |field: &str, value: f64, range: &str| {
            Err(PocError::InvalidParams(format!(
                "{field} must be {range}, got {value}"
            )))
        };
        if self.sample_size == 0 {
            return bad("sample_size", 0.0, "at least 1");
        }
        if !(self.dist_threshold.is_finite() && self.dist_threshold >= 0.0) {
            return bad("dist_threshold", self.dist_threshold, "finite and ≥ 0");
        }
        if !(self.p_mismatch > 0.0 && self.p_mismatch < 1.0) {
            return bad("p_mismatch", self.p_mismatch, "in (0, 1)");
        }
        if !(self.fraud_threshold > 0.0 && self.fraud_threshold < 1.0) {
            return bad("fraud_threshold", self.fraud_threshold, "in (0, 1)");
        }
        if !(0.0..=1.0).contains(&self.max_excluded_fraction) {
            return bad(
                "max_excluded_fraction",
                self.max_excluded_fraction,
                "in [0, 1]",
            );
        }
        Ok(())
    }

    /// The smallest mismatch count among `n` scored items that is judged fraud, `None` when no
    /// count is (too few items for the thresholds).
    pub fn critical_mismatch_count(&self, n: usize) -> Option<usize> {
        critical_mismatch_count(n as u64, self.p_mismatch, self.fraud_threshold).map(|c| c as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let p = ValidationParams::default();
        assert_eq!(p.check().ok(), Some(()));
        assert_eq!(
            (
                p.sample_size,
                p.dist_threshold,
                p.p_mismatch,
                p.fraud_threshold
            ),
            (200, 0.4, 0.02, 0.01)
        );
        assert_eq!(p.critical_mismatch_count(200), Some(10));
        assert_eq!(
            ValidationParams::upstream_chain().critical_mismatch_count(200),
            Some(28)
        );
        assert_eq!(
            ValidationParams::upstream_ml_node().critical_mismatch_count(200),
            Some(3)
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                ValidationParams {
                    sample_size: 0,
                    ..Default::default()
                },
                "sample_size",
            ),
            (
                ValidationParams {
                    dist_threshold: f64::NAN,
                    ..Default::default()
                },
                "dist_threshold",
            ),
            (
                ValidationParams {
                    p_mismatch: 0.0,
                    ..Default::default()
                },
                "p_mismatch",
            ),
            (
                ValidationParams {
                    p_mismatch: 1.0,
                    ..Default::default()
                },
                "p_mismatch",
            ),
            (
                ValidationParams {
                    fraud_threshold: -0.1,
                    ..Default::default()
                },
                "fraud_threshold",
            ),
            (
                ValidationParams {
                    max_excluded_fraction: 2.0,
                    ..Default::default()
                },
                "max_excluded_fraction",
            ),
        ];
        for (params, field) in cases {
            let err = params.check().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn missing_json_fields_take_the_defaults() {
        let p: ValidationParams = serde_json::from_str(r#"{"dist_threshold": 0.2}"#).unwrap();
        assert_eq!(p.dist_threshold, 0.2);
        assert_eq!(p.p_mismatch, 0.02);
        assert_eq!(p.sample_size, 200);
    }

    #[test]
    fn chain_stat_test_json_is_understood_including_its_p_value_threshold() {
        let p: ValidationParams = serde_json::from_str(
            r#"{"dist_threshold": 0.2, "p_mismatch": 0.1, "p_value_threshold": 0.05}"#,
        )
        .unwrap();
        assert_eq!(
            (p.dist_threshold, p.p_mismatch, p.fraud_threshold),
            (0.2, 0.1, 0.05)
        );
    }
}
