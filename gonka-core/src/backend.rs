//! The [`InferenceBackend`] trait: one inference engine serving one model.

use async_trait::async_trait;

use crate::Result;

/// What to launch: the `inference/up` request of the ML node API plus the port to listen on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Model name (governance name, e.g. `Qwen/Qwen3-32B-FP8`).
    pub model: String,
    /// Data type (`auto` from the network node).
    pub dtype: String,
    /// Extra engine arguments (the node's `models[model].args`).
    pub args: Vec<String>,
    /// Loopback port the engine listens on.
    pub port: u16,
}

/// Health of an engine as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineHealth {
    /// Not started, or stopped on request.
    Stopped,
    /// Started, not answering ready yet.
    Starting,
    /// Answering ready.
    Ready,
    /// Died or failed to start; the reason (often the engine's own last error line).
    Failed(String),
}

/// One inference engine (vLLM, SGLang, llama.cpp server, simulator) serving one model.
///
/// Contract: `start` returns once the engine answers ready (or fails with the reason, leaving no
/// process behind); `stop` is idempotent and returns when the engine's resources (process, port)
/// are released; `health` never blocks longer than a short probe; `base_url` is `Some` exactly
/// while the engine answers ready (a proxy routes only to engines that have one). An implementation that supervises a process restarts it
/// when it dies while it should run (health `Starting` meanwhile) and reports `Failed(reason)`
/// once it gives up. The trait is object safe: the ML node holds engines as
/// `Arc<dyn InferenceBackend>`.
#[async_trait]
pub trait InferenceBackend: Send + Sync + std::fmt::Debug {
    /// Engine kind (`vllm`, `sglang`, `llamacpp`, `simulator`).
    fn kind(&self) -> &'static str;

    /// Starts the engine for `spec` and waits until it is ready.
    ///
    /// # Errors
    /// `Engine` with the failure reason; `Busy` when already running another model.
    async fn start(&self, spec: &LaunchSpec) -> Result<()>;

    /// Stops the engine (graceful, then forced after a grace period).
    ///
    /// # Errors
    /// `Engine` when the process could not be stopped.
    async fn stop(&self) -> Result<()>;

    /// Current health.
    async fn health(&self) -> EngineHealth;

    /// Base URL of the engine's OpenAI-compatible API (e.g. `http://127.0.0.1:5001`).
    fn base_url(&self) -> Option<String>;

    /// Process id of the engine while a process runs; `None` for in-process engines or when no
    /// process is running.
    fn pid(&self) -> Option<u32> {
        None
    }

    /// The most recent failure reason (start failure, crash), kept after a successful restart so
    /// operators can see why the engine restarted; `None` when it never failed.
    fn last_error(&self) -> Option<String> {
        None
    }

    /// How many times the engine was restarted after dying since the last `start`.
    fn restarts(&self) -> u32 {
        0
    }

    /// The engine's most recent output lines (stdout and stderr), oldest first; empty for
    /// engines without captured output.
    fn log_tail(&self) -> Vec<String> {
        Vec::new()
    }
}
