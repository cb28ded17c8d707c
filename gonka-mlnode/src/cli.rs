//! Command line of the `gonka-mlnode` binary (every flag also reads `GONKA_MLNODE_*`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::engine::{BackoffConfig, EngineKind};
use crate::simulator::{FaultConfig, SimulatorConfig};
use crate::MlNodeConfig;

pub use gonka_core::logging::LogFormat;

/// gonka-mlnode: the ML node agent of a Gonka inference host. Serves the management API the
/// network node drives (inference up/down, state, GPUs) and proxies OpenAI inference to the
/// engine it supervises (vLLM, SGLang, llama.cpp, or the built-in simulator).
#[derive(Debug, Clone, Parser)]
#[command(name = "gonka-mlnode", version)]
pub struct Cli {
    /// Engine: simulator, vllm, sglang or llamacpp.
    #[arg(long, env = "GONKA_MLNODE_ENGINE", default_value = "simulator", value_parser = parse_engine)]
    pub engine: EngineKind,
    /// Replaces the engine launcher (`vllm`, `python3 -m sglang.launch_server`, `llama-server`).
    #[arg(long, env = "GONKA_MLNODE_ENGINE_CMD")]
    pub engine_cmd: Option<String>,
    /// Model to bring up at start.
    #[arg(long, env = "GONKA_MLNODE_MODEL")]
    pub model: Option<String>,
    /// dtype of the start model.
    #[arg(long, env = "GONKA_MLNODE_DTYPE", default_value = "auto")]
    pub dtype: String,
    /// Engine argument for the start model (repeatable, e.g. `--engine-arg=--max-model-len --engine-arg=8192`).
    #[arg(long = "engine-arg", allow_hyphen_values = true)]
    pub engine_args: Vec<String>,
    /// GGUF file of a model for llama.cpp, `NAME=PATH` (repeatable; in the environment,
    /// comma-separated).
    #[arg(long = "model-file", env = "GONKA_MLNODE_MODEL_FILES", value_delimiter = ',', value_parser = parse_model_file)]
    pub model_files: Vec<(String, PathBuf)>,
    /// Management API address.
    #[arg(long, env = "GONKA_MLNODE_MGMT_LISTEN", default_value = "0.0.0.0:8080")]
    pub mgmt_listen: SocketAddr,
    /// Inference proxy address.
    #[arg(
        long,
        env = "GONKA_MLNODE_INFERENCE_LISTEN",
        default_value = "0.0.0.0:5000"
    )]
    pub inference_listen: SocketAddr,
    /// Bearer token required on the management API.
    #[arg(long, env = "GONKA_MLNODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Engine instances; the proxy balances across them by least connections.
    #[arg(long, env = "GONKA_MLNODE_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub replicas: u16,
    /// First loopback port for engines (replica i gets base+i); 0 picks free ports.
    #[arg(long, env = "GONKA_MLNODE_ENGINE_PORT_BASE", default_value_t = 0)]
    pub engine_port_base: u16,
    /// Directory of the engine log files (rotated); none keeps only the last lines in memory.
    #[arg(long, env = "GONKA_MLNODE_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Size in bytes at which an engine log file is rotated.
    #[arg(long, env = "GONKA_MLNODE_LOG_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub log_max_bytes: u64,
    /// Rotated engine log files kept.
    #[arg(long, env = "GONKA_MLNODE_LOG_FILES", default_value_t = 3)]
    pub log_files: usize,
    /// Seconds between SIGTERM and SIGKILL when stopping an engine.
    #[arg(long, env = "GONKA_MLNODE_GRACE_PERIOD_S", default_value_t = 10.0, value_parser = parse_secs)]
    pub grace_period_s: f64,
    /// Seconds an engine may take to answer ready.
    #[arg(long, env = "GONKA_MLNODE_STARTUP_TIMEOUT_S", default_value_t = 1200.0, value_parser = parse_secs)]
    pub startup_timeout_s: f64,
    /// Seconds between health probes of a ready engine.
    #[arg(long, env = "GONKA_MLNODE_HEALTH_INTERVAL_S", default_value_t = 10.0, value_parser = parse_secs)]
    pub health_interval_s: f64,
    /// First restart delay in milliseconds (doubles per failure).
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_INITIAL_MS", default_value_t = 1000)]
    pub backoff_initial_ms: u64,
    /// Largest restart delay in milliseconds.
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_MAX_MS", default_value_t = 60_000)]
    pub backoff_max_ms: u64,
    /// Seconds of healthy running that reset the failure count.
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_RESET_S", default_value_t = 300.0, value_parser = parse_secs)]
    pub backoff_reset_s: f64,
    /// Consecutive failures after which an engine is given up.
    #[arg(long, env = "GONKA_MLNODE_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,
    /// Model cache directory for /api/v1/models/list (default: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub).
    #[arg(long, env = "GONKA_MLNODE_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Seconds open connections get to finish at shutdown.
    #[arg(long, env = "GONKA_MLNODE_DRAIN_TIMEOUT_S", default_value_t = 5.0, value_parser = parse_secs)]
    pub drain_timeout_s: f64,
    /// GGUF llama model PoC runs on (needs the `candle` feature); default: a small random-weight
    /// model generated from each round's block hash.
    #[arg(long, env = "GONKA_MLNODE_POC_MODEL_FILE")]
    pub poc_model_file: Option<PathBuf>,
    /// Seconds between two PoC artifact callbacks to the network node.
    #[arg(long, env = "GONKA_MLNODE_POC_CALLBACK_INTERVAL_S", default_value_t = 5.0, value_parser = parse_secs)]
    pub poc_callback_interval_s: f64,
    /// Simulator: seed of the output text and fault draws.
    #[arg(long, env = "GONKA_MLNODE_SIM_SEED", default_value_t = 42)]
    pub sim_seed: u64,
    /// Simulator: time to first token in milliseconds.
    #[arg(long, env = "GONKA_MLNODE_SIM_TTFT_MS", default_value_t = 0)]
    pub sim_ttft_ms: u64,
    /// Simulator: inter-token latency in milliseconds.
    #[arg(long, env = "GONKA_MLNODE_SIM_ITL_MS", default_value_t = 0)]
    pub sim_itl_ms: u64,
    /// Simulator: tokens per answer (a smaller max_tokens wins).
    #[arg(long, env = "GONKA_MLNODE_SIM_OUTPUT_TOKENS", default_value_t = 16)]
    pub sim_output_tokens: u32,
    /// Simulator: requests processed at once, more are queued (0 = unlimited).
    #[arg(long, env = "GONKA_MLNODE_SIM_MAX_CONCURRENCY", default_value_t = 0)]
    pub sim_max_concurrency: usize,
    /// Simulator: how long the engine takes to start, as a large model takes to load (e.g. `3s`,
    /// `2m`); meanwhile the node is INFERENCE with `inference_healthy: false` and
    /// `inference/up` waits.
    #[arg(long, env = "GONKA_MLNODE_SIM_LOAD_TIME", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sim_load_time: Duration,
    /// Simulator: probability of a 500 answer.
    #[arg(long, env = "GONKA_MLNODE_SIM_ERROR_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub sim_error_rate: f64,
    /// Simulator: probability that a request hangs.
    #[arg(long, env = "GONKA_MLNODE_SIM_HANG_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub sim_hang_rate: f64,
    /// Simulator: probability that an answer is cut off mid-stream.
    #[arg(long, env = "GONKA_MLNODE_SIM_CRASH_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub sim_crash_rate: f64,
    /// Simulator: tokens sent before a cut-off answer stops.
    #[arg(long, env = "GONKA_MLNODE_SIM_CRASH_AFTER_TOKENS", default_value_t = 4)]
    pub sim_crash_after_tokens: u32,
    /// Log format.
    #[arg(
        long,
        env = "GONKA_MLNODE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Subcommand; none runs the agent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands of `gonka-mlnode`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Write a tiny random-weight llama model (GGUF) that llama-server serves on CPU.
    ///
    /// The file is GGUF v3, ~1.2 MB, written in well under a second; llama.cpp's llama-server
    /// loads it on CPU, for tests and for trying `--engine llamacpp` without downloading
    /// weights. It answers random word pieces, the same ones for the same seed and prompt at
    /// temperature 0.
    TinyModel {
        /// Output file (created or replaced).
        out: PathBuf,
        /// Seed of the weights; the same seed writes the same bytes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

impl Command {
    /// Runs the subcommand; returns the line to print.
    ///
    /// # Errors
    /// A message naming the file when it cannot be written.
    pub fn run(&self) -> Result<String, String> {
        match self {
            Command::TinyModel { out, seed } => {
                let model = crate::gguf::TinyLlama {
                    seed: *seed,
                    ..crate::gguf::TinyLlama::default()
                };
                model
                    .write_to(out)
                    .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                Ok(format!(
                    "wrote {} (tiny random llama, seed {seed}); serve it with: gonka-mlnode --engine llamacpp --model NAME --model-file NAME={}",
                    out.display(),
                    out.display()
                ))
            }
        }
    }
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    s.parse()
}

fn parse_model_file(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got {s:?}")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a number of seconds: {e}"))?;
    if v.is_finite() && (0.0..=1.0e7).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} seconds is out of range (0 to 10000000)"))
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a probability: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not a probability between 0 and 1"))
    }
}

fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v).unwrap_or(Duration::ZERO)
}

impl Cli {
    /// The PoC settings these flags describe (loads `--poc-model-file`).
    ///
    /// # Errors
    /// A message naming `--poc-model-file` when it cannot be used.
    pub fn poc_settings(&self) -> Result<crate::poc::PocSettings, String> {
        crate::poc::PocSettings::from_flags(
            secs(self.poc_callback_interval_s),
            self.poc_model_file.as_deref(),
        )
    }

    /// The agent configuration these flags describe.
    pub fn to_config(&self) -> MlNodeConfig {
        MlNodeConfig {
            engine: self.engine,
            engine_cmd: self.engine_cmd.clone(),
            model: self.model.clone(),
            dtype: self.dtype.clone(),
            model_args: self.engine_args.clone(),
            model_files: self.model_files.iter().cloned().collect::<BTreeMap<_, _>>(),
            token: self.token.clone().filter(|t| !t.is_empty()),
            simulator: SimulatorConfig {
                model: self.model.clone().unwrap_or_else(|| "simulator".to_owned()),
                seed: self.sim_seed,
                time_to_first_token: Duration::from_millis(self.sim_ttft_ms),
                inter_token_latency: Duration::from_millis(self.sim_itl_ms),
                output_tokens: self.sim_output_tokens,
                max_concurrency: self.sim_max_concurrency,
                faults: FaultConfig {
                    error_rate: self.sim_error_rate,
                    hang_rate: self.sim_hang_rate,
                    crash_rate: self.sim_crash_rate,
                    crash_after_tokens: self.sim_crash_after_tokens,
                },
                load_time: self.sim_load_time,
            },
            replicas: usize::from(self.replicas),
            engine_port_base: self.engine_port_base,
            log_dir: self.log_dir.clone(),
            log_max_bytes: self.log_max_bytes,
            log_files: self.log_files,
            grace_period: secs(self.grace_period_s),
            startup_timeout: secs(self.startup_timeout_s),
            health_interval: secs(self.health_interval_s).max(Duration::from_millis(100)),
            backoff: BackoffConfig {
                initial: Duration::from_millis(self.backoff_initial_ms),
                max: Duration::from_millis(self.backoff_max_ms),
                reset_after: secs(self.backoff_reset_s),
                max_failures: self.max_failures,
            },
            models_dir: self.models_dir.clone(),
            drain_timeout: secs(self.drain_timeout_s),
            ..MlNodeConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_ports_and_simulator_engine() {
        let cli = Cli::try_parse_from(["gonka-mlnode"]).unwrap();
        assert_eq!(cli.mgmt_listen.to_string(), "0.0.0.0:8080");
        assert_eq!(cli.inference_listen.to_string(), "0.0.0.0:5000");
        let config = cli.to_config();
        assert_eq!(config.engine, EngineKind::Simulator);
        assert_eq!(config.grace_period, Duration::from_secs(10));
    }

    #[test]
    fn engine_args_model_files_and_durations_are_parsed() {
        let cli = Cli::try_parse_from([
            "gonka-mlnode",
            "--engine",
            "llamacpp",
            "--model",
            "tiny",
            "--model-file",
            "tiny=/m/tiny.gguf",
            "--engine-arg=-c",
            "--engine-arg",
            "2048",
            "--grace-period-s",
            "0.5",
            "--backoff-initial-ms",
            "50",
            "--sim-load-time",
            "1m30s",
        ])
        .unwrap();
        let config = cli.to_config();
        assert_eq!(config.engine, EngineKind::Llamacpp);
        assert_eq!(config.model_args, ["-c", "2048"]);
        assert_eq!(config.model_files["tiny"], PathBuf::from("/m/tiny.gguf"));
        assert_eq!(config.grace_period, Duration::from_millis(500));
        assert_eq!(config.backoff.initial, Duration::from_millis(50));
        assert_eq!(config.simulator.load_time, Duration::from_secs(90));
    }

    #[test]
    fn tiny_model_subcommand_takes_a_path_and_a_seed() {
        let cli = Cli::try_parse_from(["gonka-mlnode", "tiny-model", "/tmp/t.gguf", "--seed", "7"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::TinyModel { ref out, seed: 7 }) if out == &PathBuf::from("/tmp/t.gguf")
        ));
        assert!(Cli::try_parse_from(["gonka-mlnode", "tiny-model"]).is_err());
        assert!(Cli::try_parse_from(["gonka-mlnode"])
            .unwrap()
            .command
            .is_none());
    }

    #[test]
    fn bad_values_are_rejected_with_their_name() {
        let err = Cli::try_parse_from(["gonka-mlnode", "--engine", "tgi"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tgi"), "{err}");
        assert!(Cli::try_parse_from(["gonka-mlnode", "--model-file", "nope"]).is_err());
        assert!(Cli::try_parse_from(["gonka-mlnode", "--sim-error-rate", "1.5"]).is_err());
    }
}
