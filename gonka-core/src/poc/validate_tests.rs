use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::poc::compute::RoundParams;
use crate::poc::encoding::{decode_b64, encode_vector_b64, to_f16_le_bytes};
use crate::poc::mmr::Mmr;
use crate::poc::rng::{murmur, normals};
use crate::poc::sampling::sample_leaf_indices;
use crate::poc::tiny_model::TinyModel;
use crate::poc::transform::normalize;
use crate::poc::verdict::Decision;

const BH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
/// Leaves committed by the simulated prover.
const LEAVES: u32 = 2000;
/// Seeded trials per detection-power measurement.
const TRIALS: u64 = 1000;

fn model() -> TinyModel {
    TinyModel::new(16, 2, 11)
}

fn round() -> PocRound {
    let params = RoundParams {
        seq_len: 4,
        ..RoundParams::new(BH, format!("02{}", "11".repeat(32)))
    };
    PocRound::for_model(params, &model()).unwrap()
}

/// The true vectors of nonces `0..LEAVES`, computed once with the tiny model.
fn truth() -> &'static [[f32; K_DIM]] {
    static TRUTH: OnceLock<Vec<[f32; K_DIM]>> = OnceLock::new();
    TRUTH.get_or_init(|| {
        let nonces: Vec<Nonce> = (0..LEAVES).collect();
        recompute(&model(), &round(), &nonces)
            .unwrap()
            .into_iter()
            .map(|v| v.unwrap())
            .collect()
    })
}

/// A vector near `v`: Gaussian noise of standard deviation `sigma` per coordinate, renormalised
/// (what an honest prover on other hardware sends).
fn perturbed(v: &[f32; K_DIM], sigma: f32, seed: u32) -> [f32; K_DIM] {
    let noise = normals(seed, K_DIM);
    let mut out = *v;
    for (o, n) in out.iter_mut().zip(noise) {
        *o += sigma * n;
    }
    normalize(&mut out, 1e-8);
    out
}

/// A uniformly random unit vector (what a cheater sends instead of computing).
fn random_unit(seed: u32) -> [f32; K_DIM] {
    let mut v = [0f32; K_DIM];
    v.copy_from_slice(&normals(seed, K_DIM));
    normalize(&mut v, 1e-8);
    v
}

/// Per leaf, what an honest prover sends (the truth plus hardware-like noise, σ = 0.005 per
/// coordinate, L2 ≈ 0.02) and what a cheater sends (a random unit vector), encoded once.
fn encoded_leaves() -> &'static [(String, String)] {
    static LEAVES_B64: OnceLock<Vec<(String, String)>> = OnceLock::new();
    LEAVES_B64.get_or_init(|| {
        (0..LEAVES)
            .map(|i| {
                let seed = murmur(i, 0x5EED);
                (
                    encode_vector_b64(&perturbed(&truth()[i as usize], 0.005, seed)),
                    encode_vector_b64(&random_unit(seed ^ 0xFA4E)),
                )
            })
            .collect()
    })
}

/// What the prover sends for leaf (= nonce) `i` when `fake` are the leaves it did not compute.
fn sent(i: u32, fake: &HashSet<u32>) -> Artifact {
    let (honest, cheat) = &encoded_leaves()[i as usize];
    Artifact {
        nonce: i,
        vector_b64: if fake.contains(&i) { cheat } else { honest }.clone(),
    }
}

/// Runs `TRIALS` validations of a prover faking `fraction` of its leaves and returns how many
/// were judged fraud. Each trial draws its own fake set and its own sample.
fn fraud_rate(params: &ValidationParams, fraction: f64) -> f64 {
    let lookup = |nonces: &[Nonce]| Ok(nonces.iter().map(|&n| Some(truth()[n as usize])).collect());
    let n_fake = (fraction * f64::from(LEAVES)).round() as usize;
    let mut frauds = 0;
    for trial in 0..TRIALS {
        let fake: HashSet<u32> = sample_leaf_indices(trial ^ 0xFA4E, LEAVES, n_fake)
            .into_iter()
            .collect();
        let sample = sample_leaf_indices(trial, LEAVES, params.sample_size);
        let artifacts: Vec<Artifact> = sample.iter().map(|&i| sent(i, &fake)).collect();
        let items = score_artifacts(params, &artifacts, lookup).unwrap();
        if judge(params, &items).fraud_detected() {
            frauds += 1;
        }
    }
    eprintln!("fraction {fraction}: {frauds} of {TRIALS} trials judged fraud");
    frauds as f64 / TRIALS as f64
}

#[test]
fn honest_prover_with_hardware_noise_is_never_flagged() {
    // Measured: 0 of 1000 trials flagged (noise L2 ≈ 0.02 ≪ 0.4, so no mismatch at all).
    assert_eq!(fraud_rate(&ValidationParams::default(), 0.0), 0.0);
}

#[test]
fn ten_percent_random_vectors_are_caught_at_default_thresholds() {
    // Fraud from 10 mismatches of 200; under 10 % fakes the count is hypergeometric with mean
    // 20, P[< 10] ≤ 0.0036 (the binomial bound). Measured: 996 of 1000 trials caught.
    let rate = fraud_rate(&ValidationParams::default(), 0.10);
    assert!(rate >= 0.985, "detection rate {rate}");
}

#[test]
fn twenty_and_fifty_percent_random_vectors_are_always_caught() {
    // P[miss] ≤ 2.3e-10 at 20 % and far less at 50 %. Measured: 1000 of 1000 for both.
    assert_eq!(fraud_rate(&ValidationParams::default(), 0.20), 1.0);
    assert_eq!(fraud_rate(&ValidationParams::default(), 0.50), 1.0);
}

#[test]
fn upstream_chain_thresholds_let_ten_percent_fakes_through() {
    // Why our defaults differ: with p_mismatch = 0.1, α = 0.05 fraud needs ≥ 28 of 200, and
    // 10 % fakes give ≈ 20. Measured: 41 of 1000 trials caught (≈ α, i.e. chance level).
    let rate = fraud_rate(&ValidationParams::upstream_chain(), 0.10);
    assert!(rate < 0.15, "detection rate {rate}");
}

#[test]
fn honest_prover_with_one_percent_outliers_passes() {
    // An honest prover whose hardware puts 1 % of vectors beyond the threshold (they are fakes
    // here, which is the same to the validator): false-positive rate bound P[Bin(200,0.01) ≥ 10]
    // = 4e-5. Measured: 0 of 1000 flagged.
    assert_eq!(fraud_rate(&ValidationParams::default(), 0.01), 0.0);
}

#[test]
fn compare_uses_strict_threshold_and_flags_bad_vectors() {
    let v = truth()[3];
    let b64 = encode_vector_b64(&v);
    assert_eq!(compare(Some(&v), &b64, 0.0), Outcome::Match);
    assert!(matches!(
        compare(Some(&v), "AAAA", 0.4),
        Outcome::Mismatch(Mismatch::BadVector(_))
    ));
    assert!(matches!(
        compare(None, "!!", 0.4),
        Outcome::Mismatch(Mismatch::BadVector(_))
    ));
    assert_eq!(compare(None, &b64, 0.4), Outcome::Excluded);
    let far = encode_vector_b64(&v.map(|x| -x));
    assert!(
        matches!(compare(Some(&v), &far, 0.4), Outcome::Mismatch(Mismatch::Distance(d)) if d > 1.9)
    );
}

#[test]
fn duplicate_nonces_count_as_mismatches() {
    let params = ValidationParams::default();
    let a = sent(5, &HashSet::new());
    let artifacts = vec![a.clone(), a.clone(), a];
    let items = score_artifacts(&params, &artifacts, |n| {
        assert_eq!(n, [5], "each nonce is recomputed once");
        Ok(vec![Some(truth()[5])])
    })
    .unwrap();
    let v = judge(&params, &items);
    assert_eq!((v.n_total, v.n_mismatch), (3, 2));
    assert_eq!(v.mismatch_nonces, [5, 5]);
}

#[test]
fn validator_side_nan_is_excluded_and_wrong_recompute_length_is_an_error() {
    let params = ValidationParams::default();
    let artifacts: Vec<Artifact> = (0..4).map(|i| sent(i, &HashSet::new())).collect();
    let items = score_artifacts(&params, &artifacts, |n| {
        Ok(n.iter()
            .map(|&i| (i != 2).then(|| truth()[i as usize]))
            .collect())
    })
    .unwrap();
    let v = judge(&params, &items);
    assert_eq!((v.n_total, v.n_mismatch, v.n_excluded), (3, 0, 1));
    assert_eq!(v.decision, Decision::Valid);
    let err = score_artifacts(&params, &artifacts, |_| Ok(vec![])).unwrap_err();
    assert!(matches!(err, PocError::Model(_)), "{err}");
    let bad = ValidationParams {
        p_mismatch: 2.0,
        ..params
    };
    assert!(matches!(
        score_artifacts(&bad, &artifacts, |_| Ok(vec![])),
        Err(PocError::InvalidParams(_))
    ));
}

/// A prover that really commits: builds its MMR from what it sends and serves proofs.
struct Prover {
    mmr: Mmr,
    leaves: Vec<(Nonce, Vec<u8>)>,
}

impl Prover {
    fn new(leaves: u32, fake: &HashSet<u32>) -> Self {
        let mut mmr = Mmr::new();
        let leaves: Vec<(Nonce, Vec<u8>)> = (0..leaves)
            .map(|i| {
                let bytes = decode_b64(&sent(i, fake).vector_b64).unwrap();
                mmr.append(i, &bytes).unwrap();
                (i, bytes)
            })
            .collect();
        Self { mmr, leaves }
    }

    fn commitment(&self) -> Commitment {
        Commitment {
            root: self.mmr.root().unwrap(),
            count: self.mmr.len(),
        }
    }

    fn proofs(&self, indices: &[u32]) -> Vec<InclusionProof> {
        let count = self.mmr.len();
        indices
            .iter()
            .map(|&i| {
                let (nonce, bytes) = self.leaves[i as usize].clone();
                InclusionProof::build(&self.mmr, i, count, nonce, bytes).unwrap()
            })
            .collect()
    }
}

#[test]
fn end_to_end_honest_commitment_validates_and_faking_one_in_five_is_fraud() {
    let params = ValidationParams::default();
    let (model, round) = (model(), round());
    let sample = sample_leaf_indices(99, 600, params.sample_size);

    let honest = Prover::new(600, &HashSet::new());
    let v = validate_commitment(
        &model,
        &round,
        &params,
        &honest.commitment(),
        &sample,
        &honest.proofs(&sample),
    )
    .unwrap();
    assert_eq!(
        (v.n_total, v.n_mismatch, v.decision),
        (200, 0, Decision::Valid)
    );

    let fake: HashSet<u32> = (0..600).filter(|i| i % 5 == 0).collect();
    let cheat = Prover::new(600, &fake);
    let v = validate_commitment(
        &model,
        &round,
        &params,
        &cheat.commitment(),
        &sample,
        &cheat.proofs(&sample),
    )
    .unwrap();
    assert_eq!(v.decision, Decision::Fraud);
    let expected: Vec<u32> = sample.iter().copied().filter(|i| i % 5 == 0).collect();
    assert_eq!(v.mismatch_nonces, expected);
}

#[test]
fn proofs_that_are_missing_forged_or_duplicated_count_as_mismatches() {
    let honest = Prover::new(300, &HashSet::new());
    let commitment = honest.commitment();
    let requested: Vec<u32> = (0..10).collect();
    let mut proofs = honest.proofs(&requested);
    proofs.remove(1); // leaf 1: missing
    proofs[1].vector_bytes[0] ^= 1; // leaf 2: no longer matches the commitment
    proofs[2].vector_bytes = vec![0; 22]; // leaf 3: wrong length (and unproven)
    let extra = proofs[3].clone();
    proofs.push(InclusionProof {
        leaf_index: 99,
        ..extra
    }); // not requested: ignored
    let check = check_proofs(&commitment, &requested, &proofs);
    assert_eq!(check.proven.len(), 7);
    let failed: Vec<u32> = check.failures.iter().map(|f| f.0).collect();
    assert_eq!(failed, [1, 2, 3]);
    assert!(matches!(check.failures[0].2, Mismatch::MissingProof));
    assert!(matches!(check.failures[1].2, Mismatch::BadProof(_)));

    // The same leaf requested twice proves the same nonce twice: the second is a duplicate.
    let check = check_proofs(&commitment, &[4, 4], &honest.proofs(&[4]));
    assert_eq!(check.proven.len(), 1);
    assert!(matches!(check.failures[0].2, Mismatch::DuplicateNonce));
}

#[test]
fn leaf_with_undecodable_vector_is_proven_but_counts_as_mismatch() {
    let mut mmr = Mmr::new();
    mmr.append(1, &to_f16_le_bytes(&truth()[1])).unwrap();
    let nan = [0xFFu8; 24]; // every coordinate NaN
    mmr.append(2, &nan).unwrap();
    let commitment = Commitment {
        root: mmr.root().unwrap(),
        count: 2,
    };
    let proofs = vec![
        InclusionProof::build(&mmr, 0, 2, 1, to_f16_le_bytes(&truth()[1])).unwrap(),
        InclusionProof::build(&mmr, 1, 2, 2, nan.to_vec()).unwrap(),
    ];
    let check = check_proofs(&commitment, &[0, 1], &proofs);
    assert_eq!(check.proven.len(), 1);
    assert!(matches!(
        check.failures[0].2,
        Mismatch::BadVector(EncodingError::NonFinite { index: 0 })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proof_checking_never_panics_on_garbage(
        root in any::<[u8; 32]>(),
        count in any::<u32>(),
        requested in proptest::collection::vec(any::<u32>(), 0..8),
        proofs in proptest::collection::vec(
            (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..30),
             proptest::collection::vec(any::<[u8; 32]>(), 0..6)),
            0..8),
    ) {
        let proofs: Vec<InclusionProof> = proofs
            .into_iter()
            .map(|(leaf_index, nonce_value, vector_bytes, proof)| InclusionProof { leaf_index, nonce_value, vector_bytes, proof })
            .collect();
        let check = check_proofs(&Commitment { root, count }, &requested, &proofs);
        prop_assert_eq!(check.proven.len() + check.failures.len(), requested.len());
    }

    #[test]
    fn scoring_never_panics_on_garbage_vectors(texts in proptest::collection::vec(".{0,40}", 0..10)) {
        let params = ValidationParams::default();
        let artifacts: Vec<Artifact> = texts.into_iter().enumerate().map(|(i, t)| Artifact { nonce: i as u32, vector_b64: t }).collect();
        let items = score_artifacts(&params, &artifacts, |n| Ok(n.iter().map(|&i| Some(truth()[i as usize])).collect())).unwrap();
        let v = judge(&params, &items);
        prop_assert_eq!(v.n_total + v.n_excluded, artifacts.len());
    }
}
