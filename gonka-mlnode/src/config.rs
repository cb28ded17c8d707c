//! [`MlNodeConfig`]: everything `run` needs. `Default` is a simulator node fit for tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{BackoffConfig, EngineKind, LogFileConfig, ProcessOptions};
use crate::simulator::SimulatorConfig;

/// Configuration of one ML node agent.
#[derive(Debug, Clone)]
pub struct MlNodeConfig {
    /// Engine to run.
    pub engine: EngineKind,
    /// Replaces the engine's launcher (`vllm`, `python3 -m sglang.launch_server`,
    /// `llama-server`); split on whitespace.
    pub engine_cmd: Option<String>,
    /// Model brought up at start, as if `POST /api/v1/inference/up` had been called.
    pub model: Option<String>,
    /// `dtype` for the model brought up at start.
    pub dtype: String,
    /// Engine arguments for the model brought up at start.
    pub model_args: Vec<String>,
    /// Model name → GGUF file (llama.cpp).
    pub model_files: BTreeMap<String, PathBuf>,
    /// Bearer token the management API requires (`None`: open).
    pub token: Option<String>,
    /// Simulator behaviour (engine `simulator`).
    pub simulator: SimulatorConfig,
    /// Engine instances per model; the proxy balances across them by least connections.
    pub replicas: usize,
    /// First loopback port of the engines (replica `i` gets `base + i`); `0` picks free ports.
    pub engine_port_base: u16,
    /// Directory of engine log files (`None`: keep only the in-memory tail).
    pub log_dir: Option<PathBuf>,
    /// Size at which an engine log file is rotated.
    pub log_max_bytes: u64,
    /// Rotated engine log files kept.
    pub log_files: usize,
    /// The agent's state directory (`None`: none): locked while the agent runs, it holds a pid
    /// file per running engine, and at start the agent stops the engines a killed predecessor
    /// left there. One directory per agent.
    pub state_dir: Option<PathBuf>,
    /// SIGTERM → SIGKILL delay when stopping an engine.
    pub grace_period: Duration,
    /// How long an engine may take to answer ready.
    pub startup_timeout: Duration,
    /// Pause between readiness probes during start-up.
    pub poll_interval: Duration,
    /// Pause between health probes of a ready engine.
    pub health_interval: Duration,
    /// Restart policy of dead engines.
    pub backoff: BackoffConfig,
    /// Hugging Face cache directory listed by `/api/v1/models/list` and downloaded into by
    /// `/api/v1/models/download` (`None`: `HF_HUB_CACHE` / `HF_HOME` rules).
    pub models_dir: Option<PathBuf>,
    /// The Hugging Face hub model downloads come from (`Default`: huggingface.co, no token; the
    /// binary reads `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`).
    pub hub: crate::models::HubSettings,
    /// Time open connections get to finish at shutdown, and requests in flight on a task
    /// instance being stopped (`DELETE /api/v1/tasks/{id}`) before its engine stops.
    pub drain_timeout: Duration,
    /// Most connections open at once on each listener (management, inference); more are
    /// answered 503 and closed. `None`: derived from the open-file limit
    /// (`gonka_core::server::default_max_connections`).
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address on each listener; more are
    /// answered 503 and closed. `None`: a quarter of the listener's cap.
    pub max_connections_per_ip: Option<usize>,
    /// Largest request body accepted (management and inference).
    pub max_body_bytes: usize,
    /// Proof-of-Compute backend and callback timing.
    pub poc: crate::poc::PocSettings,
    /// Join a gateway by itself (register, then heartbeat; `--gateway-url`); `None`: the
    /// gateway's operator registers the node.
    pub join: Option<crate::join::JoinSettings>,
    /// Simulated GPUs reported by `/api/v1/gpu/devices` and `/health` instead of the host's
    /// (`--sim-gpus`); `None` (or a count of 0): the host's GPUs are detected.
    pub sim_gpus: Option<crate::gpu::SimulatedGpus>,
    /// The GPU vendor whose visible-devices variable binds task instances to their GPUs
    /// (`nvidia`, `amd`, `hygon`, `ascend`, `musa`; see [`crate::tasks::launch`]); `None`: the
    /// vendor of the detected GPUs, else `nvidia`.
    pub task_gpu_vendor: Option<String>,
}

impl Default for MlNodeConfig {
    fn default() -> Self {
        Self {
            engine: EngineKind::Simulator,
            engine_cmd: None,
            model: None,
            dtype: "auto".to_owned(),
            model_args: Vec::new(),
            model_files: BTreeMap::new(),
            token: None,
            simulator: SimulatorConfig::default(),
            replicas: 1,
            engine_port_base: 0,
            log_dir: None,
            log_max_bytes: 10 * 1024 * 1024,
            log_files: 3,
            state_dir: None,
            grace_period: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(1200),
            poll_interval: Duration::from_millis(250),
            health_interval: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            models_dir: None,
            hub: crate::models::HubSettings::default(),
            drain_timeout: Duration::from_secs(5),
            max_connections: None,
            max_connections_per_ip: None,
            max_body_bytes: 32 * 1024 * 1024,
            poc: crate::poc::PocSettings::default(),
            join: None,
            sim_gpus: None,
            task_gpu_vendor: None,
        }
    }
}

impl MlNodeConfig {
    /// Process options for replica `replica` of a process engine.
    pub fn process_options(&self, replica: usize) -> ProcessOptions {
        let mut options = ProcessOptions::new(self.engine);
        options.launcher = self.engine_cmd.clone();
        options.model_files = self.model_files.clone();
        options.log_file = self.log_dir.as_ref().map(|dir| LogFileConfig {
            path: dir.join(format!("engine-{}-{replica}.log", self.engine)),
            max_bytes: self.log_max_bytes,
            max_files: self.log_files,
        });
        options.startup_timeout = self.startup_timeout;
        options.poll_interval = self.poll_interval;
        options.grace_period = self.grace_period;
        options.health_interval = self.health_interval;
        options.backoff = self.backoff.clone();
        options.pid_file = self
            .state_dir
            .as_ref()
            .map(|dir| dir.join(format!("engine-{replica}.pid")));
        options
    }
}
