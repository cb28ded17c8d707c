//! The error type of the PoC module.

use super::encoding::EncodingError;
use super::mmr::ProofError;

/// Why a PoC computation or check could not be carried out.
///
/// Problems with a *prover's* data (bad vectors, failing proofs) are not errors of validation:
/// they count as mismatches in the verdict. These errors are about the caller's own inputs and
/// the compute backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PocError {
    /// A parameter is out of range; the message names it and its value.
    #[error("invalid PoC parameter: {0}")]
    InvalidParams(String),
    /// The model failed to run.
    #[error("model failed: {0}")]
    Model(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The model returned a hidden state of the wrong size.
    #[error("model returned a hidden state of {actual} values, expected {expected}")]
    HiddenSize {
        /// The model's declared hidden size.
        expected: usize,
        /// The length it returned.
        actual: usize,
    },
    /// An artifact vector could not be decoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// A Merkle mountain range operation or proof failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

impl PocError {
    /// Wraps any model/runtime error as [`PocError::Model`].
    pub fn model(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PocError::Model(e.into())
    }
}

impl From<PocError> for crate::Error {
    fn from(e: PocError) -> Self {
        match e {
            PocError::InvalidParams(message) => {
                crate::Error::Invalid(vec![crate::FieldError::new("poc", message)])
            }
            PocError::Model(_) | PocError::HiddenSize { .. } => crate::Error::Engine(e.to_string()),
            other => crate::Error::Invalid(vec![crate::FieldError::new("poc", other.to_string())]),
        }
    }
}
