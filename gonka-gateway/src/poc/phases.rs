//! The epoch's PoC phases and the [`PhaseClock`] trait that reports them. [`DevnetPhaseClock`]
//! is a local clock standing in for the chain; a chain client implements the same trait later.
//!
//! An epoch is `generate → wind_down → validate → inference`, then the next epoch starts:
//! - **generate**: enabled ML nodes compute nonces and post artifacts;
//! - **wind_down**: generation is stopped; late artifacts still arrive and are accepted;
//! - **validate**: commitments are sampled and recomputed, weights computed;
//! - **inference**: every node serves inference until the next epoch.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gonka_core::EpochSource;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A phase of the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// Where the clock stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseInfo {
    /// Epoch number (≥ 1).
    pub epoch: u64,
    /// Phase within the epoch.
    pub phase: Phase,
    /// Height of the block the epoch's PoC stage starts at.
    pub poc_start_block_height: u64,
    /// Hash of that block: the PoC seed (64 upper-case hex digits, as the chain prints it).
    pub block_hash: String,
}

/// Reports the epoch and its phase. Implemented by the devnet clock; a chain client can
/// implement it from block heights.
pub trait PhaseClock: Send + Sync + Debug + 'static {
    /// Where the clock stands now.
    fn now(&self) -> PhaseInfo;
}

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

/// The devnet clock: epoch 1 starts when the clock starts, phases follow [`PhaseDurations`];
/// before that it reports epoch 0 in the inference phase. The PoC seed of epoch `e` is
/// `SHA-256("gonka-devnet:{chain_id}:epoch:{e}")` in upper-case hex. Clones share the start.
#[derive(Debug, Clone)]
pub struct DevnetPhaseClock {
    durations: PhaseDurations,
    started: Arc<OnceLock<Instant>>,
    chain_id: String,
}

impl DevnetPhaseClock {
    /// A clock starting epoch 1 now. `chain_id` makes block hashes differ between devnets.
    pub fn new(durations: PhaseDurations, chain_id: impl Into<String>) -> Self {
        let clock = Self::paused(durations, chain_id);
        clock.start();
        clock
    }

    /// A clock that stays at epoch 0 (inference) until [`DevnetPhaseClock::start`].
    pub fn paused(durations: PhaseDurations, chain_id: impl Into<String>) -> Self {
        Self {
            durations,
            started: Arc::new(OnceLock::new()),
            chain_id: chain_id.into(),
        }
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
}
