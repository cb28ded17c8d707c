//! Inference engines: the process engines (vLLM, SGLang, llama.cpp) run and supervised by
//! [`ProcessBackend`], and the in-process [`SimulatorBackend`]. All implement
//! [`gonka_core::InferenceBackend`].

mod backoff;
mod child;
mod command;
pub(crate) mod leftovers;
pub mod llamacpp;
mod logs;
mod pidfile;
mod process;
mod readiness;
pub mod sglang;
mod simulator;
mod spawner;
mod supervisor;
pub mod vllm;
pub mod vllm_args;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use gonka_core::LaunchSpec;

pub use backoff::BackoffConfig;
pub use command::{check_args, split_launcher, CommandError, EngineCommand};
pub use logs::{EngineLog, LogFileConfig, TAIL_LINES};
pub use process::ProcessBackend;
pub use readiness::{ProbeError, Readiness};
pub use simulator::SimulatorBackend;

/// Which engine an ML node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineKind {
    /// The in-process simulator (no GPU).
    #[default]
    Simulator,
    /// vLLM (`vllm serve`).
    Vllm,
    /// SGLang (`python3 -m sglang.launch_server`).
    Sglang,
    /// llama.cpp's `llama-server`.
    Llamacpp,
}

impl EngineKind {
    /// The name used on the command line and in `/api/v1/state`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Simulator => "simulator",
            EngineKind::Vllm => "vllm",
            EngineKind::Sglang => "sglang",
            EngineKind::Llamacpp => "llamacpp",
        }
    }

    /// How readiness is probed for this engine.
    pub fn readiness(self) -> Readiness {
        match self {
            EngineKind::Vllm | EngineKind::Sglang => Readiness::HealthThenModels,
            EngineKind::Llamacpp | EngineKind::Simulator => Readiness::Health,
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "simulator" | "sim" => Ok(EngineKind::Simulator),
            "vllm" => Ok(EngineKind::Vllm),
            "sglang" => Ok(EngineKind::Sglang),
            "llamacpp" | "llama.cpp" | "llama-server" => Ok(EngineKind::Llamacpp),
            other => Err(format!(
                "unknown engine {other:?}: expected simulator, vllm, sglang or llamacpp"
            )),
        }
    }
}

/// How a process engine is launched and supervised.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// Engine kind (vllm, sglang or llamacpp).
    pub kind: EngineKind,
    /// Replaces the engine's default launcher (`--engine-cmd`); split on whitespace.
    pub launcher: Option<String>,
    /// Model name → GGUF file, for llama.cpp.
    pub model_files: BTreeMap<String, PathBuf>,
    /// Where the output goes (`None`: memory tail only).
    pub log_file: Option<LogFileConfig>,
    /// How long an engine may take to answer ready.
    pub startup_timeout: Duration,
    /// Pause between readiness probes.
    pub poll_interval: Duration,
    /// SIGTERM → SIGKILL delay on stop.
    pub grace_period: Duration,
    /// Restart policy.
    pub backoff: BackoffConfig,
    /// Pause between health probes of a ready engine.
    pub health_interval: Duration,
    /// Consecutive failed health probes after which a ready engine counts as hung and is
    /// restarted.
    pub unhealthy_after: u32,
    /// Where the running engine's pid file is kept (`None`: none), so that an agent started
    /// after this one was killed finds and stops the engine; removed when the engine stops.
    pub pid_file: Option<PathBuf>,
    /// Environment variables set on the engine process besides the agent's own (e.g.
    /// `CUDA_VISIBLE_DEVICES` of a task instance); empty for the single-model engines.
    pub env: Vec<(String, String)>,
}

impl ProcessOptions {
    /// Default options for `kind`: 20 min start-up, 250 ms polls, 10 s grace, default backoff,
    /// health probe every 10 s (3 failures = hung).
    pub fn new(kind: EngineKind) -> Self {
        Self {
            kind,
            launcher: None,
            model_files: BTreeMap::new(),
            log_file: None,
            startup_timeout: Duration::from_secs(1200),
            poll_interval: Duration::from_millis(250),
            grace_period: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            health_interval: Duration::from_secs(10),
            unhealthy_after: 3,
            pid_file: None,
            env: Vec::new(),
        }
    }

    /// The command line for `spec`, by the engine's own builder.
    ///
    /// # Errors
    /// [`CommandError`]: a bad launcher, reserved flags in the args, a model without a GGUF
    /// file, or a kind that is not a process engine.
    pub fn command(&self, spec: &LaunchSpec) -> Result<EngineCommand, CommandError> {
        check_args(&spec.args)?;
        let launcher = self.launcher.as_deref();
        match self.kind {
            EngineKind::Vllm => vllm::command(launcher, spec),
            EngineKind::Sglang => sglang::command(launcher, spec),
            EngineKind::Llamacpp => llamacpp::command(launcher, spec, &self.model_files),
            EngineKind::Simulator => Err(CommandError::NotAProcessEngine),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_kind_parses_its_names_and_rejects_others_by_name() {
        for kind in [
            EngineKind::Simulator,
            EngineKind::Vllm,
            EngineKind::Sglang,
            EngineKind::Llamacpp,
        ] {
            assert_eq!(kind.as_str().parse::<EngineKind>().unwrap(), kind);
        }
        assert!("tgi".parse::<EngineKind>().unwrap_err().contains("tgi"));
    }
}
