//! The [`PoCVerifier`] trait: recomputes a prover's sampled PoC artifacts and judges them
//! (the ML-node side of docs/poc-v2.md §6.2). The maths lives in [`crate::poc`]; an implementation
//! only has to run a model ([`crate::poc::compute::HiddenStateModel`]) and call
//! [`crate::poc::validate::validate_artifacts`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::poc::compute::{Artifact, RoundParams};
use crate::poc::params::ValidationParams;
use crate::Result;

pub use crate::poc::verdict::{Decision, Verdict};

/// One prover's sampled artifacts and how to judge them.
///
/// The network node builds it after sampling the prover's commitment and checking the proofs
/// ([`crate::poc::validate::check_proofs`]): `artifacts` are the proven leaves. Leaves that
/// failed the proof check are not sent; the network node adds them to the returned verdict with
/// [`Verdict::with_extra_mismatches`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerificationRequest {
    /// Model the nonces were computed with (the verifier must serve the same model).
    pub model: String,
    /// The prover's round: seed block hash, public key, sequence length, RNG variant.
    pub round: RoundParams,
    /// Block height of the PoC stage (carried into callbacks; not used by the maths).
    pub block_height: u64,
    /// The prover's ML node number (carried into callbacks; not used by the maths).
    pub node_id: u32,
    /// The sampled, proven artifacts as received.
    pub artifacts: Vec<Artifact>,
    /// Thresholds for this model.
    pub params: ValidationParams,
}

/// Recomputes the artifacts of a [`VerificationRequest`] and judges them.
///
/// Contract: the verdict is a pure function of the request and the model weights (no
/// randomness); malformed or duplicated artifacts never cause an error or a panic — they count
/// as mismatches; nonces the verifier's own model turns into NaN are excluded from the count.
/// Usable as `dyn PoCVerifier`.
#[async_trait]
pub trait PoCVerifier: Send + Sync + std::fmt::Debug {
    /// Verifies the artifacts in `request`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for out-of-range parameters or a model this verifier does not
    /// serve; [`crate::Error::Engine`] when the compute backend fails.
    async fn verify(&self, request: &VerificationRequest) -> Result<Verdict>;
}
