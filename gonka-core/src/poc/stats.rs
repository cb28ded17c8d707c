//! Statistics of PoC validation (docs/poc-v2.md §6.2): the one-sided exact binomial test and the
//! L2 distance between artifact vectors.

/// `P[X ≥ k]` for `X ~ Binomial(n, p)`: the p-value of
/// `scipy.stats.binomtest(k, n, p, alternative="greater")`.
///
/// Exact summation of the probability mass function in log space, anchored at the largest term
/// of the tail and stopped once further terms cannot change the double-precision result, so it
/// neither overflows nor underflows spuriously (`P[X ≥ 200]` for `n = 200, p = 0.1` is
/// `1e-200`, not 0). Edge cases: `k = 0` → 1 (this includes `n = 0`); `k > n` → 0; `p ≤ 0` → 0
/// for `k ≥ 1`; `p ≥ 1` → 1 for `k ≤ n`; `p` NaN → NaN. Never panics.
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (nf, ln_p, ln_q) = (n as f64, p.ln(), (-p).ln_1p());
    let log_pmf = |i: f64| ln_choose(nf, i) + i * ln_p + (nf - i) * ln_q;
    // The pmf is unimodal with mode ⌊(n+1)p⌋; starting at max(k, mode) the terms decrease in
    // both directions, so each walk can stop as soon as a term is negligible.
    let mode = (((nf + 1.0) * p).floor() as u64).min(n);
    let anchor = k.max(mode);
    let anchor_log = log_pmf(anchor as f64);
    let mut sum = 1.0f64; // terms relative to the anchor term
    let ratio = ln_p - ln_q;
    let mut rel = 0.0f64;
    for i in anchor..n {
        rel += ((nf - i as f64) / (i as f64 + 1.0)).ln() + ratio;
        let term = rel.exp();
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    rel = 0.0;
    for i in (k..anchor).rev() {
        // pmf(i) / pmf(i + 1) = (i + 1) / (n − i) · q / p
        rel += ((i as f64 + 1.0) / (nf - i as f64)).ln() - ratio;
        let term = rel.exp();
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    (anchor_log + sum.ln()).exp().min(1.0)
}

/// `ln C(n, k)` via `ln Γ`.
fn ln_choose(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// The smallest mismatch count judged fraudulent at `fraud_threshold` among `n` samples:
/// the least `k` with `binomial_sf(k, n, p_mismatch) < fraud_threshold`, or `None` when even
/// `k = n` is not.
pub fn critical_mismatch_count(n: u64, p_mismatch: f64, fraud_threshold: f64) -> Option<u64> {
    // binomial_sf is non-increasing in k: binary search.
    if binomial_sf(n, n, p_mismatch) >= fraud_threshold {
        return None;
    }
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if binomial_sf(mid, n, p_mismatch) < fraud_threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// Euclidean distance `‖a − b‖₂`, computed in double precision. Vectors of different lengths
/// are infinitely far apart (so they always count as a mismatch), as are vectors containing NaN.
pub fn l2_distance(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let d = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt();
    if d.is_nan() {
        f64::INFINITY
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_rel(actual: f64, expected: f64) {
        let rel = ((actual - expected) / expected).abs();
        assert!(
            rel < 1e-9,
            "got {actual:e}, expected {expected:e} (rel {rel:e})"
        );
    }

    #[test]
    fn binomial_p_values_match_exact_rational_sums() {
        // Reference values: python3, fractions.Fraction(p) and math.comb, exact sum of
        // C(n,i) p^i (1-p)^(n-i) for i = k..n, converted to float once.
        let cases = [
            (31, 200, 0.1, 0.009508311946973266),
            (30, 200, 0.1, 0.016326565931766443),
            (28, 200, 0.1, 0.04342849961061081),
            (3, 200, 0.001, 0.0011337680974626506),
            (10, 200, 0.02, 0.0074792878653614885),
            (9, 200, 0.02, 0.020174875984250776),
            (7, 20, 0.1, 0.0023860894089661176),
            (1, 1, 0.5, 0.5),
            (5, 10, 0.5, 0.623046875),
            (200, 200, 0.1, 1.0000000000000112e-200),
            (150, 200, 0.02, 2.3750225604554112e-208),
            (60, 200, 0.02, 5.033422833148855e-52),
            (1, 200, 0.02, 0.9824120533942784),
            (20, 200, 0.1, 0.5344615291741035),
            (40, 200, 0.2, 0.528189953992195),
        ];
        for (k, n, p, expected) in cases {
            assert_rel(binomial_sf(k, n, p), expected);
        }
        // 1 − (1 − p)^n for k = 1 with a large n.
        assert_rel(binomial_sf(1, 5000, 1e-5), 0.048770813307981276);
    }

    #[test]
    fn binomial_edge_cases_do_not_panic() {
        assert_eq!(binomial_sf(0, 0, 0.1), 1.0);
        assert_eq!(binomial_sf(1, 0, 0.1), 0.0);
        assert_eq!(binomial_sf(0, 10, 0.0), 1.0);
        assert_eq!(binomial_sf(1, 10, 0.0), 0.0);
        assert_eq!(binomial_sf(10, 10, 1.0), 1.0);
        assert_eq!(binomial_sf(11, 10, 1.0), 0.0);
        assert!(binomial_sf(3, 10, f64::NAN).is_nan());
        assert_eq!(binomial_sf(u64::MAX, u64::MAX, 0.5), 0.0);
        assert!(binomial_sf(2, 10_000_000, 1e-7).is_finite());
    }

    #[test]
    fn critical_counts_match_the_spec() {
        // docs/poc-v2.md §6.3: n = 200, p = 0.1 → fraud iff ≥ 31 at α = 0.01, ≥ 28 at α = 0.05;
        // ML-node defaults p = 0.001, α = 0.01 → ≥ 3.
        assert_eq!(critical_mismatch_count(200, 0.1, 0.01), Some(31));
        assert_eq!(critical_mismatch_count(200, 0.1, 0.05), Some(28));
        assert_eq!(critical_mismatch_count(200, 0.001, 0.01), Some(3));
        assert_eq!(critical_mismatch_count(200, 0.02, 0.01), Some(10));
        assert_eq!(critical_mismatch_count(0, 0.1, 0.01), None);
        assert_eq!(critical_mismatch_count(2, 0.5, 0.01), None);
    }

    #[test]
    fn l2_distance_basics() {
        assert_eq!(l2_distance(&[0.0, 3.0], &[4.0, 0.0]), 5.0);
        assert_eq!(l2_distance(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(l2_distance(&[f32::NAN], &[1.0]), f64::INFINITY);
        assert_eq!(l2_distance(&[], &[]), 0.0);
    }

    proptest! {
        #[test]
        fn binomial_sf_is_a_probability_and_non_increasing_in_k(
            n in 0u64..400, k in 0u64..420, p in 0.0f64..=1.0,
        ) {
            let v = binomial_sf(k, n, p);
            prop_assert!((0.0..=1.0).contains(&v), "{v}");
            prop_assert!(binomial_sf(k + 1, n, p) <= v * (1.0 + 1e-12) + 1e-300);
        }

        #[test]
        fn binomial_sf_complements_sum_to_one(n in 1u64..300, k in 1u64..300, p in 0.001f64..0.999) {
            prop_assume!(k <= n);
            // P[X ≥ k] + P[X ≤ k − 1] = 1, the lower tail via symmetry X' = n − X ~ B(n, 1 − p).
            let upper = binomial_sf(k, n, p);
            let lower = binomial_sf(n - k + 1, n, 1.0 - p);
            prop_assert!((upper + lower - 1.0).abs() < 1e-9, "{upper} + {lower}");
        }
    }
}
