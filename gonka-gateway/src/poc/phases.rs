//! The epoch's PoC phases ([`Phase`], [`PhaseInfo`] and the [`PhaseClock`] trait, which is
//! [`gonka_core::PocEpochSource`]) and [`DevnetPhaseClock`], a local clock standing in for the
//! chain with the chain's default PoC parameters ([`DevnetChain`]); a chain client implements
//! the same trait from block heights and the chain's `PocParams`.
//!
//! An epoch is `generate → wind_down → validate → inference`, then the next epoch starts (see
//! [`gonka_core::PocEpochSource`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gonka_core::{EpochSource, ModelStageParams, StageParams};
use sha2::{Digest, Sha256};

pub use gonka_core::PocEpochSource as PhaseClock;
pub use gonka_core::{Phase, PhaseInfo};

/// Phase lengths of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseDurations {
    /// PoC generation.
    pub generate: Duration,
    /// Wind-down after generation.
    pub wind_down: Duration,
    /// Validation.
    pub validate: Duration,
    /// Inference until the next epoch.
    pub inference: Duration,
}

/// Why PoC phase lengths do not make an epoch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhaseError {
    /// The generate phase is zero.
    #[error("the PoC generate phase must be longer than 0")]
    ZeroGenerate,
    /// The PoC phases leave no inference time in the epoch.
    #[error("epoch length {epoch_length:?} must exceed generate + wind-down + validate = {poc:?}")]
    DoesNotFit {
        /// The epoch length asked for.
        epoch_length: Duration,
        /// generate + wind-down + validate.
        poc: Duration,
    },
}

impl PhaseDurations {
    /// Phases of an epoch of `epoch_length` whose inference phase is what the other three
    /// leave.
    ///
    /// # Errors
    /// [`PhaseError::DoesNotFit`] (naming the lengths) when the PoC phases do not fit in the
    /// epoch, [`PhaseError::ZeroGenerate`] when the generate phase is zero.
    pub fn within_epoch(
        epoch_length: Duration,
        generate: Duration,
        wind_down: Duration,
        validate: Duration,
    ) -> Result<Self, PhaseError> {
        let poc = generate + wind_down + validate;
        if generate.is_zero() {
            return Err(PhaseError::ZeroGenerate);
        }
        if poc >= epoch_length {
            return Err(PhaseError::DoesNotFit { epoch_length, poc });
        }
        Ok(Self {
            generate,
            wind_down,
            validate,
            inference: epoch_length - poc,
        })
    }

    /// The whole epoch.
    pub fn epoch_length(&self) -> Duration {
        self.generate + self.wind_down + self.validate + self.inference
    }
}

impl Default for PhaseDurations {
    /// A 10-minute devnet epoch: 60 s generate, 10 s wind-down, 60 s validate.
    fn default() -> Self {
        Self {
            generate: Duration::from_secs(60),
            wind_down: Duration::from_secs(10),
            validate: Duration::from_secs(60),
            inference: Duration::from_secs(470),
        }
    }
}

/// Blocks per epoch the devnet pretends (for heights only).
const DEVNET_BLOCKS_PER_EPOCH: u64 = 100;

/// The chain parameters a devnet pretends: the chain's defaults unless set explicitly. The
/// statistical test is left to the validator (`model.stat_test` `None`: the gateway's
/// [`crate::poc::PocConfig::validation`], stricter than the chain's weak defaults, see
/// `gonka_core::poc::params`); set `model.stat_test` to
/// `Some(ValidationParams::upstream_chain())` to judge as the chain does.
#[derive(Debug, Clone, PartialEq)]
pub struct DevnetChain {
    /// This participant's public key (hex), seeding every nonce.
    pub public_key: String,
    /// PoC parameters of every model (the chain's `PocParams.seq_len` default 256, `k_dim` 12).
    /// A CPU devnet may set a small `seq_len` explicitly (`--poc-seq-len`).
    pub model: ModelStageParams,
    /// The stronger input RNG (chain flag `poc_stronger_rng_enabled`, off by default).
    pub stronger_rng: bool,
}

/// The devnet's participant key when none is configured.
pub const DEVNET_PUBLIC_KEY: &str =
    "021111111111111111111111111111111111111111111111111111111111111111";

impl Default for DevnetChain {
    /// [`DEVNET_PUBLIC_KEY`], the chain's default model parameters, the standard RNG.
    fn default() -> Self {
        Self {
            public_key: DEVNET_PUBLIC_KEY.to_owned(),
            model: ModelStageParams::default(),
            stronger_rng: false,
        }
    }
}

/// The devnet clock: epoch 1 starts when the clock starts, phases follow [`PhaseDurations`];
/// before that it reports epoch 0 in the inference phase. The PoC seed of epoch `e` is
/// `SHA-256("gonka-devnet:{chain_id}:epoch:{e}")` in upper-case hex; the stage parameters are
/// [`DevnetChain`]'s for every model. Clones share the start.
#[derive(Debug, Clone)]
pub struct DevnetPhaseClock {
    durations: PhaseDurations,
    started: Arc<OnceLock<Instant>>,
    chain_id: String,
    chain: DevnetChain,
}

impl DevnetPhaseClock {
    /// A clock starting epoch 1 now. `chain_id` makes block hashes differ between devnets.
    pub fn new(durations: PhaseDurations, chain_id: impl Into<String>) -> Self {
        let clock = Self::paused(durations, chain_id);
        clock.start();
        clock
    }

    /// A clock that stays at epoch 0 (inference) until [`DevnetPhaseClock::start`], with the
    /// chain's default parameters ([`DevnetChain::default`]).
    pub fn paused(durations: PhaseDurations, chain_id: impl Into<String>) -> Self {
        Self {
            durations,
            started: Arc::new(OnceLock::new()),
            chain_id: chain_id.into(),
            chain: DevnetChain::default(),
        }
    }

    /// The same clock (sharing its start) with the chain parameters `chain`.
    pub fn with_chain(mut self, chain: DevnetChain) -> Self {
        self.chain = chain;
        self
    }

    /// The chain parameters.
    pub fn chain(&self) -> &DevnetChain {
        &self.chain
    }

    /// Starts epoch 1 now; later calls change nothing.
    pub fn start(&self) {
        let _ = self.started.set(Instant::now());
    }

    /// The phase lengths.
    pub fn durations(&self) -> PhaseDurations {
        self.durations
    }

    /// The PoC seed block hash of `epoch`.
    pub fn block_hash(&self, epoch: u64) -> String {
        let digest = Sha256::digest(format!("gonka-devnet:{}:epoch:{epoch}", self.chain_id));
        digest.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn at(&self, elapsed: Duration) -> PhaseInfo {
        let d = self.durations;
        let length = d.epoch_length().as_nanos().max(1);
        let n = elapsed.as_nanos();
        let epoch = u64::try_from(n / length).unwrap_or(u64::MAX - 1) + 1;
        let within = Duration::from_nanos(u64::try_from(n % length).unwrap_or(0));
        let phase = if within < d.generate {
            Phase::Generate
        } else if within < d.generate + d.wind_down {
            Phase::WindDown
        } else if within < d.generate + d.wind_down + d.validate {
            Phase::Validate
        } else {
            Phase::Inference
        };
        PhaseInfo {
            epoch,
            phase,
            poc_start_block_height: epoch.saturating_mul(DEVNET_BLOCKS_PER_EPOCH),
            block_hash: self.block_hash(epoch),
        }
    }
}

impl PhaseClock for DevnetPhaseClock {
    fn now(&self) -> PhaseInfo {
        match self.started.get() {
            Some(t) => self.at(t.elapsed()),
            None => PhaseInfo {
                epoch: 0,
                phase: Phase::Inference,
                poc_start_block_height: 0,
                block_hash: self.block_hash(0),
            },
        }
    }

    fn stage_params(&self, stage: &PhaseInfo) -> StageParams {
        StageParams {
            block_hash: stage.block_hash.clone(),
            block_height: stage.poc_start_block_height,
            public_key: self.chain.public_key.clone(),
            stronger_rng: self.chain.stronger_rng,
            models: std::collections::BTreeMap::new(),
            other_models: Some(self.chain.model),
        }
    }
}

impl EpochSource for DevnetPhaseClock {
    fn current_epoch(&self) -> u64 {
        self.now().epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn phases_follow_the_configured_lengths_and_epochs_repeat() {
        let d = PhaseDurations::within_epoch(ms(100), ms(40), ms(10), ms(20)).unwrap();
        assert_eq!(d.inference, ms(30));
        let c = DevnetPhaseClock::new(d, "t");
        assert_eq!(c.at(ms(0)).phase, Phase::Generate);
        assert_eq!(c.at(ms(0)).epoch, 1);
        assert_eq!(c.at(ms(45)).phase, Phase::WindDown);
        assert_eq!(c.at(ms(55)).phase, Phase::Validate);
        assert_eq!(c.at(ms(75)).phase, Phase::Inference);
        let next = c.at(ms(101));
        assert_eq!((next.epoch, next.phase), (2, Phase::Generate));
        assert_eq!(next.poc_start_block_height, 200);
        assert_ne!(c.at(ms(0)).block_hash, next.block_hash);
        assert_eq!(next.block_hash.len(), 64);
        assert_eq!(next.block_hash, next.block_hash.to_uppercase());
    }

    #[test]
    fn a_paused_clock_stays_at_epoch_zero_until_started() {
        let c = DevnetPhaseClock::paused(PhaseDurations::default(), "t");
        assert_eq!((c.now().epoch, c.now().phase), (0, Phase::Inference));
        let shared = c.clone();
        c.start();
        assert_eq!(
            (shared.now().epoch, shared.now().phase),
            (1, Phase::Generate)
        );
    }

    #[test]
    fn phases_that_do_not_fit_are_refused_with_the_lengths() {
        let e = PhaseDurations::within_epoch(ms(50), ms(40), ms(10), ms(20)).unwrap_err();
        assert_eq!(
            e,
            PhaseError::DoesNotFit {
                epoch_length: ms(50),
                poc: ms(70)
            }
        );
        assert!(e.to_string().contains("epoch length"), "{e}");
        assert_eq!(
            PhaseDurations::within_epoch(ms(50), ms(0), ms(1), ms(1)),
            Err(PhaseError::ZeroGenerate)
        );
    }

    #[test]
    fn the_devnet_clock_keeps_the_epoch_source_contract_with_the_chain_defaults() {
        let d = PhaseDurations::within_epoch(ms(40), ms(10), ms(5), ms(10)).unwrap();
        let clock = DevnetPhaseClock::new(d, "conformance");
        let seen = gonka_core::testing::epoch_source_suite(&clock, ms(150));
        assert!(seen.epochs() >= 2, "the suite saw too little: {seen:?}");
        let stage = clock.now();
        let p = clock.stage_params(&stage);
        let m = p.init_params("any/model").unwrap();
        assert_eq!((m.seq_len, m.k_dim), (256, 12), "the chain's defaults");
        assert!(!p.stronger_rng);
        let small = DevnetPhaseClock::paused(d, "c").with_chain(DevnetChain {
            model: ModelStageParams {
                seq_len: 16,
                ..ModelStageParams::default()
            },
            ..DevnetChain::default()
        });
        gonka_core::testing::epoch_source_suite(&small, ms(0));
        let p = small.stage_params(&small.now());
        assert_eq!(p.round_params("m").unwrap().seq_len, 16);
    }
}
