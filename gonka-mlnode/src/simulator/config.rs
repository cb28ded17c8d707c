//! Settings of the simulator engine.

use std::time::Duration;

/// Failure injection of the simulator, for fault tests. Rates are probabilities in `[0, 1]`,
/// drawn per request from a sequence seeded by [`SimulatorConfig::seed`], so a run is repeatable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that a request is answered `500` in the OpenAI error shape.
    pub error_rate: f64,
    /// Probability that a request never answers (until the client goes away).
    pub hang_rate: f64,
    /// Probability that a response is cut off: the connection is aborted after
    /// [`FaultConfig::crash_after_tokens`] tokens, without `data: [DONE]`.
    pub crash_rate: f64,
    /// Tokens sent before a crashing response is cut off.
    pub crash_after_tokens: u32,
    /// `GET /health` answers `503` (`{"status": "unhealthy"}`) while completions keep being
    /// served: an engine that is up but fails its health check.
    pub unhealthy: bool,
}

/// How the simulator behaves. `Default` is a fast engine: no load time, no latency, 16 tokens per answer,
/// unlimited concurrency, no faults.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Model id served on `/v1/models` and echoed in answers when the request names none.
    pub model: String,
    /// Seed of the output text (a request's own `seed` field wins) and of fault draws.
    pub seed: u64,
    /// Delay before the first token.
    pub time_to_first_token: Duration,
    /// Delay between two tokens.
    pub inter_token_latency: Duration,
    /// Tokens per answer when the request sets no (smaller) `max_tokens`.
    pub output_tokens: u32,
    /// Requests processed at once; more are queued. `0` means unlimited.
    pub max_concurrency: usize,
    /// Failure injection.
    pub faults: FaultConfig,
    /// How long the simulator engine takes to start (as a large model takes to load): while it
    /// loads, the engine is starting and serves nothing. Zero by default.
    pub load_time: Duration,
    /// Context length reported as `max_model_len` by `/v1/models` and `/tokenize` (an up's
    /// `--max-model-len N` argument sets it for that engine). 32768 by default.
    pub max_model_len: u32,
    /// Simulated engine memory in MiB reported in `/api/v1/state` (`None`: none reported).
    pub memory_total_mb: Option<u64>,
    /// Simulated free engine memory in MiB (`None`: all of
    /// [`memory_total_mb`](Self::memory_total_mb)); its share of the total sets the reported
    /// pressure class.
    pub memory_free_mb: Option<u64>,
    /// How long the model stays in the simulated engine's memory without a request (Ollama's
    /// `keep_alive`); after that `/api/v1/state` reports it on disk, not loaded, until the next
    /// request. `None`: it stays loaded while the engine runs (as vLLM's does).
    pub keep_alive: Option<Duration>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            model: "simulator".to_owned(),
            seed: 42,
            time_to_first_token: Duration::ZERO,
            inter_token_latency: Duration::ZERO,
            output_tokens: 16,
            max_concurrency: 0,
            faults: FaultConfig::default(),
            load_time: Duration::ZERO,
            max_model_len: 32768,
            memory_total_mb: None,
            memory_free_mb: None,
            keep_alive: None,
        }
    }
}
