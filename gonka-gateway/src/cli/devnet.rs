//! The `devnet` subcommand of `gonka-gateway`: its flags (each also read from a `GONKA_DEVNET_*`
//! environment variable and from the `[devnet]` table of the config file) and its own defaults.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::ArgMatches;
use gonka_core::cli::Layered;

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run the gateway plus ML nodes (simulated, or real llama.cpp engines with `--engine
    /// llamacpp`) on this machine, ready for requests.
    ///
    /// Devnet checks health every 1s and reconciles every 10s unless --health-interval /
    /// --reconcile-interval, their environment variables or the config file say otherwise.
    Devnet {
        /// Number of ML nodes.
        #[arg(long, env = "GONKA_DEVNET_ML_NODES", default_value_t = 3)]
        ml_nodes: usize,
        /// Model the nodes serve.
        #[arg(long, env = "GONKA_DEVNET_MODEL", default_value = gonka_gateway::devnet::DEFAULT_MODEL)]
        model: String,
        /// max_concurrent of each node.
        #[arg(long, env = "GONKA_DEVNET_MAX_CONCURRENT", default_value_t = 16)]
        max_concurrent: u32,
        /// Directory of the registry (default: a temporary directory).
        #[arg(long, env = "GONKA_DEVNET_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Engine of the ML nodes.
        #[command(flatten)]
        engine: DevnetEngineArgs,
        /// Simulated GPUs of the ML nodes.
        #[command(flatten)]
        gpus: DevnetGpuArgs,
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
    #[arg(long = "engine", env = "GONKA_DEVNET_ENGINE", value_enum, default_value_t = DevnetEngineKind::Simulator)]
    pub kind: DevnetEngineKind,
    /// llama-server executable for --engine llamacpp (`bash scripts/llama-server.sh` prints one).
    #[arg(long, env = "GONKA_DEVNET_LLAMA_SERVER")]
    pub llama_server: Option<PathBuf>,
    /// GGUF file served under --model with --engine llamacpp (default: a tiny random model
    /// written into the data directory).
    #[arg(long, env = "GONKA_DEVNET_MODEL_FILE")]
    pub model_file: Option<PathBuf>,
    /// Extra llama-server argument (repeatable), e.g. `--engine-arg=--chat-template --engine-arg=gemma`;
    /// in the environment, whitespace-separated.
    #[arg(
        long = "engine-arg",
        env = "GONKA_DEVNET_ENGINE_ARGS",
        allow_hyphen_values = true
    )]
    pub engine_args: Vec<String>,
}

impl DevnetEngineArgs {
    /// The devnet engine these flags describe.
    ///
    /// # Errors
    /// A message naming the flag: llama.cpp flags without `--engine llamacpp`, or
    /// `--engine llamacpp` without a llama-server.
    pub fn to_engine(&self) -> Result<gonka_gateway::devnet::DevnetEngine, String> {
        match self.kind {
            DevnetEngineKind::Simulator => {
                if self.model_file.is_some() || !self.engine_args.is_empty() {
                    return Err("--model-file and --engine-arg need --engine llamacpp".to_owned());
                }
                Ok(gonka_gateway::devnet::DevnetEngine::Simulator)
            }
            DevnetEngineKind::Llamacpp => {
                let server = self.llama_server.clone().ok_or_else(|| {
                    "--engine llamacpp needs --llama-server PATH or GONKA_DEVNET_LLAMA_SERVER (`bash scripts/llama-server.sh` builds one and prints its path)".to_owned()
                })?;
                Ok(gonka_gateway::devnet::DevnetEngine::Llamacpp(
                    gonka_gateway::devnet::LlamacppEngine {
                        server,
                        model_file: self.model_file.clone(),
                        args: self.engine_args.clone(),
                    },
                ))
            }
        }
    }
}

/// The simulated GPUs of devnet's ML nodes.
#[derive(Debug, Clone, clap::Args)]
pub struct DevnetGpuArgs {
    /// Simulated GPUs per ML node, reported by its /api/v1/gpu/devices for deployments'
    /// placement (0: the nodes report the host's GPUs).
    #[arg(long, env = "GONKA_DEVNET_SIM_GPUS", default_value_t = gonka_gateway::devnet::DEFAULT_SIM_GPUS, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub sim_gpus: u32,
    /// Name of every simulated GPU.
    #[arg(long, env = "GONKA_DEVNET_SIM_GPU_NAME", default_value = gonka_mlnode::gpu::DEFAULT_SIM_GPU_NAME)]
    pub sim_gpu_name: String,
    /// Vendor of the simulated GPUs: nvidia, amd, hygon, ascend, musa or biren.
    #[arg(long, env = "GONKA_DEVNET_SIM_GPU_VENDOR", default_value = "nvidia", value_parser = parse_vendor)]
    pub sim_gpu_vendor: gonka_core::deploy::GpuVendor,
    /// Memory of each simulated GPU in MiB.
    #[arg(long, env = "GONKA_DEVNET_SIM_GPU_MEMORY_MB", default_value_t = gonka_mlnode::gpu::DEFAULT_SIM_GPU_MEMORY_MB, value_parser = clap::value_parser!(u64).range(1..))]
    pub sim_gpu_memory_mb: u64,
}

fn parse_vendor(s: &str) -> Result<gonka_core::deploy::GpuVendor, String> {
    s.parse()
}

impl DevnetGpuArgs {
    /// The simulated GPUs these flags describe (`None` with `--sim-gpus 0`).
    pub fn to_sim(&self) -> Option<gonka_mlnode::gpu::SimulatedGpus> {
        (self.sim_gpus > 0).then(|| gonka_mlnode::gpu::SimulatedGpus {
            count: self.sim_gpus,
            name: self.sim_gpu_name.clone(),
            vendor: self.sim_gpu_vendor,
            memory_mb: self.sim_gpu_memory_mb,
        })
    }
}

/// Lays devnet's defaults (quicker health checks and reconciles, so that a fresh devnet converges
/// fast) below the config file, the environment and the flags.
pub fn lay_defaults(layered: &mut Layered) {
    let d = gonka_gateway::devnet::DevnetConfig::default().gateway;
    for (id, value) in [
        ("health_interval", d.health_interval),
        ("reconcile_interval", d.reconcile_interval),
    ] {
        let value = humantime::format_duration(value).to_string();
        layered.set_default(None, id, vec![value]);
    }
}

/// `--engine-arg` from `GONKA_DEVNET_ENGINE_ARGS` is one string of whitespace-separated arguments.
pub fn split_env_engine_args(command: &mut Option<Command>, matches: &ArgMatches) {
    let from_env = matches
        .subcommand_matches("devnet")
        .and_then(|m| m.value_source("engine_args"))
        == Some(ValueSource::EnvVariable);
    if let (true, Some(Command::Devnet { engine, .. })) = (from_env, command) {
        engine.engine_args = engine
            .engine_args
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_owned))
            .collect();
    }
}
