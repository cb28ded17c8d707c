//! The `gonka-gateway` command line: flags (each also read from an environment variable), the
//! `devnet` subcommand, and turning them into a [`GatewayConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gonka_core::{GovernanceModels, ManualEpoch, NodeRegistry, Scheduler};

use crate::GatewayConfig;

/// Parses a duration: `30s`, `500ms`, `2m`, or a plain number of seconds (`1.5`).
///
/// # Errors
/// A message naming the value when it is not a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {s:?}: out of range"))
}

/// Command line of `gonka-gateway`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "gonka-gateway",
    version,
    about = "Gonka network node: OpenAI gateway to ML nodes, admin API, broker and PoC callbacks",
    long_about = None
)]
pub struct Args {
    /// Public OpenAI API address.
    #[arg(
        long,
        env = "GONKA_PUBLIC_LISTEN",
        default_value = "127.0.0.1:9000",
        global = true
    )]
    pub public_listen: SocketAddr,
    /// Admin API address (keep it private).
    #[arg(
        long,
        env = "GONKA_ADMIN_LISTEN",
        default_value = "127.0.0.1:9200",
        global = true
    )]
    pub admin_listen: SocketAddr,
    /// PoC callback address.
    #[arg(
        long,
        env = "GONKA_POC_LISTEN",
        default_value = "127.0.0.1:9100",
        global = true
    )]
    pub poc_listen: SocketAddr,
    /// Registry database: sqlite://PATH (created if missing), postgres://USER:PASS@HOST/DB (shared by several
    /// gateway replicas), or memory: (nothing persisted).
    #[arg(long, env = "GONKA_DATABASE_URL", default_value = "sqlite://gonka.db")]
    pub database: String,
    /// Routing policy: least-busy, round-robin, power-of-two or scored.
    #[arg(
        long,
        env = "GONKA_POLICY",
        default_value = "least-busy",
        value_parser = parse_policy,
        global = true
    )]
    pub policy: Arc<dyn Scheduler>,
    /// How long a request waits for a free node before 503.
    #[arg(long, env = "GONKA_QUEUE_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub queue_timeout: Duration,
    /// Requests allowed to wait at once; more get 429.
    #[arg(
        long,
        env = "GONKA_QUEUE_CAPACITY",
        default_value_t = 1024,
        global = true
    )]
    pub queue_capacity: usize,
    /// Tries per request on distinct nodes (failures before the first byte only).
    #[arg(long, env = "GONKA_MAX_TRIES", default_value_t = 3, global = true)]
    pub max_tries: u32,
    /// Consecutive failures that open a node's circuit breaker.
    #[arg(
        long,
        env = "GONKA_BREAKER_THRESHOLD",
        default_value_t = 3,
        global = true
    )]
    pub breaker_threshold: u32,
    /// Interval of node health checks.
    #[arg(long, env = "GONKA_HEALTH_INTERVAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub health_interval: Duration,
    /// Timeout of one health check call.
    #[arg(long, env = "GONKA_HEALTH_TIMEOUT", default_value = "2s", value_parser = parse_duration, global = true)]
    pub health_timeout: Duration,
    /// Interval of the broker's reconcile loop (also runs at once on registry changes).
    #[arg(long, env = "GONKA_RECONCILE_INTERVAL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub reconcile_interval: Duration,
    /// Timeout of one management API call by the broker.
    #[arg(long, env = "GONKA_BROKER_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub broker_timeout: Duration,
    /// Timeout of the broker's `inference/up`, which the ML node answers once the model is
    /// loaded (a large model takes many minutes).
    #[arg(long, env = "GONKA_BROKER_UP_TIMEOUT", default_value = "30m", value_parser = parse_duration, global = true)]
    pub broker_up_timeout: Duration,
    /// Longest wait for an upstream's first byte.
    #[arg(long, env = "GONKA_REQUEST_TIMEOUT", default_value = "300s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,
    /// Longest silence between two chunks of a stream.
    #[arg(long, env = "GONKA_IDLE_TIMEOUT", default_value = "300s", value_parser = parse_duration, global = true)]
    pub idle_timeout: Duration,
    /// Time a client has to send a complete request head (slowloris protection), on every listener.
    #[arg(long, env = "GONKA_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub header_read_timeout: Duration,
    /// Longest pause between two parts of a client's request body before 408, on every listener.
    #[arg(long, env = "GONKA_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub body_read_timeout: Duration,
    /// Largest request body in bytes.
    #[arg(long, env = "GONKA_BODY_LIMIT", default_value_t = 16 * 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// File of accepted API keys, one per line (`#` comments): a key, or `sha256:<hex>` of the key so the
    /// file holds no plaintext (`printf %s KEY | sha256sum`); unset means no authentication.
    #[arg(long, env = "GONKA_API_KEYS_FILE", global = true)]
    pub api_keys_file: Option<PathBuf>,
    /// Fallback model, `MODEL=FALLBACK`, tried when MODEL has no eligible node (repeatable).
    #[arg(
        long = "fallback",
        env = "GONKA_FALLBACKS",
        value_delimiter = ',',
        global = true
    )]
    pub fallbacks: Vec<String>,
    /// Bearer token required by the admin API.
    #[arg(long, env = "GONKA_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,
    /// Bearer token for the ML nodes' management API (`gonka-mlnode --token`).
    #[arg(
        long,
        env = "GONKA_MLNODE_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub mlnode_token: Option<String>,
    /// Comma-separated governance models, replacing the default five.
    #[arg(
        long,
        env = "GONKA_GOVERNANCE_MODELS",
        value_name = "A,B,...",
        global = true
    )]
    pub models: Option<String>,
    /// Epoch the gateway starts in (a chain-less deployment keeps it; devnet too).
    #[arg(long, env = "GONKA_EPOCH", default_value_t = 0, global = true)]
    pub epoch: u64,
    /// Length of an epoch of the local epoch clock (e.g. `1h`); unset keeps `--epoch` fixed.
    /// A disabled node keeps serving until the epoch it was disabled in is over.
    #[arg(long, env = "GONKA_EPOCH_LENGTH", value_parser = parse_duration, global = true)]
    pub epoch_length: Option<Duration>,
    /// How long in-flight requests may run after SIGTERM.
    #[arg(long, env = "GONKA_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub drain_timeout: Duration,
    /// OpenTelemetry OTLP/HTTP endpoint for trace export (e.g. http://127.0.0.1:4318).
    #[arg(long, env = "GONKA_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// Log format.
    #[arg(long, env = "GONKA_LOG_FORMAT", value_enum, default_value_t = gonka_core::logging::LogFormat::Text, global = true)]
    pub log_format: gonka_core::logging::LogFormat,
    /// Proof-of-Compute epochs.
    #[command(flatten)]
    pub poc: crate::poc::cli::PocArgs,
    /// Subcommand; none runs the gateway.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the gateway plus ML nodes (simulated, or real llama.cpp engines with `--engine
    /// llamacpp`) on this machine, ready for requests.
    Devnet {
        /// Number of ML nodes.
        #[arg(long, default_value_t = 3)]
        ml_nodes: usize,
        /// Model the nodes serve.
        #[arg(long, default_value = crate::devnet::DEFAULT_MODEL)]
        model: String,
        /// max_concurrent of each node.
        #[arg(long, default_value_t = 16)]
        max_concurrent: u32,
        /// Directory of the registry (default: a temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Engine of the ML nodes.
        #[command(flatten)]
        engine: DevnetEngineArgs,
    },
}

/// Which engine devnet's ML nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DevnetEngineKind {
    /// The built-in simulator (no model, no engine process).
    #[default]
    Simulator,
    /// A real llama.cpp `llama-server` process per node.
    Llamacpp,
}

/// The engine flags of `devnet`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DevnetEngineArgs {
    /// Engine of the ML nodes: simulator, or llamacpp (a real llama-server per node).
    #[arg(long = "engine", value_enum, default_value_t = DevnetEngineKind::Simulator)]
    pub kind: DevnetEngineKind,
    /// llama-server executable for --engine llamacpp (`bash scripts/llama-server.sh` prints one).
    #[arg(long, env = "LLAMA_SERVER")]
    pub llama_server: Option<PathBuf>,
    /// GGUF file served under --model with --engine llamacpp (default: a tiny random model
    /// written into the data directory).
    #[arg(long)]
    pub model_file: Option<PathBuf>,
    /// Extra llama-server argument (repeatable), e.g. `--engine-arg=--chat-template --engine-arg=gemma`.
    #[arg(long = "engine-arg", allow_hyphen_values = true)]
    pub engine_args: Vec<String>,
}

impl DevnetEngineArgs {
    /// The devnet engine these flags describe.
    ///
    /// # Errors
    /// A message naming the flag: llama.cpp flags without `--engine llamacpp`, or
    /// `--engine llamacpp` without a llama-server.
    pub fn to_engine(&self) -> Result<crate::devnet::DevnetEngine, String> {
        match self.kind {
            DevnetEngineKind::Simulator => {
                if self.model_file.is_some() || !self.engine_args.is_empty() {
                    return Err("--model-file and --engine-arg need --engine llamacpp".to_owned());
                }
                Ok(crate::devnet::DevnetEngine::Simulator)
            }
            DevnetEngineKind::Llamacpp => {
                let server = self.llama_server.clone().ok_or_else(|| {
                    "--engine llamacpp needs --llama-server PATH or LLAMA_SERVER (`bash scripts/llama-server.sh` builds one and prints its path)".to_owned()
                })?;
                Ok(crate::devnet::DevnetEngine::Llamacpp(
                    crate::devnet::LlamacppEngine {
                        server,
                        model_file: self.model_file.clone(),
                        args: self.engine_args.clone(),
                    },
                ))
            }
        }
    }
}

/// `--policy`: a built-in scheduler by name.
fn parse_policy(name: &str) -> Result<Arc<dyn Scheduler>, crate::schedule::UnknownPolicy> {
    crate::schedule::scheduler_by_name(name)
}

impl Args {
    /// The gateway configuration these flags describe, over `registry`.
    ///
    /// # Errors
    /// A message naming the flag: unreadable API keys file, malformed `--fallback`.
    pub fn gateway_config(&self, registry: Arc<dyn NodeRegistry>) -> Result<GatewayConfig, String> {
        let mut c = GatewayConfig::new(registry);
        c.epoch = match self.epoch_length {
            Some(length) => Arc::new(crate::epoch_clock::ClockEpoch::new(self.epoch, length)),
            None => Arc::new(ManualEpoch::new(self.epoch)),
        };
        c.scheduler = self.policy.clone();
        c.queue_timeout = self.queue_timeout;
        c.queue_capacity = self.queue_capacity;
        c.max_tries = self.max_tries.max(1);
        c.breaker_threshold = self.breaker_threshold.max(1);
        c.health_interval = self.health_interval;
        c.health_timeout = self.health_timeout;
        c.reconcile_interval = self.reconcile_interval;
        c.broker_timeout = self.broker_timeout;
        c.broker_up_timeout = self.broker_up_timeout;
        c.request_timeout = self.request_timeout;
        c.idle_timeout = self.idle_timeout;
        c.header_read_timeout = self.header_read_timeout;
        c.body_read_timeout = self.body_read_timeout;
        c.body_limit = self.body_limit;
        c.drain_timeout = self.drain_timeout;
        c.admin_token = self.admin_token.clone().filter(|t| !t.is_empty());
        c.mlnode_token = self.mlnode_token.clone().filter(|t| !t.is_empty());
        if let Some(models) = &self.models {
            let g = GovernanceModels::parse_list(models);
            if !g.is_empty() {
                c.governance = g;
            }
        }
        if let Some(path) = &self.api_keys_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--api-keys-file {}: cannot read: {e}", path.display()))?;
            c.api_keys = crate::config::parse_api_keys(&text);
            if c.api_keys.is_empty() {
                return Err(format!(
                    "--api-keys-file {}: no keys in the file",
                    path.display()
                ));
            }
        }
        for f in &self.fallbacks {
            c.add_fallback(f).map_err(|e| format!("--fallback: {e}"))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn flags_have_the_documented_defaults() {
        let a = Args::try_parse_from(["gonka-gateway"]).unwrap();
        assert_eq!(a.public_listen.to_string(), "127.0.0.1:9000");
        assert_eq!(a.admin_listen.to_string(), "127.0.0.1:9200");
        assert_eq!(a.poc_listen.to_string(), "127.0.0.1:9100");
        assert_eq!(a.policy.name(), "least-busy");
        assert_eq!(a.queue_timeout, Duration::from_secs(30));
        assert_eq!(a.max_tries, 3);
        assert_eq!(a.header_read_timeout, Duration::from_secs(30));
        assert_eq!(a.body_read_timeout, Duration::from_secs(30));
        assert!(a.command.is_none());
    }

    #[test]
    fn read_timeout_flags_reach_the_gateway_config() {
        let a = Args::try_parse_from([
            "gonka-gateway",
            "--header-read-timeout",
            "5s",
            "--body-read-timeout",
            "750ms",
        ])
        .unwrap();
        let c = a
            .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
            .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.body_read_timeout, Duration::from_millis(750));
    }

    #[test]
    fn devnet_subcommand_and_fallbacks_parse() {
        let a = Args::try_parse_from([
            "gonka-gateway",
            "devnet",
            "--ml-nodes",
            "2",
            "--policy",
            "scored",
            "--fallback",
            "Qwen/QwQ-32B=Qwen/Qwen3-32B-FP8",
        ])
        .unwrap();
        assert!(matches!(
            a.command,
            Some(Command::Devnet { ml_nodes: 2, .. })
        ));
        assert_eq!(a.policy.name(), "scored");
        let c = a
            .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
            .unwrap();
        assert_eq!(
            c.fallbacks["Qwen/QwQ-32B"],
            vec!["Qwen/Qwen3-32B-FP8".to_owned()]
        );
    }

    #[test]
    fn devnet_engine_flags_choose_llamacpp_with_its_server_file_and_args() {
        let a = Args::try_parse_from([
            "gonka-gateway",
            "devnet",
            "--engine",
            "llamacpp",
            "--llama-server",
            "/opt/llama-server",
            "--model-file",
            "/m/gemma.gguf",
            "--engine-arg=--chat-template",
            "--engine-arg",
            "gemma",
        ])
        .unwrap();
        let Some(Command::Devnet { engine, .. }) = a.command else {
            panic!("devnet expected")
        };
        match engine.to_engine().unwrap() {
            crate::devnet::DevnetEngine::Llamacpp(l) => {
                assert_eq!(l.server, PathBuf::from("/opt/llama-server"));
                assert_eq!(l.model_file, Some(PathBuf::from("/m/gemma.gguf")));
                assert_eq!(l.args, ["--chat-template", "gemma"]);
            }
            other => panic!("llamacpp expected, got {other:?}"),
        }
    }

    #[test]
    fn devnet_llama_flags_without_the_llamacpp_engine_are_rejected_by_name() {
        let a =
            Args::try_parse_from(["gonka-gateway", "devnet", "--model-file", "/m/x.gguf"]).unwrap();
        let Some(Command::Devnet { engine, .. }) = a.command else {
            panic!("devnet expected")
        };
        assert!(engine
            .to_engine()
            .unwrap_err()
            .contains("--engine llamacpp"));
        let a = Args::try_parse_from(["gonka-gateway", "devnet", "--engine", "llamacpp"]).unwrap();
        let Some(Command::Devnet { mut engine, .. }) = a.command else {
            panic!("devnet expected")
        };
        engine.llama_server = None; // as if LLAMA_SERVER were unset
        assert!(engine.to_engine().unwrap_err().contains("--llama-server"));
    }

    #[test]
    fn a_bad_policy_is_rejected_with_the_choices() {
        let e = Args::try_parse_from(["gonka-gateway", "--policy", "fastest"]).unwrap_err();
        assert!(e.to_string().contains("least-busy"));
    }
}
