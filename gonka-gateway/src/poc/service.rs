//! [`PocService`]: the network node's PoC state — the rounds it started, the receiver of
//! artifacts, the validation results — and [`PocConfig`], how it is set up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gonka_core::poc::compute::RoundParams;
use gonka_core::poc::params::ValidationParams;
use gonka_core::NodeRegistry;
use gonka_core::PoCVerifier;
use gonka_core::StageParams;

use super::callbacks::{CallbackBinding, ValidationCallbacks};
use super::mlnode_verifier::{MlNodeVerifier, MlNodeVerifierSettings};

use super::participants::{self, Identity, ParticipantsResponse};
use super::phases::{PhaseClock, PhaseInfo};
use super::store::ArtifactStore;
use super::validation::{Member, NodeOutcome};

/// How the network node runs PoC.
#[derive(Debug, Clone)]
pub struct PocConfig {
    /// The epoch source: phases and each PoC stage's parameters (seed block, key, `seq_len`,
    /// `k_dim`, RNG variant) — the devnet clock, or a chain client. The driver reads every
    /// round's parameters from it.
    pub clock: Arc<dyn PhaseClock>,
    /// Durable artifact storage.
    pub store: ArtifactStore,
    /// Recomputes and judges a node's sampled, proven nonces. Default: [`MlNodeVerifier`],
    /// asking this gateway's own ML nodes (`pow/generate` + `/validated`, as upstream); a local
    /// recomputation ([`gonka_core::poc::ComputeVerifier`]) is chosen explicitly (devnet, tests).
    pub verifier: Arc<dyn PoCVerifier>,
    /// The verifications awaiting a `/validated` callback (shared by [`MlNodeVerifier`] and the
    /// PoC listener; bound to the callback URL and registry when the service starts).
    pub callbacks: Arc<ValidationCallbacks>,
    /// Base URL ML nodes post artifacts to; `None`: `http://<PoC listener address>`.
    pub callback_url: Option<String>,
    /// This participant's public key (hex): the key callbacks must carry and the participants
    /// list shows. [`PocConfig::new`] takes it from the clock's stage parameters; keep the two
    /// equal.
    pub public_key: String,
    /// This participant's address.
    pub address: String,
    /// Public inference URL listed in the participants; `None`: `http://<public address>`.
    pub inference_url: Option<String>,
    /// `batch_size` sent to ML nodes (default 32).
    pub batch_size: usize,
    /// Validation thresholds and sample size.
    pub validation: ValidationParams,
    /// How often the driver looks at the clock (default 100 ms).
    pub tick: Duration,
    /// Timeout of one call to an ML node (default 10 s).
    pub call_timeout: Duration,
    /// Epochs whose artifacts are kept (default 2).
    pub keep_epochs: u64,
}

impl PocConfig {
    /// Defaults over `clock` and `store`: validation through the ML nodes
    /// ([`MlNodeVerifier`] with default settings), the clock's public key, a devnet address.
    pub fn new(clock: Arc<dyn PhaseClock>, store: ArtifactStore) -> Self {
        let callbacks = ValidationCallbacks::new();
        let public_key = clock.stage_params(&clock.now()).public_key;
        Self {
            clock,
            store,
            verifier: Arc::new(MlNodeVerifier::new(
                Arc::clone(&callbacks),
                MlNodeVerifierSettings::default(),
            )),
            callbacks,
            callback_url: None,
            public_key,
            address: "gonka1devnetparticipant".into(),
            inference_url: None,
            batch_size: gonka_core::poc::nonce::DEFAULT_BATCH_SIZE,
            validation: ValidationParams::default(),
            tick: Duration::from_millis(100),
            call_timeout: Duration::from_secs(10),
            keep_epochs: 2,
        }
    }
}

/// A round the driver started (stored with the artifacts, so a restarted gateway resumes it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Round {
    /// Clock state at the round's start.
    pub info: PhaseInfo,
    /// `node_count` sent to the nodes.
    pub node_count: u32,
    /// Nodes taking part, by `node_num`.
    pub members: BTreeMap<u32, Member>,
    /// The stage's parameters as the epoch source gave them at the start (`None` in a round
    /// stored by an older gateway: asked again).
    #[serde(default)]
    pub params: Option<StageParams>,
}

/// The validated outcome of an epoch.
#[derive(Debug, Clone)]
pub struct EpochResult {
    /// Clock state of the round.
    pub info: PhaseInfo,
    /// One outcome per member.
    pub outcomes: Vec<NodeOutcome>,
}

/// Shared PoC state of a gateway.
#[derive(Debug)]
pub struct PocService {
    pub(crate) config: PocConfig,
    pub(crate) registry: Arc<dyn NodeRegistry>,
    pub(crate) http: reqwest::Client,
    callback_base: String,
    inference_url: String,
    rounds: Mutex<BTreeMap<u64, Round>>,
    results: Mutex<BTreeMap<u64, EpochResult>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PocService {
    /// A service over `config` and `registry`; `poc_addr`/`public_addr` give the default
    /// callback and inference URLs.
    pub fn new(
        config: PocConfig,
        registry: Arc<dyn NodeRegistry>,
        poc_addr: Option<std::net::SocketAddr>,
        public_addr: std::net::SocketAddr,
    ) -> Arc<Self> {
        let callback_base = config
            .callback_url
            .clone()
            .or_else(|| poc_addr.map(|a| format!("http://{a}")))
            .unwrap_or_default();
        let inference_url = config
            .inference_url
            .clone()
            .unwrap_or_else(|| format!("http://{public_addr}"));
        config.callbacks.bind(CallbackBinding {
            base: callback_base.clone(),
            registry: Arc::clone(&registry),
        });
        Arc::new(Self {
            config,
            registry,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
            callback_base,
            inference_url,
            rounds: Mutex::new(BTreeMap::new()),
            results: Mutex::new(BTreeMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PocConfig {
        &self.config
    }

    /// Where ML nodes post artifacts of `model`: `{base}/v2/poc-batches/{escape(escape(model))}`.
    pub fn callback_url(&self, model: &str) -> String {
        format!(
            "{}/v2/poc-batches/{}",
            self.callback_base.trim_end_matches('/'),
            path_escape(&path_escape(model))
        )
    }

    /// The round of `epoch`, when one was started.
    pub fn round(&self, epoch: u64) -> Option<Round> {
        lock(&self.rounds).get(&epoch).cloned()
    }

    /// The epoch of the most recent round started (still kept), if any.
    pub fn last_round_epoch(&self) -> Option<u64> {
        lock(&self.rounds).last_key_value().map(|(&e, _)| e)
    }

    pub(crate) fn set_round(&self, epoch: u64, round: Round) {
        let mut rounds = lock(&self.rounds);
        rounds.insert(epoch, round);
        let keep = self.config.keep_epochs.max(1);
        rounds.retain(|&e, _| e + keep > epoch);
    }

    pub(crate) fn set_result(&self, epoch: u64, result: EpochResult) {
        let mut results = lock(&self.results);
        results.insert(epoch, result);
        while results.len() > 16 {
            results.pop_first();
        }
    }

    /// The validated result of `epoch`.
    pub fn result(&self, epoch: u64) -> Option<EpochResult> {
        lock(&self.results).get(&epoch).cloned()
    }

    /// Whether the round at `block_height` is over: its epoch was validated, or a later round
    /// started.
    pub fn round_is_over(&self, block_height: u64) -> bool {
        if lock(&self.results)
            .values()
            .any(|r| r.info.poc_start_block_height >= block_height)
        {
            return true;
        }
        lock(&self.rounds)
            .values()
            .any(|r| r.info.poc_start_block_height > block_height)
    }

    /// The most recent validated result (the weights in force now).
    pub fn latest_result(&self) -> Option<EpochResult> {
        lock(&self.results).last_key_value().map(|(_, r)| r.clone())
    }

    /// The participants of `result`.
    pub fn participants(&self, result: &EpochResult) -> ParticipantsResponse {
        let identity = Identity {
            address: self.config.address.clone(),
            public_key: self.config.public_key.clone(),
            inference_url: self.inference_url.clone(),
        };
        participants::build(
            &identity,
            result.info.epoch,
            &result.info.block_hash,
            result.info.poc_start_block_height,
            &result.outcomes,
        )
    }

    /// The parameters of the stage `info`, from the epoch source.
    pub fn stage_params(&self, info: &PhaseInfo) -> StageParams {
        self.config.clock.stage_params(info)
    }

    /// What seeds `model`'s nonces in the stage `info` (`None` when the epoch source lets the
    /// model take no part).
    pub fn round_params(&self, info: &PhaseInfo, model: &str) -> Option<RoundParams> {
        self.stage_params(info).round_params(model)
    }
}

/// Go's `url.PathEscape`: everything but unreserved characters and `$&+,:;=@` is %-encoded.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_escaped_twice_like_upstream() {
        assert_eq!(path_escape("Qwen/Qwen3-32B-FP8"), "Qwen%2FQwen3-32B-FP8");
        assert_eq!(
            path_escape(&path_escape("Qwen/Qwen3-32B-FP8")),
            "Qwen%252FQwen3-32B-FP8"
        );
    }
}
