//! Proof-of-Compute v2 (the "prefill scheme" of `docs/poc-v2.md` §1–§7): pure maths and
//! formats, no I/O. Everything a prover, a receiver and a validator compute, except running the
//! model itself, which sits behind [`compute::HiddenStateModel`].
//!
//! # Map
//!
//! | step | module |
//! |---|---|
//! | seed strings, SHA-256 seeds, murmur3 variant, float32 Box–Muller normals | [`seeds`], [`rng`] |
//! | which nonces a node/engine computes | [`nonce`] |
//! | per nonce: input → model (per-layer reflections) → hidden state → 12-d vector | [`compute`], [`transform`] |
//! | 12 × f16 LE → base64 and back | [`encoding`] |
//! | commitment: Merkle mountain range, inclusion proofs (serde wire shape) | [`mmr`] |
//! | validation: leaf sampling, proof checks, recompute, score, binomial test | [`sampling`], [`validate`], [`stats`], [`params`], [`verdict`] |
//! | a [`crate::PoCVerifier`] over a local model | [`model_verifier`] |
//! | weight from committed counts | [`weights`] |
//! | tiny deterministic CPU models for devnets and tests | [`tiny_model`] |
//! | pluggable compute backends ([`PocCompute`], [`PreparedRound`]) and the CPU one ([`TinyModelCompute`]) | [`backend`] |
//! | JSON of the ML node's PoC endpoints and the `generated` callback | [`wire`] |
//!
//! A prover: `PocRound::for_model(params, &model)?` once per round, then
//! `round.compute_artifacts(&model, &assignment.batch(b, 32))?`; the receiver appends each
//! artifact to an [`mmr::Mmr`] and commits `(root, count)`. A validator:
//! [`sampling::sample_leaf_indices`] → fetch [`mmr::InclusionProof`]s →
//! [`validate::check_proofs`] → recompute the proven ones ([`crate::PoCVerifier`] or
//! [`validate::validate_artifacts`]) → [`verdict::Verdict::with_extra_mismatches`] for the proof
//! failures → [`verdict::Verdict::vote`]. [`validate::validate_commitment`] does all of it in one
//! call.
//!
//! # Known-answer tests
//!
//! Every test value printed in docs/poc-v2.md is a test here (seeds, murmur, uniforms, normals for
//! n = 8 and 5, stronger-RNG sub-seeds, pick indices for H = 4096 and 7168, layer/Haar seeds).
//! Where the document gives none (Householder vector, projection, end-to-end vector, encoding,
//! MMR roots, leaf sample) the vectors come from `poc/kat/poc_v2_reference.py`, an independent
//! standard-library Python implementation of the spec that emulates float32 rounding per
//! operation; run it to regenerate them.
//!
//! # DEVIATIONS from docs/poc-v2.md, and why
//!
//! 1. **Leaf sampling stream** (§6.1): the seed is derived exactly as upstream, but the shuffle
//!    draws from SplitMix64 with unbiased bounded draws instead of Go's `math/rand` (whose
//!    607-entry seeded table is not reproduced, §11.5). Only the validator depends on its own
//!    sample, so provers and the chain are unaffected; the sample stays unpredictable before
//!    the sampling block.
//! 2. **Default thresholds** ([`params`]): `dist_threshold 0.4, p_mismatch 0.02,
//!    fraud_threshold 0.01, sample 200` instead of the chain's `0.4 / 0.1 / 0.05` (of which the
//!    ML node really applies 0.01) or the ML node's `0.02 / 0.001 / 0.01`. With `p_mismatch =
//!    0.1` a prover faking 10 % of its nonces passes ≈ 96–99 % of the time; ours catches it
//!    ≥ 99.6 % of the time and still tolerates a 1–2 % honest outlier rate. Upstream's sets are
//!    available as [`params::ValidationParams::upstream_chain`] and `upstream_ml_node`. The
//!    chain's `stat_test.p_value_threshold` is accepted as an alias of `fraud_threshold`, so
//!    the value the network node sends takes effect (upstream drops it, §6.3, §11.4).
//! 3. **What counts as a mismatch** ([`validate`]): a missing or failing proof, a vector that is
//!    not 24 bytes / not base64 / has a NaN or Inf coordinate, and a nonce repeated within the
//!    sample all count as mismatches in one binomial test. Upstream's network node instead
//!    votes −1 outright on any proof failure or duplicate, and its ML node counts only
//!    undecodable vectors. Counting them is statistically sound (an honest prover never
//!    produces them, so no false positives are added) and keeps one decision rule; a caller
//!    that wants upstream's strictness rejects when [`validate::ProofCheck::failures`] is
//!    non-empty.
//! 4. **Validator-side NaN** (§6.2): nonces the validator's own recomputation drops are
//!    excluded from `n_total` (as gonka-vllm-plugins), not kept in it (as gonka-ai/vllm, which
//!    dilutes the mismatch rate); more than `max(1, ⌊0.1·n⌋)` exclusions, or nothing scored,
//!    make the verdict `Inconclusive` with no vote ([`verdict::Verdict::vote`] is `None`),
//!    where upstream votes −1 for `n_total = 0` and so punishes provers for the validator's
//!    failure. A sample that already proves fraud stays `Fraud`.
//! 5. **Float details**: log/cos/sin are correctly rounded CPU values (double evaluation, one
//!    rounding, portable `libm`), reductions are sequential float32; CUDA's libdevice and tree
//!    reductions may differ by an ulp (§1.4, §11.7) — far inside every threshold, and upstream
//!    does not require bitwise equality. The L2 distance is evaluated in f64 (upstream: f32),
//!    which only matters at the threshold to within float32 rounding.
//! 6. **Nonce type**: [`Nonce`] is `u32` bounded by [`MAX_NONCE`] = `i32::MAX` (the network
//!    node's int32 storage); nonce iterators stop there.
//! 7. **NaN nonces** (§2.9): a prover drops only the affected nonce (the main-line behaviour),
//!    not the whole batch (branch `fi/nan-poc-rejection`).
//! 8. **Model dtype**: inputs and reflections are handed to the model in float32; casting to
//!    the model dtype (bf16) and applying reflections in that dtype is the model runner's job
//!    ([`compute::HiddenStateModel`] docs).
//! 9. **Not implemented here**: the porosity check (`max|nonce| / count ≥ 100`, §6.1 — a
//!    whole-prover rule the caller can apply to the proven nonces), the SMST commitment of
//!    v0.2.14 (§5.2), the decode scheme (§8), PoC v1 (§9), request/response signatures (§5.1),
//!    and the KV-scratch input path that ignores `poc_stronger_rng` (§11.2).
//! 10. **Proof length**: an inclusion proof must have exactly `height + peaks − 1` hashes;
//!     upstream's verifier ignores trailing extras. Honest proofs are exact either way.
//! 11. **Unverified upstream detail we follow as written**: the order of the 12 picked
//!     coordinates (§2.5, §11.1) is the spec's reading of CUDA `topk(sorted=False)`; it has
//!     not been checked on a GPU and changes every vector if wrong.

pub mod backend;
pub mod compute;
mod compute_verifier;
pub mod encoding;
pub mod error;
pub mod mmr;
pub mod model_verifier;
pub mod nonce;
pub mod params;
pub mod rng;
pub mod sampling;
pub mod seeds;
mod serde_b64;
pub mod stats;
pub mod tiny_model;
pub mod transform;
pub mod validate;
pub mod verdict;
pub mod weights;
pub mod wire;

pub use backend::{ModelRound, PocCompute, PreparedRound, TinyModelCompute};
pub use compute_verifier::ComputeVerifier;

/// A PoC nonce. Nonces are non-negative; the network node stores them as int32, so valid
/// nonces are at most [`MAX_NONCE`]. Commitments encode them as little-endian `u32`.
pub type Nonce = u32;

/// The largest nonce the network accepts (`i32::MAX`, the network node's storage type).
pub const MAX_NONCE: Nonce = i32::MAX as Nonce;
