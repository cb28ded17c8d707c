//! JSON of the PoC v2 endpoints and callbacks (upstream field names, docs/poc-v2.md §3–§4, and
//! the upstream ML node API).

use crate::poc::compute::{Artifact, DEFAULT_SEQ_LEN};
use crate::poc::encoding::K_DIM;
use crate::poc::params::ValidationParams;
use crate::poc::Nonce;
use serde::{Deserialize, Serialize};

mod queue;

pub use queue::{GenerateResult, GeneratedOutcome, JobOutcome, JobStatus, ValidationOutcome};

/// `params` of a PoC request: the model and its per-model chain settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PocModelParams {
    /// The model the nonces are computed with (the served model).
    pub model: String,
    /// Input positions per nonce (default 256).
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Coordinates per artifact; only 12 is supported.
    #[serde(default = "default_k_dim")]
    pub k_dim: usize,
}

fn default_seq_len() -> usize {
    DEFAULT_SEQ_LEN
}

fn default_k_dim() -> usize {
    K_DIM
}

fn default_batch_size() -> usize {
    crate::poc::nonce::DEFAULT_BATCH_SIZE
}

fn default_node_count() -> u32 {
    1
}

/// `POST /api/v1/inference/pow/init/generate`: start generating this node's nonces and post
/// them to `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitGenerateRequest {
    /// Seed block hash, used byte for byte.
    pub block_hash: String,
    /// Height of the PoC stage start (carried into callbacks).
    pub block_height: u64,
    /// The participant's public key (hex), used byte for byte.
    pub public_key: String,
    /// This ML node's number (`node_num`), `< node_count`.
    pub node_id: u32,
    /// Largest node number + 1 (default 1).
    #[serde(default = "default_node_count")]
    pub node_count: u32,
    /// Nonces per engine call (default 32).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Model and sequence length.
    pub params: PocModelParams,
    /// Callback base, e.g. `http://gateway:9100/v2/poc-batches/Qwen%252FQwen3-32B`; artifacts go
    /// to `{url}/generated`.
    pub url: String,
    /// Stronger input RNG (docs/poc-v2.md §1.6).
    #[serde(default)]
    pub poc_stronger_rng: bool,
}

/// `validation` of a `/generate` request: the prover's artifacts to check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationArtifacts {
    /// The artifacts as the prover sent them.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// `POST /api/v1/inference/pow/generate`: compute the given nonces (and, with `validation`,
/// judge the prover's artifacts for them). Without `wait` the job is queued (answer
/// [`GenerateQueued`]) and, when `url` is given, its result is POSTed to `{url}/validated`
/// ([`ValidatedPayload`]) or `{url}/generated` ([`GeneratedPayload`] with `request_id`); with
/// `wait: true` the answer is the [`GenerateResult`] itself and no callback is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// Seed block hash.
    pub block_hash: String,
    /// Height of the PoC stage start.
    pub block_height: u64,
    /// The prover's public key.
    pub public_key: String,
    /// The node number carried into the answer (upstream's validator sends the number of the
    /// ML node it asks).
    #[serde(default)]
    pub node_id: u32,
    /// Upstream's validator sends how many of its ML nodes serve the model (not used by the
    /// maths; default 1).
    #[serde(default = "default_node_count")]
    pub node_count: u32,
    /// The nonces to compute (at most [`MAX_GENERATE_NONCES`]).
    pub nonces: Vec<Nonce>,
    /// Model and sequence length.
    pub params: PocModelParams,
    /// Nonces per compute call (default 32).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Compute now and answer the [`GenerateResult`] instead of queueing (default false); no
    /// callback is sent then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Callback base of a queued job: with `validation`, the verdict is POSTed to
    /// `{url}/validated` as a [`ValidatedPayload`] (upstream's network node always sends it),
    /// else the artifacts to `{url}/generated`; `None`: the result is only kept for
    /// `GET /api/v1/inference/pow/generate/{port}:{id}` (as upstream's engine does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The prover's artifacts; their nonce set must equal `nonces`.
    #[serde(default)]
    pub validation: Option<ValidationArtifacts>,
    /// Thresholds (`dist_threshold`, `p_mismatch`, `fraud_threshold` or the chain's
    /// `p_value_threshold`); defaults of [`ValidationParams`] for missing fields.
    #[serde(default)]
    pub stat_test: Option<ValidationParams>,
    /// Stronger input RNG.
    #[serde(default)]
    pub poc_stronger_rng: bool,
}

/// The answer to a `/generate` whose work was queued (upstream: `{status: "queued",
/// request_id, queued_count}`; the Python API prefixes the engine's id with `"{port}:"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateQueued {
    /// `queued`.
    pub status: String,
    /// The queued job's id; the `/validated` callback carries it (without the port prefix).
    #[serde(default)]
    pub request_id: String,
    /// Nonces queued.
    #[serde(default)]
    pub queued_count: usize,
}

impl GenerateQueued {
    /// Whether `callback_id` (a [`ValidatedPayload::request_id`]) names this job: equal, or
    /// equal to the part after the Python API's `"{port}:"` prefix.
    pub fn matches(&self, callback_id: &str) -> bool {
        !callback_id.is_empty()
            && (self.request_id == callback_id
                || self
                    .request_id
                    .rsplit_once(':')
                    .is_some_and(|(_, id)| id == callback_id))
    }
}

/// The body an ML node POSTs to `{url}/validated` once it judged a `/generate` with
/// `validation` (upstream's vLLM fork `poc/callbacks.py`, decoded by the network node as
/// `mlnodeclient.ValidatedResultV2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatedPayload {
    /// The queued job's id (see [`GenerateQueued::matches`]).
    #[serde(default)]
    pub request_id: String,
    /// The round's seed block hash, as in the request.
    pub block_hash: String,
    /// The PoC stage height, as in the request.
    pub block_height: u64,
    /// The prover's public key, as in the request.
    pub public_key: String,
    /// `node_id` of the request.
    #[serde(default)]
    pub node_id: u32,
    /// Nonces judged.
    pub n_total: usize,
    /// Nonces that mismatched.
    pub n_mismatch: usize,
    /// The mismatching nonces.
    pub mismatch_nonces: Vec<Nonce>,
    /// One-sided binomial p-value of the mismatch count.
    pub p_value: f64,
    /// The ML node's conclusion.
    pub fraud_detected: bool,
}

/// The most nonces one `/generate` call may ask for.
pub const MAX_GENERATE_NONCES: usize = 10_000;

/// `encoding` of a generated payload: always `{"dtype":"f16","k_dim":12,"endian":"le"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    /// `f16`.
    pub dtype: String,
    /// 12.
    pub k_dim: usize,
    /// `le`.
    pub endian: String,
}

impl Default for Encoding {
    fn default() -> Self {
        Self {
            dtype: "f16".into(),
            k_dim: K_DIM,
            endian: "le".into(),
        }
    }
}

/// The body POSTed to `{url}/generated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedPayload {
    /// The round's public key.
    pub public_key: String,
    /// The round's block hash.
    pub block_hash: String,
    /// The round's block height.
    pub block_height: u64,
    /// The sending ML node's number.
    pub node_id: u32,
    /// The artifacts of this batch.
    pub artifacts: Vec<Artifact>,
    /// Vector encoding.
    #[serde(default)]
    pub encoding: Encoding,
    /// The queued `/generate` job these artifacts answer (its id without the `{port}:`
    /// prefix); absent in the batches of an `init/generate` round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One compute backend in [`PowStatus::backends`] (upstream: one vLLM engine and its port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowBackend {
    /// The backend's port; [`PowBackend::IN_PROCESS_PORT`] for a backend computing in the
    /// agent's own process.
    pub port: u16,
    /// `GENERATING` or `IDLE`, as the node's own status.
    pub status: String,
}

impl PowBackend {
    /// The port reported for PoC computed in the agent's process (no engine port).
    pub const IN_PROCESS_PORT: u16 = 0;
}

/// `GET /api/v1/inference/pow/status`. Upstream's answer (and gonka-mlnode's with PoC forwarded
/// to vLLM engines) has only `status` and `backends`; the rest are gonka-mlnode's extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowStatus {
    /// `GENERATING` while nonces are computed, else `IDLE`.
    pub status: String,
    /// Compute backends, upstream's list of `{port, status}` (its network node decodes a list;
    /// a number makes its decoder fail). gonka-mlnode computes PoC in-process: one entry with
    /// [`PowBackend::IN_PROCESS_PORT`].
    pub backends: Vec<PowBackend>,
    /// Block hash of the current or last round.
    pub block_hash: Option<String>,
    /// Block height of the current or last round.
    pub block_height: Option<u64>,
    /// Artifacts computed in the current or last round. `0` when absent (upstream's status has no counters).
    #[serde(default)]
    pub computed: u64,
    /// Artifacts the network node acknowledged. `0` when absent (upstream's status has no counters).
    #[serde(default)]
    pub delivered: u64,
    /// Artifacts waiting to be sent (or being retried). `0` when absent (upstream's status has no counters).
    #[serde(default)]
    pub pending: u64,
    /// Artifacts given up on after every retry failed. `0` when absent (upstream's status has no counters).
    #[serde(default)]
    pub dropped: u64,
    /// The most recent compute or callback error.
    pub last_error: Option<String>,
}
