//! Sampled validation of a prover (docs/poc-v2.md §6): proof checks on the network-node side,
//! recomputation and scoring on the ML-node side, one binomial test over both.
//!
//! How each sampled item counts (our choice where upstream's sides disagree, see
//! [`crate::poc`] DEVIATIONS):
//!
//! | item | counts as |
//! |---|---|
//! | received vector within `dist_threshold` of the recomputed one | match |
//! | farther than `dist_threshold` (strict `>`) | mismatch |
//! | no proof for a requested leaf, failing proof | mismatch |
//! | vector not 24 bytes, bad base64, NaN/Inf coordinate | mismatch |
//! | a nonce already seen earlier in the sample | mismatch |
//! | the validator's own recomputation is NaN (dropped) | excluded from `n_total` |
//!
//! Everything the prover cannot back counts against it (an honest prover can always prove and
//! encode its leaves, so this adds no false positives); the validator's own failures leave the
//! sample (so they cannot hide mismatches by inflating `n_total`), and too many of them make the
//! verdict inconclusive rather than punishing the prover.

use std::collections::{HashMap, HashSet};

use super::compute::{Artifact, HiddenStateModel, PocRound};
use super::encoding::{decode_vector_b64, quantize_f16, EncodingError, K_DIM};
use super::error::PocError;
use super::mmr::{Hash, InclusionProof, ProofError};
use super::params::ValidationParams;
use super::stats::l2_distance;
use super::verdict::Verdict;
use super::Nonce;

/// A prover's on-chain commitment for one model: MMR root over its first `count` leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment {
    /// The committed root.
    pub root: Hash,
    /// The committed leaf count.
    pub count: u32,
}

/// Why a sampled item counts as a mismatch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The received vector is this far (L2) from the recomputed one.
    Distance(f64),
    /// The received vector could not be decoded.
    BadVector(EncodingError),
    /// The prover sent no proof for the requested leaf.
    MissingProof,
    /// The proof does not verify against the commitment.
    BadProof(ProofError),
    /// The nonce appeared earlier in the sample.
    DuplicateNonce,
}

/// How one sampled item was scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Within the distance threshold.
    Match,
    /// Counts against the prover.
    Mismatch(Mismatch),
    /// Not scored: the validator's own recomputation was dropped (NaN).
    Excluded,
}

/// Scores one received vector against the validator's recomputation (`None` = dropped).
/// The validator's vector goes through float16 first, as the prover's did.
pub fn compare(
    expected: Option<&[f32; K_DIM]>,
    received_b64: &str,
    dist_threshold: f64,
) -> Outcome {
    let received = match decode_vector_b64(received_b64) {
        Ok(v) => v,
        Err(e) => return Outcome::Mismatch(Mismatch::BadVector(e)),
    };
    let Some(expected) = expected else {
        return Outcome::Excluded;
    };
    let d = l2_distance(&quantize_f16(expected), &received);
    if d > dist_threshold {
        Outcome::Mismatch(Mismatch::Distance(d))
    } else {
        Outcome::Match
    }
}

/// Judges scored items: counts, binomial p-value and decision (see [`Verdict::from_counts`]).
pub fn judge(params: &ValidationParams, items: &[(Option<Nonce>, Outcome)]) -> Verdict {
    let (mut n_total, mut n_mismatch, mut n_excluded) = (0, 0, 0);
    let mut mismatch_nonces = Vec::new();
    for (nonce, outcome) in items {
        match outcome {
            Outcome::Match => n_total += 1,
            Outcome::Mismatch(_) => {
                n_total += 1;
                n_mismatch += 1;
                mismatch_nonces.extend(*nonce);
            }
            Outcome::Excluded => n_excluded += 1,
        }
    }
    Verdict::from_counts(params, n_total, n_mismatch, n_excluded, mismatch_nonces)
}

/// Scores received artifacts against recomputed vectors (ML-node side, §6.2).
///
/// `recompute` gets the distinct nonces to recompute and must return one entry per nonce, in
/// order (`None` where the validator's own result is NaN). A nonce repeated in `artifacts`
/// counts as a mismatch from its second occurrence on.
///
/// # Errors
/// [`PocError::InvalidParams`] for bad `params`; `recompute`'s error; [`PocError::Model`] when
/// it returns the wrong number of vectors.
pub fn score_artifacts(
    params: &ValidationParams,
    artifacts: &[Artifact],
    recompute: impl FnOnce(&[Nonce]) -> Result<Vec<Option<[f32; K_DIM]>>, PocError>,
) -> Result<Vec<(Option<Nonce>, Outcome)>, PocError> {
    params.check()?;
    let mut seen = HashSet::new();
    let first: Vec<bool> = artifacts.iter().map(|a| seen.insert(a.nonce)).collect();
    let nonces: Vec<Nonce> = artifacts
        .iter()
        .zip(&first)
        .filter(|(_, &f)| f)
        .map(|(a, _)| a.nonce)
        .collect();
    let vectors = recompute(&nonces)?;
    if vectors.len() != nonces.len() {
        return Err(PocError::model(format!(
            "recomputation returned {} vectors for {} nonces",
            vectors.len(),
            nonces.len()
        )));
    }
    let expected: HashMap<Nonce, Option<[f32; K_DIM]>> = nonces.into_iter().zip(vectors).collect();
    Ok(artifacts
        .iter()
        .zip(first)
        .map(|(a, first)| {
            let outcome = if first {
                let exp = expected.get(&a.nonce).copied().flatten();
                compare(exp.as_ref(), &a.vector_b64, params.dist_threshold)
            } else {
                Outcome::Mismatch(Mismatch::DuplicateNonce)
            };
            (Some(a.nonce), outcome)
        })
        .collect())
}

/// Recomputes every artifact's nonce with `model` and judges the prover (the ML-node side of
/// validation, what `/generate` with `validation` does upstream).
///
/// # Errors
/// As [`score_artifacts`], plus the model's errors.
pub fn validate_artifacts<M: HiddenStateModel + ?Sized>(
    model: &M,
    round: &PocRound,
    params: &ValidationParams,
    artifacts: &[Artifact],
) -> Result<Verdict, PocError> {
    let items = score_artifacts(params, artifacts, |nonces| recompute(model, round, nonces))?;
    Ok(judge(params, &items))
}

/// Recomputes the float32 vectors of `nonces` in one batch (`None` for dropped nonces).
///
/// # Errors
/// The model's errors, or a wrongly sized hidden state.
pub fn recompute<M: HiddenStateModel + ?Sized>(
    model: &M,
    round: &PocRound,
    nonces: &[Nonce],
) -> Result<Vec<Option<[f32; K_DIM]>>, PocError> {
    let inputs: Vec<Vec<f32>> = nonces.iter().map(|&n| round.input_embeddings(n)).collect();
    let states = model.last_hidden_states(&inputs, round.params().seq_len, round.reflections())?;
    if states.len() != nonces.len() {
        return Err(PocError::model(format!(
            "model returned {} hidden states for {} nonces",
            states.len(),
            nonces.len()
        )));
    }
    nonces
        .iter()
        .zip(&states)
        .map(|(&n, h)| round.project(n, h))
        .collect()
}

/// The network-node side of §6.1: which requested leaves the prover proved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProofCheck {
    /// Proven leaves as artifacts, in request order, ready to be recomputed.
    pub proven: Vec<Artifact>,
    /// Requested leaves that count as mismatches without recomputation, with their nonce when
    /// the prover named one.
    pub failures: Vec<(u32, Option<Nonce>, Mismatch)>,
}

impl ProofCheck {
    /// The failures as `(nonce, outcome)` items for [`judge`] or
    /// [`Verdict::with_extra_mismatches`].
    pub fn failure_items(&self) -> Vec<(Option<Nonce>, Outcome)> {
        self.failures
            .iter()
            .map(|(_, nonce, m)| (*nonce, Outcome::Mismatch(m.clone())))
            .collect()
    }
}

/// Checks the prover's proofs for the `requested` leaf indices against `commitment`: each
/// requested index needs a proof that verifies, a vector that decodes, and a nonce not seen
/// before in the sample. Proofs for indices that were not requested are ignored; of several
/// proofs for one index the first is used. Never panics.
pub fn check_proofs(
    commitment: &Commitment,
    requested: &[u32],
    proofs: &[InclusionProof],
) -> ProofCheck {
    let mut by_index: HashMap<u32, &InclusionProof> = HashMap::with_capacity(proofs.len());
    for p in proofs {
        by_index.entry(p.leaf_index).or_insert(p);
    }
    let mut seen = HashSet::new();
    let mut check = ProofCheck::default();
    for &index in requested {
        let Some(p) = by_index.get(&index) else {
            check.failures.push((index, None, Mismatch::MissingProof));
            continue;
        };
        let nonce = Some(p.nonce_value);
        if let Err(e) = p.verify(&commitment.root, commitment.count) {
            check.failures.push((index, nonce, Mismatch::BadProof(e)));
        } else if !seen.insert(p.nonce_value) {
            check
                .failures
                .push((index, nonce, Mismatch::DuplicateNonce));
        } else if let Err(e) = super::encoding::decode_vector_bytes(&p.vector_bytes) {
            check.failures.push((index, nonce, Mismatch::BadVector(e)));
        } else {
            check.proven.push(Artifact {
                nonce: p.nonce_value,
                vector_b64: super::encoding::encode_b64(&p.vector_bytes),
            });
        }
    }
    check
}

/// The whole validation of one prover in one place: check the proofs of the `requested` leaves
/// against `commitment`, recompute the proven ones with `model`, count proof failures as
/// mismatches, judge.
///
/// # Errors
/// As [`validate_artifacts`].
pub fn validate_commitment<M: HiddenStateModel + ?Sized>(
    model: &M,
    round: &PocRound,
    params: &ValidationParams,
    commitment: &Commitment,
    requested: &[u32],
    proofs: &[InclusionProof],
) -> Result<Verdict, PocError> {
    let check = check_proofs(commitment, requested, proofs);
    let mut items = check.failure_items();
    items.extend(score_artifacts(params, &check.proven, |nonces| {
        recompute(model, round, nonces)
    })?);
    Ok(judge(params, &items))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
