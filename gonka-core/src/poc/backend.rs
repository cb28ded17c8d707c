//! [`PocCompute`]: the compute side of PoC v2, shared by the ML node (which generates nonces with
//! it) and the network node (which recomputes a prover's nonces with the same backend to validate
//! them), and its CPU reference backend over [`TinyModel`], a small random-weight network whose
//! weights are generated from the block hash.

use std::fmt::Debug;
use std::sync::Arc;

use crate::poc::compute::{Artifact, HiddenStateModel, PocRound, RoundParams};
use crate::poc::error::PocError;
use crate::poc::params::ValidationParams;
use crate::poc::rng::seed_from_str;
use crate::poc::tiny_model::TinyModel;
use crate::poc::validate::validate_artifacts;
use crate::poc::verdict::Verdict;
use crate::poc::Nonce;

/// Computes PoC v2 artifacts for one model. Implementations are pure: the same round and
/// nonces give the same artifacts, bit for bit, on the same backend.
pub trait PocCompute: Send + Sync + Debug + 'static {
    /// A short name for logs and `/pow/status` (e.g. `tiny-cpu`).
    fn name(&self) -> &str;

    /// Prepares a round (model weights, layer reflections) for `model`. Called once per round,
    /// off the async runtime.
    ///
    /// # Errors
    /// [`PocError::InvalidParams`] for a bad `seq_len` or a model this backend cannot run;
    /// [`PocError::Model`] when the model cannot be built.
    fn prepare(&self, model: &str, round: RoundParams) -> Result<Box<dyn PreparedRound>, PocError>;
}

/// A prepared round: computes batches of nonces. Runs on a blocking thread.
pub trait PreparedRound: Send + Sync + Debug {
    /// The artifacts of `nonces`, in order; nonces whose hidden state is NaN are left out.
    ///
    /// # Errors
    /// The backend's failures; the whole batch fails together.
    fn compute(&self, nonces: &[Nonce]) -> Result<Vec<Artifact>, PocError>;

    /// Recomputes `artifacts`' nonces and judges them against `params` (validation).
    ///
    /// # Errors
    /// As [`PreparedRound::compute`], and invalid `params`.
    fn validate(
        &self,
        artifacts: &[Artifact],
        params: &ValidationParams,
    ) -> Result<Verdict, PocError>;
}

/// The CPU reference backend: [`TinyModel`] with `hidden` size and `layers` layers whose weights
/// are seeded from the round's block hash (so every node and every validator of a round builds
/// the same model without downloading weights, and a new block means new weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TinyModelCompute {
    /// Hidden size (at least 12).
    pub hidden: usize,
    /// Decoder layers (at least 1).
    pub layers: usize,
}

impl Default for TinyModelCompute {
    /// `hidden 64, layers 2`: a few milliseconds per nonce at `seq_len` 32 on one core.
    fn default() -> Self {
        Self {
            hidden: 64,
            layers: 2,
        }
    }
}

impl TinyModelCompute {
    /// The model of a round: weights seeded from `SHA-256("{block_hash}_tiny_model")`.
    pub fn model(&self, block_hash: &str) -> TinyModel {
        TinyModel::new(
            self.hidden,
            self.layers,
            seed_from_str(&format!("{block_hash}_tiny_model")),
        )
    }
}

impl PocCompute for TinyModelCompute {
    fn name(&self) -> &str {
        "tiny-cpu"
    }

    fn prepare(
        &self,
        _model: &str,
        round: RoundParams,
    ) -> Result<Box<dyn PreparedRound>, PocError> {
        if self.layers == 0 {
            return Err(PocError::InvalidParams(
                "the tiny model needs at least one layer".into(),
            ));
        }
        let model = Arc::new(self.model(&round.block_hash));
        let round = PocRound::for_model(round, model.as_ref())?;
        Ok(Box::new(ModelRound { model, round }))
    }
}

/// A [`PreparedRound`] over any [`HiddenStateModel`].
pub struct ModelRound<M> {
    model: Arc<M>,
    round: PocRound,
}

impl<M> ModelRound<M> {
    /// A prepared round of `round` over `model`.
    pub fn new(model: Arc<M>, round: PocRound) -> Self {
        Self { model, round }
    }
}

impl<M> Debug for ModelRound<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRound")
            .field("params", self.round.params())
            .finish_non_exhaustive()
    }
}

impl<M: HiddenStateModel + Send + Sync + 'static> PreparedRound for ModelRound<M> {
    fn compute(&self, nonces: &[Nonce]) -> Result<Vec<Artifact>, PocError> {
        self.round.compute_artifacts(self.model.as_ref(), nonces)
    }

    fn validate(
        &self,
        artifacts: &[Artifact],
        params: &ValidationParams,
    ) -> Result<Verdict, PocError> {
        params.check()?;
        validate_artifacts(self.model.as_ref(), &self.round, params, artifacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(bh: &str) -> RoundParams {
        RoundParams {
            seq_len: 4,
            ..RoundParams::new(bh, "02aa")
        }
    }

    #[test]
    fn same_round_same_artifacts_and_block_hash_changes_them() {
        let c = TinyModelCompute::default();
        let a = c
            .prepare("m", round("AA"))
            .unwrap()
            .compute(&[0, 3, 6])
            .unwrap();
        let b = c
            .prepare("m", round("AA"))
            .unwrap()
            .compute(&[0, 3, 6])
            .unwrap();
        let other = c
            .prepare("m", round("BB"))
            .unwrap()
            .compute(&[0, 3, 6])
            .unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a, b);
        assert_ne!(a[0].vector_b64, other[0].vector_b64);
    }

    #[test]
    fn own_artifacts_validate_and_bad_shapes_are_refused() {
        let c = TinyModelCompute::default();
        let r = c.prepare("m", round("AA")).unwrap();
        let arts = r.compute(&[1, 2, 3, 4]).unwrap();
        let v = r.validate(&arts, &ValidationParams::default()).unwrap();
        assert_eq!(v.n_mismatch, 0);
        assert!(!v.fraud_detected());
        assert!(TinyModelCompute {
            hidden: 8,
            layers: 1
        }
        .prepare("m", round("AA"))
        .is_err());
        assert!(TinyModelCompute {
            hidden: 16,
            layers: 0
        }
        .prepare("m", round("AA"))
        .is_err());
    }
}
