//! The [`PocEpochSource`] conformance suite.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::poc::encoding::K_DIM;
use crate::{Phase, PhaseInfo, PocEpochSource};

/// What [`epoch_source_suite`] saw while it watched the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochSourceObservation {
    /// Every distinct `(epoch, phase)` seen, in the order seen.
    pub stages: Vec<(u64, Phase)>,
    /// Block hash by epoch.
    pub block_hashes: BTreeMap<u64, String>,
}

impl EpochSourceObservation {
    /// How many distinct epochs were seen.
    pub fn epochs(&self) -> usize {
        self.block_hashes.len()
    }
}

/// Runs the whole [`PocEpochSource`] contract against `source`, polling it every millisecond for
/// `watch` (a source whose epochs last a few milliseconds is seen moving through several), and
/// returns what it saw so the caller can require progress.
///
/// # Panics
/// With a message naming the broken rule.
pub fn epoch_source_suite(source: &dyn PocEpochSource, watch: Duration) -> EpochSourceObservation {
    let seen = epoch_source_never_goes_back(source, watch);
    for (epoch, hash) in &seen.block_hashes {
        if *epoch >= 1 {
            epoch_source_block_hash_is_chain_hex(*epoch, hash);
        }
    }
    epoch_source_epochs_have_distinct_hashes(&seen);
    epoch_source_stage_params_match_the_stage(source);
    seen
}

/// `now()` never goes back, and `current_epoch()` is `now().epoch`; epoch 0 is in the
/// inference phase. Polls for `watch` (at most 100 000 polls).
///
/// # Panics
/// When the source moves back, or `current_epoch` disagrees with `now`.
pub fn epoch_source_never_goes_back(
    source: &dyn PocEpochSource,
    watch: Duration,
) -> EpochSourceObservation {
    let mut seen = EpochSourceObservation::default();
    let deadline = Instant::now() + watch;
    let mut last: Option<(u64, Phase)> = None;
    for _ in 0..100_000 {
        let before = source.now();
        let epoch = source.current_epoch();
        let after = source.now();
        assert!(
            before.epoch <= epoch && epoch <= after.epoch,
            "current_epoch() = {epoch} is not now().epoch (between {} and {})",
            before.epoch,
            after.epoch
        );
        for info in [before, after] {
            record(&mut seen, &mut last, &info);
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    seen
}

fn record(seen: &mut EpochSourceObservation, last: &mut Option<(u64, Phase)>, info: &PhaseInfo) {
    let key = (info.epoch, info.phase);
    if let Some(prev) = *last {
        assert!(
            key >= prev,
            "now() went back from epoch {} {:?} to epoch {} {:?}",
            prev.0,
            prev.1,
            key.0,
            key.1
        );
    }
    if info.epoch == 0 {
        assert_eq!(
            info.phase,
            Phase::Inference,
            "epoch 0 (before the first epoch) must be in the inference phase"
        );
    }
    if let Some(hash) = seen.block_hashes.get(&info.epoch) {
        assert_eq!(
            hash, &info.block_hash,
            "epoch {} changed its block hash while it ran",
            info.epoch
        );
    } else {
        seen.block_hashes
            .insert(info.epoch, info.block_hash.clone());
    }
    if *last != Some(key) {
        seen.stages.push(key);
        *last = Some(key);
    }
}

/// A block hash of an epoch ≥ 1 is 64 upper-case hex digits, as the chain prints it.
///
/// # Panics
/// When it is not.
pub fn epoch_source_block_hash_is_chain_hex(epoch: u64, hash: &str) {
    assert!(
        hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "block hash of epoch {epoch} is not 64 upper-case hex digits: {hash:?}"
    );
}

/// Different epochs have different block hashes.
///
/// # Panics
/// When two epochs seen share one.
pub fn epoch_source_epochs_have_distinct_hashes(seen: &EpochSourceObservation) {
    let mut by_hash: BTreeMap<&str, u64> = BTreeMap::new();
    for (epoch, hash) in &seen.block_hashes {
        if let Some(other) = by_hash.insert(hash, *epoch) {
            panic!("epochs {other} and {epoch} share the block hash {hash}");
        }
    }
}

/// `stage_params` of the current stage carries its block hash and height, a non-empty public
/// key, `seq_len ≥ 1`, `k_dim` = 12 and a stat test in range (when given) for every model, and
/// is the same when asked again.
///
/// # Panics
/// When one of these does not hold.
pub fn epoch_source_stage_params_match_the_stage(source: &dyn PocEpochSource) {
    let stage = source.now();
    let p = source.stage_params(&stage);
    assert_eq!(
        p.block_hash, stage.block_hash,
        "stage_params carries another block hash than the stage"
    );
    assert_eq!(
        p.block_height, stage.poc_start_block_height,
        "stage_params carries another block height than the stage"
    );
    assert!(!p.public_key.is_empty(), "stage_params has no public key");
    assert!(
        !p.models.is_empty() || p.other_models.is_some(),
        "stage_params lets no model take part in PoC"
    );
    for (model, m) in p
        .models
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(p.other_models.iter().map(|m| ("<other models>", m)))
    {
        assert!(m.seq_len >= 1, "model {model}: seq_len is 0");
        assert_eq!(m.k_dim, K_DIM, "model {model}: k_dim must be {K_DIM}");
        if let Some(t) = m.stat_test {
            assert!(
                t.sample_size >= 1
                    && t.dist_threshold > 0.0
                    && (0.0..1.0).contains(&t.p_mismatch)
                    && t.fraud_threshold > 0.0
                    && t.fraud_threshold < 1.0,
                "model {model}: stat test out of range: {t:?}"
            );
        }
    }
    assert_eq!(
        source.stage_params(&stage),
        p,
        "stage_params is not deterministic for one stage"
    );
}
