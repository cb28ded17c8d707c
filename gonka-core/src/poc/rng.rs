//! The deterministic random numbers of PoC v2 (docs/poc-v2.md §1.1–§1.4, §1.6).
//!
//! Everything here is a pure function of its arguments and bit-identical on every platform:
//! integer parts use exact `u32` arithmetic, and the float32 Box–Muller transform evaluates
//! `log`, `cos` and `sin` in double precision with the portable [`libm`] crate and rounds the
//! result to float32 once, which is the "correctly rounded" float32 value the specification's
//! test values were computed with (the reference GPU code may differ by one ulp in rare
//! elements; upstream neither requires nor checks bitwise equality).

use sha2::{Digest, Sha256};

/// 2π rounded to float32 (6.2831855), the constant of the reference Box–Muller transform.
const TWO_PI_F32: f32 = std::f32::consts::TAU;
/// The floor applied to the first uniform before taking its logarithm.
const U1_FLOOR: f32 = 1e-10;
/// 2³² as float32 (a power of two: dividing by it is exact).
const TWO_POW_32: f32 = 4_294_967_296.0;

/// The 32-bit seed of a seed string: the first 4 bytes of SHA-256(`s`) read big-endian
/// (equivalently, the first 8 hex digits of the digest).
///
/// `seed_from_str("abc") == 0xBA78_16BF`.
pub fn seed_from_str(s: &str) -> u32 {
    let digest = Sha256::digest(s.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The eight 32-bit sub-seeds of the stronger RNG (§1.6): SHA-256(`s`) split into eight
/// big-endian `u32`s. The first equals [`seed_from_str`]`(s)`.
pub fn sub_seeds_from_str(s: &str) -> [u32; 8] {
    let digest = Sha256::digest(s.as_bytes());
    let mut seeds = [0u32; 8];
    for (c, chunk) in digest.chunks_exact(4).enumerate() {
        seeds[c] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    seeds
}

/// The murmur3-32 variant of §1.2: one 4-byte block `key` hashed with `seed`, and the standard
/// finaliser **without** the length mix-in (so it differs from MurmurHash3_x86_32).
pub fn murmur(key: u32, seed: u32) -> u32 {
    let mut k = key.wrapping_mul(0xCC9E_2D51);
    k = k.rotate_left(15);
    k = k.wrapping_mul(0x1B87_3593);

    let mut h = seed ^ k;
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xE654_6B64);

    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    h
}

/// The uniform `U[i] = f32(mm(i, seed)) / 2³²` (§1.3), in `[0, 1]` (exactly 1.0 is possible
/// because the conversion to float32 rounds to nearest).
pub fn uniform(seed: u32, i: u32) -> f32 {
    // `as f32` rounds to nearest, ties to even, like the reference's int64 → float32 cast.
    murmur(i, seed) as f32 / TWO_POW_32
}

/// The first `m` uniforms `U(seed, m)` of §1.3.
///
/// Indices wrap at 2³² like the reference's u32 arithmetic; callers never ask for that many.
pub fn uniforms(seed: u32, m: usize) -> Vec<f32> {
    (0..m).map(|i| uniform(seed, i as u32)).collect()
}

/// `N(seed, n)`: `n` standard normals by float32 Box–Muller over `U(seed, 2·⌈n/2⌉)` (§1.4).
///
/// The first half of the uniforms are the radii inputs and the second half the angles (not
/// interleaved); the output is all cosine outputs followed by all sine outputs, truncated to
/// `n` (an odd `n` drops the last sine), so `N(seed, 5)` is not a prefix of `N(seed, 8)`.
pub fn normals(seed: u32, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    normals_into(seed, n, &mut out);
    out
}

/// Appends `N(seed, n)` to `out` (see [`normals`]); avoids an allocation per segment.
pub fn normals_into(seed: u32, n: usize, out: &mut Vec<f32>) {
    let p = n.div_ceil(2);
    let sines = n - p;
    out.reserve(n);
    // Cosine outputs go straight to `out`; the sine outputs (the second half) are buffered so
    // each pair's logarithm and angle are computed once.
    let mut second_half = Vec::with_capacity(sines);
    for i in 0..p {
        let (r, theta) = polar(seed, i, p);
        out.push(r * cos_f32(theta));
        if i < sines {
            second_half.push(r * sin_f32(theta));
        }
    }
    out.extend_from_slice(&second_half);
}

/// The stronger-RNG stream of §1.6 for the seed string `s`: `m` normals made of eight segments
/// of `⌈m/8⌉` values, segment `c` drawn as `N(sub_seed[c], len_c)`.
pub fn stronger_normals(s: &str, m: usize) -> Vec<f32> {
    let seeds = sub_seeds_from_str(s);
    let g = m.div_ceil(8);
    let mut out = Vec::with_capacity(m);
    for (c, &sub_seed) in seeds.iter().enumerate() {
        let begin = c * g;
        if begin >= m {
            break;
        }
        normals_into(sub_seed, g.min(m - begin), &mut out);
    }
    out
}

/// Radius and angle of Box–Muller pair `i` of `p` pairs, every operation in float32.
fn polar(seed: u32, i: usize, p: usize) -> (f32, f32) {
    let u1 = uniform(seed, i as u32).max(U1_FLOOR);
    let u2 = uniform(seed, (p + i) as u32);
    let r = (-2.0f32 * ln_f32(u1)).sqrt();
    let theta = TWO_PI_F32 * u2;
    (r, theta)
}

/// Natural logarithm of a float32, correctly rounded (double evaluation, one rounding).
fn ln_f32(x: f32) -> f32 {
    libm::log(f64::from(x)) as f32
}

/// Cosine of a float32, correctly rounded (double evaluation, one rounding).
fn cos_f32(x: f32) -> f32 {
    libm::cos(f64::from(x)) as f32
}

/// Sine of a float32, correctly rounded (double evaluation, one rounding).
fn sin_f32(x: f32) -> f32 {
    libm::sin(f64::from(x)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const BH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

    fn pk() -> String {
        format!("02{}", "11".repeat(32))
    }

    fn nonce0() -> String {
        format!("{BH}_{}_nonce0", pk())
    }

    fn assert_close(actual: &[f32], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            // The spec prints 8 decimals of the float32 values: 1e-7 absolute is one ulp-ish.
            assert!(
                (f64::from(a) - e).abs() < 1e-7,
                "element {i}: got {a}, expected {e}"
            );
        }
    }

    #[test]
    fn seed_is_first_four_digest_bytes_big_endian() {
        assert_eq!(seed_from_str("abc"), 0xBA78_16BF);
        assert_eq!(seed_from_str("abc"), 3_128_432_319);
    }

    #[test]
    fn seeds_match_spec_test_values() {
        assert_eq!(seed_from_str(&nonce0()), 888_438_895);
        assert_eq!(
            seed_from_str(&format!("{BH}_layer_0_householder")),
            242_248_368
        );
        assert_eq!(
            seed_from_str(&format!("{BH}_{}_nonce_0_haar_hh_12_0", pk())),
            4_073_434_872
        );
        assert_eq!(
            seed_from_str(&format!("{BH}_{}_nonce_0_pick_12", pk())),
            961_696_344
        );
    }

    #[test]
    fn murmur_variant_matches_spec_vectors_and_differs_from_standard() {
        assert_eq!(murmur(0, 0), 0xFF19_274A);
        assert_eq!(murmur(1, 0), 0x87BE_548A);
        assert_eq!(murmur(0, 1), 0xAD0A_F653);
        assert_ne!(
            murmur(0, 0),
            0x2362_F9DE,
            "standard murmur3 mixes in the length"
        );
    }

    #[test]
    fn uniforms_match_spec_test_values_exactly() {
        let u = uniforms(888_438_895, 4);
        // The spec's values are the exact float32 values printed as doubles.
        let expected = [
            0.4886111915111542f64,
            0.14201585948467255,
            0.5209766626358032,
            0.5249677896499634,
        ];
        for (a, e) in u.iter().zip(expected) {
            assert_eq!(f64::from(*a), e);
        }
    }

    #[test]
    fn uniform_can_round_up_to_exactly_one() {
        // Any u32 ≥ 2³² − 128 rounds to 2³² in float32.
        assert_eq!(u32::MAX as f32 / TWO_POW_32, 1.0);
    }

    #[test]
    fn normals_match_spec_test_values_for_even_n() {
        assert_close(
            &normals(888_438_895, 8),
            &[
                0.52328193,
                -1.25539505,
                -1.01531279,
                -1.00912166,
                -1.07636082,
                1.52565277,
                0.52272338,
                0.52010584,
            ],
        );
    }

    #[test]
    fn normals_match_spec_test_values_for_odd_n_with_different_pairing() {
        assert_close(
            &normals(888_438_895, 5),
            &[
                -1.18212235,
                0.86385661,
                -0.72560680,
                -0.18698469,
                -1.77690327,
            ],
        );
    }

    #[test]
    fn normals_of_zero_and_one_are_well_formed() {
        assert!(normals(1, 0).is_empty());
        let one = normals(888_438_895, 1);
        assert_eq!(one.len(), 1);
        // n = 1 uses the pair (U[0], U[1]) and keeps only the cosine.
        let u = uniforms(888_438_895, 2);
        let r = (-2.0f32 * ln_f32(u[0])).sqrt();
        assert_eq!(one[0], r * cos_f32(TWO_PI_F32 * u[1]));
    }

    #[test]
    fn two_pi_constant_is_the_float32_rounding() {
        assert_eq!(TWO_PI_F32, 6.283_185_5_f32);
        assert_eq!(TWO_PI_F32, (2.0 * std::f64::consts::PI) as f32);
    }

    #[test]
    fn stronger_rng_sub_seeds_match_spec() {
        assert_eq!(
            sub_seeds_from_str(&nonce0()),
            [
                888_438_895,
                1_823_457_763,
                2_004_195_567,
                3_727_156_272,
                3_791_227_612,
                3_492_421_836,
                2_810_088_525,
                4_042_091_336
            ]
        );
    }

    #[test]
    fn stronger_normals_are_per_segment_box_muller() {
        let s = nonce0();
        let seeds = sub_seeds_from_str(&s);
        // m = 19: g = 3, segments 0..=6 of 3 values and none for c = 7 (7·3 = 21 ≥ 19)...
        // except segment 6 which holds 19 − 18 = 1 value.
        let out = stronger_normals(&s, 19);
        assert_eq!(out.len(), 19);
        assert_eq!(&out[0..3], normals(seeds[0], 3).as_slice());
        assert_eq!(&out[15..18], normals(seeds[5], 3).as_slice());
        assert_eq!(&out[18..19], normals(seeds[6], 1).as_slice());
        assert!(stronger_normals(&s, 0).is_empty());
    }

    #[test]
    fn normals_look_standard_normal() {
        let z = normals(12_345, 20_000);
        let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / z.len() as f64;
        let var = z
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / z.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(z.iter().all(|v| v.is_finite()));
    }
}
