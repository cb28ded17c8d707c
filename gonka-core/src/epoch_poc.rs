//! [`PocEpochSource`]: the epoch, its Proof-of-Compute phase and the parameters of each PoC
//! stage (seed block, participant key, per-model `seq_len` and `k_dim`, RNG variant), as the
//! chain sets them. A chain client implements it from block heights and the chain's
//! `PocParams`; a devnet implements it with a local clock and the chain's defaults.
//!
//! An epoch is `generate → wind_down → validate → inference`, then the next epoch starts:
//! - **generate**: enabled ML nodes compute nonces and post artifacts;
//! - **wind_down**: generation is stopped; late artifacts still arrive and are accepted;
//! - **validate**: commitments are sampled and recomputed, weights computed;
//! - **inference**: every node serves inference until the next epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::poc::compute::{RoundParams, DEFAULT_SEQ_LEN};
use crate::poc::encoding::K_DIM;
use crate::poc::params::ValidationParams;
use crate::poc::wire::PocModelParams;
use crate::EpochSource;

/// A phase of the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// PoC nonce generation.
    Generate,
    /// Generation stopped; late artifacts still accepted.
    WindDown,
    /// Validation of the artifacts.
    Validate,
    /// Inference only.
    Inference,
}

/// Where the epoch stands: the PoC stage a [`PocEpochSource`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseInfo {
    /// Epoch number (0 before the first epoch started, then ≥ 1).
    pub epoch: u64,
    /// Phase within the epoch.
    pub phase: Phase,
    /// Height of the block the epoch's PoC stage starts at.
    pub poc_start_block_height: u64,
    /// Hash of that block: the PoC seed (64 upper-case hex digits, as the chain prints it).
    pub block_hash: String,
}

/// The PoC parameters of one model in a stage (the chain's `PoCModelConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelStageParams {
    /// Input positions per nonce (chain default [`DEFAULT_SEQ_LEN`] = 256; ≥ 1).
    pub seq_len: usize,
    /// Coordinates per artifact ([`K_DIM`] = 12, the only value the network uses).
    pub k_dim: usize,
    /// The chain's statistical test and sample size for this model (`PoCModelConfig.stat_test`,
    /// `PocParams.validation_sample_size`; the chain's defaults are
    /// [`ValidationParams::upstream_chain`]); `None`: the validator applies its own.
    #[serde(default)]
    pub stat_test: Option<ValidationParams>,
}

impl Default for ModelStageParams {
    /// The chain's defaults: `seq_len` 256, `k_dim` 12; no stat test (the validator's own).
    fn default() -> Self {
        Self {
            seq_len: DEFAULT_SEQ_LEN,
            k_dim: K_DIM,
            stat_test: None,
        }
    }
}

/// Everything that seeds one PoC stage: what the network node sends in `pow/init/generate`
/// and what a validator recomputes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageParams {
    /// Seed block hash, exactly as the chain prints it (equals the stage's
    /// [`PhaseInfo::block_hash`]).
    pub block_hash: String,
    /// Height of that block (equals [`PhaseInfo::poc_start_block_height`]).
    pub block_height: u64,
    /// This participant's public key (lower-case hex of the compressed secp256k1 key), sent as
    /// `public_key` and seeding every nonce.
    pub public_key: String,
    /// The stronger input RNG (chain flag `poc_stronger_rng_enabled`; off by default).
    pub stronger_rng: bool,
    /// PoC parameters by model id (the chain's `PocParams.models`).
    pub models: BTreeMap<String, ModelStageParams>,
    /// Parameters of a model not in `models`; `None`: such a model takes no part in PoC (the
    /// chain's behaviour: a node serving an unlisted model is not scheduled).
    pub other_models: Option<ModelStageParams>,
}

impl StageParams {
    /// The parameters of `model`: its entry in `models`, else `other_models`.
    pub fn model(&self, model: &str) -> Option<ModelStageParams> {
        self.models.get(model).copied().or(self.other_models)
    }

    /// The statistical test for `model`'s artifacts: the chain's when the stage carries one,
    /// else `own` (the validator's).
    pub fn stat_test(&self, model: &str, own: ValidationParams) -> ValidationParams {
        self.model(model).and_then(|m| m.stat_test).unwrap_or(own)
    }

    /// The `params` of `pow/init/generate` for `model` (`None` when the model takes no part).
    pub fn init_params(&self, model: &str) -> Option<PocModelParams> {
        self.model(model).map(|m| PocModelParams {
            model: model.to_owned(),
            seq_len: m.seq_len,
            k_dim: m.k_dim,
        })
    }

    /// What seeds the nonces of `model` for this participant (`None` when the model takes no
    /// part).
    pub fn round_params(&self, model: &str) -> Option<RoundParams> {
        self.model(model).map(|m| RoundParams {
            block_hash: self.block_hash.clone(),
            public_key: self.public_key.clone(),
            seq_len: m.seq_len,
            stronger_rng: self.stronger_rng,
        })
    }
}

/// The source of the epoch, its phase and the parameters of each PoC stage.
///
/// Contract (checked by `gonka_core::testing::epoch_source_suite`):
/// - [`now`](Self::now) never goes back: epochs do not decrease, and within an epoch the phase
///   follows `generate → wind_down → validate → inference` (a phase may be skipped when the
///   source is polled rarely); [`EpochSource::current_epoch`] is `now().epoch`.
/// - A stage of epoch ≥ 1 has a block hash of 64 upper-case hex digits, and different epochs
///   have different hashes; epoch 0 (before the first epoch) is in the inference phase.
/// - [`stage_params`](Self::stage_params) of a stage `now` returned is deterministic (the same
///   stage gives the same parameters, also after a restart), carries the stage's block hash
///   and height, a non-empty public key, and for every model `seq_len ≥ 1`, `k_dim` = 12 and,
///   when given, a stat test with a sample size ≥ 1 and thresholds in range.
pub trait PocEpochSource: EpochSource {
    /// Where the epoch stands now.
    fn now(&self) -> PhaseInfo;

    /// The parameters of the PoC stage `stage` (a value [`now`](Self::now) returned).
    fn stage_params(&self, stage: &PhaseInfo) -> StageParams;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> StageParams {
        StageParams {
            block_hash: "AB".into(),
            block_height: 7,
            public_key: "02aa".into(),
            stronger_rng: true,
            models: BTreeMap::from([(
                "big".to_owned(),
                ModelStageParams {
                    seq_len: 1024,
                    k_dim: K_DIM,
                    stat_test: Some(ValidationParams::upstream_chain()),
                },
            )]),
            other_models: None,
        }
    }

    #[test]
    fn a_listed_model_gets_its_params_and_an_unlisted_one_none_unless_a_default_is_set() {
        let mut p = params();
        assert_eq!(p.model("big").map(|m| m.seq_len), Some(1024));
        assert_eq!(p.init_params("small"), None);
        let r = p.round_params("big").unwrap();
        assert_eq!(
            (r.seq_len, r.stronger_rng, r.block_hash.as_str()),
            (1024, true, "AB")
        );
        p.other_models = Some(ModelStageParams::default());
        let init = p.init_params("small").unwrap();
        assert_eq!(
            (init.model.as_str(), init.seq_len, init.k_dim),
            ("small", 256, 12)
        );
    }

    #[test]
    fn phases_are_ordered_as_an_epoch_runs() {
        assert!(Phase::Generate < Phase::WindDown);
        assert!(Phase::WindDown < Phase::Validate);
        assert!(Phase::Validate < Phase::Inference);
    }
}
