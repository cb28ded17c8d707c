//! The [`PoCVerifier`] trait: checks Proof-of-Compute artifacts of one participant node.

use async_trait::async_trait;

use crate::Result;

/// The artifacts one node produced in an epoch and the parameters to judge them with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerificationRequest {
    /// Model the nonces were computed with.
    pub model: String,
    /// Block hash that seeds the computation.
    pub block_hash: String,
    /// Block height of the PoC stage.
    pub block_height: u64,
    /// Public key of the participant.
    pub public_key: String,
    /// Node number that produced the artifacts.
    pub node_id: u64,
    /// `(nonce, vector_b64)` pairs as received.
    pub artifacts: Vec<(u64, String)>,
    /// How many leaves to sample and recompute.
    pub sample_size: usize,
    /// L2 distance above which a recomputed vector counts as a mismatch.
    pub dist_threshold: f64,
    /// Expected honest mismatch probability (numeric noise).
    pub p_mismatch: f64,
    /// p-value below which the node is judged fraudulent.
    pub fraud_threshold: f64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Artifacts received.
    pub n_total: usize,
    /// Artifacts sampled and recomputed.
    pub n_sampled: usize,
    /// Sampled artifacts whose recomputation differs by more than the threshold.
    pub n_mismatch: usize,
    /// Nonces that mismatched.
    pub mismatch_nonces: Vec<u64>,
    /// One-sided binomial p-value of `n_mismatch` under `p_mismatch`.
    pub p_value: f64,
    /// Whether `p_value < fraud_threshold`.
    pub fraud_detected: bool,
}

/// Recomputes sampled nonces of a participant and judges them.
///
/// Contract: deterministic for the same request (the sample is drawn from a seeded shuffle);
/// never panics on malformed artifacts (they count as mismatches).
#[async_trait]
pub trait PoCVerifier: Send + Sync + std::fmt::Debug {
    /// Verifies the artifacts in `request`.
    ///
    /// # Errors
    /// `Engine` when the compute backend is unavailable.
    async fn verify(&self, request: &VerificationRequest) -> Result<Verdict>;
}
