//! Which committed leaves a validator checks (docs/poc-v2.md §6.1): a seeded partial Fisher–Yates
//! shuffle of the leaf indices.
//!
//! The seed is derived exactly as upstream: the first 8 bytes (big-endian) of
//! SHA-256(`"{validatorPubKeyHex}:{samplingBlockHash}:{pocStageHeight}:{modelId}"`), where the
//! sampling block hash is the block current when validation starts (unknown to the prover when
//! it commits). The random stream is **not** Go's `math/rand` (see the module DEVIATIONS in
//! [`crate::poc`]): it is SplitMix64 with unbiased bounded draws (Lemire's multiply-and-reject),
//! which is simple to reproduce in any language. Only the validator itself depends on the
//! sample, so this changes nothing for provers or for the chain.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// The sampling seed of one validator for one prover's commitment.
pub fn sampling_seed(
    validator_public_key: &str,
    sampling_block_hash: &str,
    poc_stage_height: u64,
    model_id: &str,
) -> u64 {
    let text =
        format!("{validator_public_key}:{sampling_block_hash}:{poc_stage_height}:{model_id}");
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed 64-bit generator.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..bound` without modulo bias (Lemire's method on the high
    /// 32 bits of each draw); 0 when `bound` is 0.
    pub fn below(&mut self, bound: u32) -> u32 {
        if bound == 0 {
            return 0;
        }
        let threshold = bound.wrapping_neg() % bound; // 2³² mod bound
        loop {
            let x = (self.next_u64() >> 32) as u32;
            let m = u64::from(x) * u64::from(bound);
            if (m as u32) >= threshold {
                return (m >> 32) as u32;
            }
        }
    }
}

/// The leaf indices to check among `count` committed leaves: all of `0..count` in order when
/// `count ≤ sample_size`, else `sample_size` distinct indices from a lazy Fisher–Yates shuffle
/// (`j = i + below(count − i)`, swap `i`/`j` in a sparse map, emit position `i`). Memory and
/// time are `O(sample_size)` whatever `count` is.
pub fn sample_leaf_indices(seed: u64, count: u32, sample_size: usize) -> Vec<u32> {
    if count as usize <= sample_size {
        return (0..count).collect();
    }
    let mut rng = SplitMix64::new(seed);
    let mut swapped: HashMap<u32, u32> = HashMap::with_capacity(sample_size * 2);
    let mut out = Vec::with_capacity(sample_size);
    for i in 0..sample_size as u32 {
        let j = i + rng.below(count - i);
        let at_j = *swapped.get(&j).unwrap_or(&j);
        let at_i = *swapped.get(&i).unwrap_or(&i);
        swapped.insert(j, at_i);
        out.push(at_j);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn seed_is_the_first_eight_digest_bytes_big_endian() {
        let digest = Sha256::digest(b"02aa:BLOCK:100:Qwen/Qwen3-235B");
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(
            sampling_seed("02aa", "BLOCK", 100, "Qwen/Qwen3-235B"),
            expected
        );
    }

    #[test]
    fn splitmix_known_answer() {
        // Reference outputs of SplitMix64 seeded with 1234567 (the sequence published with
        // the algorithm's reference C code by S. Vigna, prng.di.unimi.it/splitmix64.c).
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn sample_known_answer_from_the_python_transcription() {
        // poc/kat/poc_v2_reference.py (`sample`), a separate transcription of this algorithm.
        let seed = sampling_seed("02aa", "BLOCK", 100, "Qwen/Qwen3-235B");
        assert_eq!(seed, 8_244_305_209_196_547_753);
        assert_eq!(
            sample_leaf_indices(seed, 1000, 12),
            [504, 630, 844, 709, 472, 387, 34, 414, 969, 107, 163, 233]
        );
    }

    #[test]
    fn small_commitments_are_checked_completely() {
        assert_eq!(sample_leaf_indices(9, 5, 200), [0, 1, 2, 3, 4]);
        assert!(sample_leaf_indices(9, 0, 200).is_empty());
    }

    #[test]
    fn sample_is_deterministic_and_depends_on_the_seed() {
        let a = sample_leaf_indices(42, 100_000, 200);
        assert_eq!(a, sample_leaf_indices(42, 100_000, 200));
        assert_ne!(a, sample_leaf_indices(43, 100_000, 200));
    }

    #[test]
    fn every_leaf_is_about_equally_likely() {
        // 4000 samples of 10 out of 40: each leaf expected 1000 times (sd ≈ 27).
        let mut hits = [0u32; 40];
        for seed in 0..4000 {
            for i in sample_leaf_indices(seed, 40, 10) {
                hits[i as usize] += 1;
            }
        }
        assert!(hits.iter().all(|&h| (850..1150).contains(&h)), "{hits:?}");
    }

    proptest! {
        #[test]
        fn sample_has_distinct_in_range_indices(seed in any::<u64>(), count in 0u32..5000, size in 0usize..300) {
            let s = sample_leaf_indices(seed, count, size);
            prop_assert_eq!(s.len(), size.min(count as usize));
            prop_assert!(s.iter().all(|&i| i < count));
            prop_assert_eq!(s.iter().collect::<HashSet<_>>().len(), s.len());
        }

        #[test]
        fn bounded_draws_stay_below_the_bound(seed in any::<u64>(), bound in 1u32..=u32::MAX) {
            let mut rng = SplitMix64::new(seed);
            for _ in 0..8 {
                prop_assert!(rng.below(bound) < bound);
            }
        }
    }
}
