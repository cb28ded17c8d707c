//! The per-nonce vector maths of docs/poc-v2.md §2 as pure float32 functions over slices:
//! Householder reflections, normalisation, the pick-k coordinate selection and the k−1 Haar
//! reflections that turn a model's last hidden state into the 12-dimensional artifact vector.
//!
//! Reductions (dot products, norms) accumulate sequentially in index order in float32 with a
//! rounding after every operation (no fused multiply-add), so results are bit-reproducible on
//! every CPU. GPU reductions sum in another order; the difference is a few ulps, far below any
//! validation threshold.

use super::encoding::K_DIM;
use super::rng::{murmur, normals, seed_from_str};
use super::{seeds, Nonce};

/// The epsilon added to the norm when normalising the hidden state and the final vector.
pub const NORM_EPS: f32 = 1e-8;
/// The epsilon added to the norm of each Haar reflection vector.
pub const HAAR_EPS: f32 = 1e-30;

/// Dot product, accumulated sequentially in float32.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0f32, |acc, (&x, &y)| acc + x * y)
}

/// Euclidean norm, accumulated sequentially in float32.
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Scales `x` in place to `x / (‖x‖ + eps)`.
pub fn normalize(x: &mut [f32], eps: f32) {
    let denom = norm(x) + eps;
    for v in x.iter_mut() {
        *v /= denom;
    }
}

/// Applies the Householder reflection `x ← x − 2(x·v)v` in place. `v` must be a unit vector
/// of the same length as `x` for this to be a reflection.
pub fn reflect(x: &mut [f32], v: &[f32]) {
    let c = 2.0f32 * dot(x, v);
    for (xi, &vi) in x.iter_mut().zip(v) {
        *xi -= c * vi;
    }
}

/// The unit Householder vector of decoder layer `layer`: `w / ‖w‖` with
/// `w = N(seed("{bh}_layer_{layer}_householder"), hidden)` (no epsilon, §2 step 2).
pub fn householder_vector(block_hash: &str, layer: usize, hidden: usize) -> Vec<f32> {
    let mut w = normals(
        seed_from_str(&seeds::layer_householder(block_hash, layer)),
        hidden,
    );
    let n = norm(&w);
    for v in w.iter_mut() {
        *v /= n;
    }
    w
}

/// The `k` coordinates of a `hidden`-dimensional state that nonce `nonce` keeps (§2 step 5),
/// in the reference order.
///
/// Every index `j` is scored `mm(j, seed("{bh}_{pk}_nonce_{n}_pick_{k}"))` and the `k` smallest
/// scores are kept. Order: the indices whose score is strictly below the k-th smallest score in
/// ascending index order, then the indices holding the k-th smallest score in ascending index
/// order (the order PyTorch's CUDA `topk(sorted=False)` produces, see docs/poc-v2.md §11.1).
/// Returns all indices when `hidden ≤ k`.
pub fn pick_indices(
    block_hash: &str,
    public_key: &str,
    nonce: Nonce,
    hidden: usize,
    k: usize,
) -> Vec<usize> {
    let seed = seed_from_str(&seeds::pick(block_hash, public_key, nonce, k));
    let scores: Vec<u32> = (0..hidden).map(|j| murmur(j as u32, seed)).collect();
    if hidden <= k {
        return (0..hidden).collect();
    }
    if k == 0 {
        return Vec::new();
    }
    let mut sorted = scores.clone();
    let (_, &mut kth, _) = sorted.select_nth_unstable(k - 1);
    let mut picked: Vec<usize> = (0..hidden).filter(|&j| scores[j] < kth).collect();
    picked.extend(
        (0..hidden)
            .filter(|&j| scores[j] == kth)
            .take(k - picked.len()),
    );
    picked
}

/// Applies the `k − 1` seeded Haar reflections of nonce `nonce` to the `k`-vector `x` in order
/// `j = 0..k−2`, each `u_j = a_j / (‖a_j‖ + 1e-30)` with
/// `a_j = N(seed("{bh}_{pk}_nonce_{n}_haar_hh_{k}_{j}"), k)` (§2 step 6).
pub fn haar_rotate(x: &mut [f32], block_hash: &str, public_key: &str, nonce: Nonce) {
    let k = x.len();
    for j in 0..k.saturating_sub(1) {
        let mut u = normals(
            seed_from_str(&seeds::haar(block_hash, public_key, nonce, k, j)),
            k,
        );
        normalize(&mut u, HAAR_EPS);
        reflect(x, &u);
    }
}

/// Steps 4–7 of §2: turns the last hidden state `hidden_state` of nonce `nonce` into the unit
/// artifact vector (normalise, pick [`K_DIM`] coordinates, Haar-rotate, normalise).
///
/// Returns `None` when the hidden state or the result contains NaN or infinity (the reference
/// drops such a nonce instead of sending it), or when the state has fewer than [`K_DIM`]
/// coordinates.
pub fn project_hidden_state(
    hidden_state: &[f32],
    block_hash: &str,
    public_key: &str,
    nonce: Nonce,
) -> Option<[f32; K_DIM]> {
    if hidden_state.len() < K_DIM || hidden_state.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut h = hidden_state.to_vec();
    normalize(&mut h, NORM_EPS);
    let idx = pick_indices(block_hash, public_key, nonce, h.len(), K_DIM);
    let mut x = [0f32; K_DIM];
    for (slot, &j) in x.iter_mut().zip(&idx) {
        *slot = h[j];
    }
    haar_rotate(&mut x, block_hash, public_key, nonce);
    normalize(&mut x, NORM_EPS);
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

    fn pk() -> String {
        format!("02{}", "11".repeat(32))
    }

    #[test]
    fn pick_matches_spec_for_hidden_4096() {
        assert_eq!(
            pick_indices(BH, &pk(), 0, 4096, 12),
            [54, 141, 349, 513, 727, 1826, 2057, 2149, 3585, 3650, 3940, 3814]
        );
    }

    #[test]
    fn pick_matches_spec_for_hidden_7168() {
        assert_eq!(
            pick_indices(BH, &pk(), 0, 7168, 12),
            [54, 141, 349, 727, 2057, 3585, 3650, 4120, 4456, 4673, 5172, 5676]
        );
    }

    #[test]
    fn pick_returns_distinct_in_range_indices() {
        for nonce in 0..20 {
            let mut idx = pick_indices(BH, &pk(), nonce, 64, 12);
            assert_eq!(idx.len(), 12);
            idx.sort_unstable();
            idx.dedup();
            assert_eq!(idx.len(), 12);
            assert!(idx.iter().all(|&j| j < 64));
        }
        assert_eq!(pick_indices(BH, &pk(), 0, 5, 12), [0, 1, 2, 3, 4]);
        assert!(pick_indices(BH, &pk(), 0, 50, 0).is_empty());
    }

    #[test]
    fn householder_vector_is_unit_and_reflection_is_an_involution() {
        let v = householder_vector(BH, 0, 64);
        assert!((norm(&v) - 1.0).abs() < 1e-6);
        let original: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut x = original.clone();
        reflect(&mut x, &v);
        assert!(
            (norm(&x) - norm(&original)).abs() < 1e-5,
            "reflection keeps the norm"
        );
        // v itself is mapped to −v.
        let mut w = v.clone();
        reflect(&mut w, &v);
        assert!(w.iter().zip(&v).all(|(a, b)| (a + b).abs() < 1e-6));
        reflect(&mut x, &v);
        assert!(x.iter().zip(&original).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn householder_vector_known_answer() {
        // Bit patterns of householder_vector(BH, 0, 8), obtained once from an independent
        // Python implementation of docs/poc-v2.md §1–§2 (stdlib only: every float32 operation
        // emulated with struct.pack('<f') rounding, log/cos/sin from math in double precision
        // rounded once, sequential float32 sums): `poc/kat/poc_v2_reference.py`.
        let v = householder_vector(BH, 0, 8);
        let bits: Vec<u32> = v.iter().map(|f| f.to_bits()).collect();
        assert_eq!(bits, HOUSEHOLDER_L0_H8_BITS);
    }

    #[test]
    fn projection_known_answer() {
        // A fixed hidden state h[j] = sin(0.5·j + 0.1) for H = 64, nonce 0: bit patterns of the
        // projected vector from the same independent Python implementation.
        let h: Vec<f32> = (0..64)
            .map(|j| ((0.5 * j as f64) + 0.1).sin() as f32)
            .collect();
        let y = project_hidden_state(&h, BH, &pk(), 0).unwrap();
        let bits: Vec<u32> = y.iter().map(|f| f.to_bits()).collect();
        assert_eq!(bits, PROJECTION_H64_N0_BITS);
        assert!((norm(&y) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn projection_drops_non_finite_and_too_small_states() {
        let mut h = vec![0.5f32; 64];
        assert!(project_hidden_state(&h, BH, &pk(), 1).is_some());
        h[10] = f32::NAN;
        assert!(project_hidden_state(&h, BH, &pk(), 1).is_none());
        h[10] = f32::INFINITY;
        assert!(project_hidden_state(&h, BH, &pk(), 1).is_none());
        assert!(project_hidden_state(&[1.0; 11], BH, &pk(), 1).is_none());
    }

    #[test]
    fn projection_depends_on_nonce_and_key() {
        let h: Vec<f32> = (0..64).map(|j| (j as f32 * 0.3).cos()).collect();
        let a = project_hidden_state(&h, BH, &pk(), 1).unwrap();
        let b = project_hidden_state(&h, BH, &pk(), 2).unwrap();
        let c = project_hidden_state(&h, BH, "03aa", 1).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn haar_rotation_preserves_the_norm() {
        let mut x: Vec<f32> = (0..12).map(|i| i as f32 - 5.5).collect();
        let before = norm(&x);
        haar_rotate(&mut x, BH, &pk(), 3);
        assert!((norm(&x) - before).abs() < 1e-4);
    }

    proptest::proptest! {
        #[test]
        fn projection_of_any_finite_state_is_a_unit_vector(
            h in proptest::collection::vec(-1e3f32..1e3, 12..80),
            nonce in 0u32..1000,
        ) {
            let y = project_hidden_state(&h, BH, &pk(), nonce).unwrap();
            let picked: Vec<f32> = pick_indices(BH, &pk(), nonce, h.len(), K_DIM)
                .into_iter()
                .map(|j| h[j] / norm(&h))
                .collect();
            // Only a (near-)zero picked sub-vector cannot be normalised to length 1.
            proptest::prop_assume!(norm(&picked) > 1e-4);
            proptest::prop_assert!((norm(&y) - 1.0).abs() < 1e-4, "norm {}", norm(&y));
        }
    }

    const HOUSEHOLDER_L0_H8_BITS: [u32; 8] = [
        0x3d88_34d3,
        0x3db0_1bfa,
        0xbe93_54cb,
        0x3f2b_a394,
        0xbec2_0044,
        0x3e3c_e994,
        0x3e9f_bd6a,
        0x3ed9_c5a1,
    ];
    const PROJECTION_H64_N0_BITS: [u32; 12] = [
        0x3e84_fba4,
        0xbe3b_0d21,
        0x3d67_208c,
        0xbefc_0bca,
        0xbebd_a53f,
        0x3e50_95c0,
        0xbed8_d6fd,
        0x3ea7_10fc,
        0xbd9b_943f,
        0x3ec7_3c84,
        0xbe1f_7101,
        0xbdb3_8590,
    ];
}
