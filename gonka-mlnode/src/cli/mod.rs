//! Command line of the `gonka-mlnode` binary: flags (each also read from a `GONKA_MLNODE_*`
//! environment variable and from the `--config` TOML file) and turning them into an
//! [`MlNodeConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use gonka_core::cli::{Layered, ParseError};
use gonka_core::deploy::GpuVendor;
use gonka_mlnode::engine::{BackoffConfig, EngineKind};
use gonka_mlnode::simulator::{FaultConfig, SimulatorConfig};
use gonka_mlnode::MlNodeConfig;

pub use gonka_core::logging::LogFormat;

/// gonka-mlnode: the ML node agent of a Gonka inference host. Serves the management API the
/// network node drives (inference up/down, state, GPUs) and proxies OpenAI inference to the
/// engine it supervises (vLLM, SGLang, llama.cpp, or the built-in simulator).
#[derive(Debug, Clone, Parser)]
#[command(name = "gonka-mlnode", version, after_help = concat!(gonka_core::log_help!(), "\n\n", gonka_core::otel_help!()))]
pub struct Cli {
    /// TOML file of settings (keys are the long flag names, e.g. `engine = "vllm"`): flags and
    /// environment variables win over it, it wins over the defaults.
    #[arg(long, env = "GONKA_MLNODE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Engine argument for the start model (repeatable, e.g. `--engine-arg=--max-model-len --engine-arg=8192`;
    /// in the environment, whitespace-separated).
    #[arg(
        long = "engine-arg",
        env = "GONKA_MLNODE_ENGINE_ARGS",
        allow_hyphen_values = true
    )]
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
    /// Bearer token required on the management API. Set but empty is a start-up error.
    #[arg(long, env = "GONKA_MLNODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve the management API beyond loopback without --token, with a warning; without this
    /// flag that refuses to start. A node driven by upstream's network node (which sends no
    /// token) needs it, on a private, firewalled address.
    #[arg(long, env = "GONKA_MLNODE_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
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
    /// The agent's own directory (default: --log-dir): locked while the agent runs, it holds a
    /// pid file per running engine; at start, engines a killed agent left running there are
    /// stopped (SIGTERM to their process group, SIGKILL after --grace-period). One per agent;
    /// neither set: no pid files.
    #[arg(long, env = "GONKA_MLNODE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL when stopping an engine.
    #[arg(long, env = "GONKA_MLNODE_GRACE_PERIOD", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace_period: Duration,
    /// Time an engine may take to answer ready.
    #[arg(long, env = "GONKA_MLNODE_STARTUP_TIMEOUT", default_value = "20m", value_parser = humantime::parse_duration)]
    pub startup_timeout: Duration,
    /// Time between health probes of a ready engine (at least 100ms).
    #[arg(long, env = "GONKA_MLNODE_HEALTH_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,
    /// First restart delay (doubles per failure).
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_INITIAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub backoff_initial: Duration,
    /// Largest restart delay.
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_MAX", default_value = "1m", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,
    /// Healthy running time that resets the failure count.
    #[arg(long, env = "GONKA_MLNODE_BACKOFF_RESET", default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_reset: Duration,
    /// Consecutive failures after which an engine is given up.
    #[arg(long, env = "GONKA_MLNODE_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,
    /// Hugging Face model cache for /api/v1/models/* (default: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub).
    #[arg(long, env = "GONKA_MLNODE_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Time open connections get to finish at shutdown.
    #[arg(long, env = "GONKA_MLNODE_DRAIN_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Most connections open at once on each listener (management, inference); more are answered
    /// 503 and closed. Default: the open-file limit (raised to its hard limit at start) less a
    /// reserve for engine and download connections, at most 16384.
    #[arg(long, env = "GONKA_MLNODE_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address on each listener; more are answered
    /// 503 and closed. Default: a quarter of --max-connections (the gateway connects from one
    /// address: keep this above its concurrency to the node).
    #[arg(long, env = "GONKA_MLNODE_MAX_CONNECTIONS_PER_IP", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_ip: Option<usize>,
    /// GGUF llama model PoC runs on whatever model a round names (needs the `candle` feature);
    /// default: the served model (computed by a vLLM engine, on the served GGUF with llamacpp).
    #[arg(
        long,
        env = "GONKA_MLNODE_POC_MODEL_FILE",
        conflicts_with = "poc_tiny_model"
    )]
    pub poc_model_file: Option<PathBuf>,
    /// PoC on a small random-weight model generated from each round's block hash, whatever
    /// model a round names (devnets and tests); default: the served model.
    #[arg(long, env = "GONKA_MLNODE_POC_TINY_MODEL")]
    pub poc_tiny_model: bool,
    /// Time between two PoC artifact callbacks to the network node.
    #[arg(long, env = "GONKA_MLNODE_POC_CALLBACK_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub poc_callback_interval: Duration,
    /// Nonces of queued PoC `/generate` jobs at most; more is answered 429 (upstream
    /// `POC_MAX_QUEUED_NONCES`).
    #[arg(long, env = "GONKA_MLNODE_POC_MAX_QUEUED_NONCES", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub poc_max_queued_nonces: u64,
    /// How long a finished PoC `/generate` job's result stays readable (upstream
    /// `POC_GENERATE_RESULT_TTL_SEC`).
    #[arg(long, env = "GONKA_MLNODE_POC_RESULT_TTL", default_value = "300s", value_parser = humantime::parse_duration)]
    pub poc_result_ttl: Duration,
    /// Simulator: seed of the output text and fault draws.
    #[arg(long, env = "GONKA_MLNODE_SIM_SEED", default_value_t = 42)]
    pub sim_seed: u64,
    /// Simulator: time to first token.
    #[arg(long, env = "GONKA_MLNODE_SIM_TTFT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sim_ttft: Duration,
    /// Simulator: inter-token latency.
    #[arg(long, env = "GONKA_MLNODE_SIM_ITL", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sim_itl: Duration,
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
    /// Simulator: context window of the served model in tokens, reported in `/api/v1/state`,
    /// `/v1/models` and `/tokenize` (an up's `--max-model-len N` argument wins).
    #[arg(long, env = "GONKA_MLNODE_SIM_MAX_MODEL_LEN", default_value_t = 32768)]
    pub sim_max_model_len: u32,
    /// Simulator: engine memory in MiB that `/api/v1/state` reports (unset: none reported).
    #[arg(long, env = "GONKA_MLNODE_SIM_MEMORY_TOTAL_MB")]
    pub sim_memory_total_mb: Option<u64>,
    /// Simulator: free engine memory in MiB that `/api/v1/state` reports (unset: all of
    /// `--sim-memory-total-mb`); below 10 % free the pressure is elevated, below 1 % and
    /// 512 MiB critical (the gateway then routes nothing to the node).
    #[arg(long, env = "GONKA_MLNODE_SIM_MEMORY_FREE_MB")]
    pub sim_memory_free_mb: Option<u64>,
    /// Simulator: how long the model stays in engine memory without a request (like Ollama's
    /// keep_alive, e.g. `5m`); after that `/api/v1/state` reports it on disk, not loaded, until
    /// the next request. Unset: loaded while the engine runs.
    #[arg(long, env = "GONKA_MLNODE_SIM_KEEP_ALIVE", value_parser = humantime::parse_duration)]
    pub sim_keep_alive: Option<Duration>,
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
    /// Simulated GPUs: report this many identical devices from `/api/v1/gpu/devices` and
    /// `/health` instead of detecting the host's (0: detect). For trying placement,
    /// co-scheduling and preemption without GPUs; allowed with any engine (nothing is run on
    /// them) and logged as simulated at start.
    #[arg(long, env = "GONKA_MLNODE_SIM_GPUS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub sim_gpus: u32,
    /// Simulated GPUs: the name every device reports.
    #[arg(long, env = "GONKA_MLNODE_SIM_GPU_NAME", default_value = gonka_mlnode::gpu::DEFAULT_SIM_GPU_NAME)]
    pub sim_gpu_name: String,
    /// Simulated GPUs: their vendor, one of nvidia, amd, hygon, ascend, musa, biren.
    #[arg(long, env = "GONKA_MLNODE_SIM_GPU_VENDOR", default_value = "nvidia", value_parser = parse_vendor)]
    pub sim_gpu_vendor: GpuVendor,
    /// Simulated GPUs: the memory of each device in MiB.
    #[arg(long, env = "GONKA_MLNODE_SIM_GPU_MEMORY_MB", default_value_t = gonka_mlnode::gpu::DEFAULT_SIM_GPU_MEMORY_MB, value_parser = clap::value_parser!(u64).range(1..))]
    pub sim_gpu_memory_mb: u64,
    /// Join this gateway by itself: register through its admin API (base URL of the admin
    /// listener, e.g. http://10.0.0.1:9200), then send a heartbeat with the node's state every
    /// --heartbeat-interval. The gateway takes the node out of routing when heartbeats stop.
    #[arg(long, env = "GONKA_MLNODE_GATEWAY_URL", value_name = "URL")]
    pub gateway_url: Option<String>,
    /// The gateway's admin token (its --admin-token), sent with registration and heartbeats.
    #[arg(long, env = "GONKA_MLNODE_GATEWAY_TOKEN", hide_env_values = true)]
    pub gateway_token: Option<String>,
    /// Id this node registers under with --gateway-url (default: <hostname>-<management port>).
    #[arg(long, env = "GONKA_MLNODE_NODE_ID")]
    pub node_id: Option<String>,
    /// Host or IP the gateway reaches this agent at (default: the --mgmt-listen IP when it is
    /// a specific one, else this machine's address on the route to the gateway).
    #[arg(long, env = "GONKA_MLNODE_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,
    /// Model registered for this node with --gateway-url (repeatable; in the environment,
    /// comma-separated; default: --model).
    #[arg(
        long = "register-model",
        env = "GONKA_MLNODE_REGISTER_MODELS",
        value_delimiter = ','
    )]
    pub register_models: Vec<String>,
    /// max_concurrent registered for this node with --gateway-url.
    #[arg(long, env = "GONKA_MLNODE_MAX_CONCURRENT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: u32,
    /// Time between two heartbeats to the gateway (it allows 3 to be missed by default).
    #[arg(long, env = "GONKA_MLNODE_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,
    /// Find the gateway by mDNS on the local network (a gateway started with --mdns advertises
    /// its admin API as _gonka-gateway._tcp.local.) and join it as with --gateway-url, which
    /// wins when both are set.
    #[arg(long, env = "GONKA_MLNODE_DISCOVER")]
    pub discover: bool,
    /// Delete this node from the gateway's registry at shutdown (default: it stays registered,
    /// out of routing, and is routed to again when the agent comes back).
    #[arg(long, env = "GONKA_MLNODE_DEREGISTER_ON_EXIT")]
    pub deregister_on_exit: bool,
    /// Log format.
    #[arg(
        long,
        env = "GONKA_MLNODE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// GPU vendor whose visible-devices variable binds deployment task instances to their GPUs:
    /// nvidia (CUDA_VISIBLE_DEVICES), amd or hygon (HIP_VISIBLE_DEVICES), ascend
    /// (ASCEND_RT_VISIBLE_DEVICES), musa (MUSA_VISIBLE_DEVICES). Default: the detected GPUs'
    /// vendor, else nvidia.
    #[arg(long, env = "GONKA_MLNODE_TASK_GPU_VENDOR")]
    pub task_gpu_vendor: Option<String>,
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
        #[arg(long, env = "GONKA_MLNODE_TINY_MODEL_SEED", default_value_t = 0)]
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
                let model = gonka_mlnode::gguf::TinyLlama {
                    seed: *seed,
                    ..gonka_mlnode::gguf::TinyLlama::default()
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

fn parse_vendor(s: &str) -> Result<GpuVendor, String> {
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

impl Cli {
    /// The start-up check of the management listener, before it is bound: an empty `--token` is
    /// an error, and so is `--mgmt-listen` beyond loopback without a token unless
    /// `--allow-unauthenticated` (the agent then logs a warning when it starts).
    ///
    /// # Errors
    /// A message naming the flags, the address and the remedies.
    pub fn check_management_listener(&self) -> Result<(), String> {
        use gonka_core::exposure::{check_listener, PrivateListener};
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(
                "--token (GONKA_MLNODE_TOKEN) is set but empty: give a token, or unset it \
                 to run without one"
                    .into(),
            );
        }
        let listener = PrivateListener {
            what: "management API (--mgmt-listen)",
            addr: self.mgmt_listen,
            authenticated: self.token.is_some(),
            remedy: "set --token (GONKA_MLNODE_TOKEN) and the gateway's --mlnode-token",
        };
        check_listener(
            listener,
            self.allow_unauthenticated,
            "--allow-unauthenticated (GONKA_MLNODE_ALLOW_UNAUTHENTICATED)",
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// The PoC settings these flags describe: the served model unless `--poc-tiny-model` or
    /// `--poc-model-file` (loaded now) chooses another.
    ///
    /// # Errors
    /// [`gonka_mlnode::poc::PocModelError`] (naming `--poc-model-file`) when it cannot be used.
    pub fn poc_settings(
        &self,
    ) -> Result<gonka_mlnode::poc::PocSettings, gonka_mlnode::poc::PocModelError> {
        use gonka_mlnode::poc::PocModel;
        let model = match (&self.poc_model_file, self.poc_tiny_model) {
            (Some(path), _) => PocModel::File(path.clone()),
            (None, true) => PocModel::Tiny,
            (None, false) => PocModel::Served,
        };
        let files = self.model_files.iter().cloned().collect::<BTreeMap<_, _>>();
        gonka_mlnode::poc::PocSettings::from_flags(self.poc_callback_interval, model, &files).map(
            |s| gonka_mlnode::poc::PocSettings {
                max_queued_nonces: usize::try_from(self.poc_max_queued_nonces)
                    .unwrap_or(usize::MAX),
                result_ttl: self.poc_result_ttl,
                ..s
            },
        )
    }

    /// The joining these flags describe (`--gateway-url` and its companions), if any.
    pub fn join_settings(&self) -> Option<gonka_mlnode::join::JoinSettings> {
        let url = match self.gateway_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => url,
            None if self.discover => "",
            None => return None,
        };
        Some(gonka_mlnode::join::JoinSettings {
            discover: self
                .discover
                .then(gonka_mlnode::discover::DiscoverSettings::default),
            token: self.gateway_token.clone().filter(|t| !t.is_empty()),
            node_id: self.node_id.clone(),
            advertise_host: self.advertise_host.clone(),
            models: self.register_models.clone(),
            max_concurrent: self.max_concurrent,
            interval: self.heartbeat_interval.max(Duration::from_millis(10)),
            deregister: self.deregister_on_exit,
            ..gonka_mlnode::join::JoinSettings::new(url.trim())
        })
    }

    /// The simulated GPUs these flags describe (`--sim-gpus N` with N > 0), if any.
    pub fn simulated_gpus(&self) -> Option<gonka_mlnode::gpu::SimulatedGpus> {
        (self.sim_gpus > 0).then(|| gonka_mlnode::gpu::SimulatedGpus {
            count: self.sim_gpus,
            name: self.sim_gpu_name.clone(),
            vendor: self.sim_gpu_vendor,
            memory_mb: self.sim_gpu_memory_mb,
        })
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
                time_to_first_token: self.sim_ttft,
                inter_token_latency: self.sim_itl,
                output_tokens: self.sim_output_tokens,
                max_concurrency: self.sim_max_concurrency,
                faults: FaultConfig {
                    error_rate: self.sim_error_rate,
                    hang_rate: self.sim_hang_rate,
                    crash_rate: self.sim_crash_rate,
                    crash_after_tokens: self.sim_crash_after_tokens,
                    unhealthy: false,
                },
                load_time: self.sim_load_time,
                max_model_len: self.sim_max_model_len,
                memory_total_mb: self.sim_memory_total_mb,
                memory_free_mb: self.sim_memory_free_mb,
                keep_alive: self.sim_keep_alive,
            },
            replicas: usize::from(self.replicas),
            engine_port_base: self.engine_port_base,
            log_dir: self.log_dir.clone(),
            log_max_bytes: self.log_max_bytes,
            log_files: self.log_files,
            state_dir: self.state_dir.clone().or_else(|| self.log_dir.clone()),
            grace_period: self.grace_period,
            startup_timeout: self.startup_timeout,
            health_interval: self.health_interval.max(Duration::from_millis(100)),
            backoff: BackoffConfig {
                initial: self.backoff_initial,
                max: self.backoff_max,
                reset_after: self.backoff_reset,
                max_failures: self.max_failures,
            },
            models_dir: self.models_dir.clone(),
            hub: gonka_mlnode::models::HubSettings::from_env(),
            drain_timeout: self.drain_timeout,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            join: self.join_settings(),
            sim_gpus: self.simulated_gpus(),
            task_gpu_vendor: self.task_gpu_vendor.clone(),
            ..MlNodeConfig::default()
        }
    }
}

/// Parses `argv` (program name first) with `command` (normally [`Cli::command`]): flags, then
/// `GONKA_MLNODE_*` environment variables, then the `--config` file, then the defaults.
///
/// # Errors
/// See [`ParseError`].
pub fn parse<I, S>(command: clap::Command, argv: I) -> Result<Cli, ParseError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let mut layered = Layered::new(command, argv)?;
    layered.config_file("config")?;
    let matches = layered.into_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    // `GONKA_MLNODE_ENGINE_ARGS` is one string of whitespace-separated arguments.
    if matches.value_source("engine_args") == Some(ValueSource::EnvVariable) {
        cli.engine_args = cli
            .engine_args
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_owned))
            .collect();
    }
    Ok(cli)
}

/// [`parse`] of this process's command line with [`Cli::command`].
///
/// # Errors
/// See [`ParseError`].
pub fn parse_env() -> Result<Cli, ParseError> {
    parse(Cli::command(), std::env::args_os())
}

#[cfg(test)]
mod tests;
