//! The `inference/up` request, its outcome, the agent's errors and request validation.

use gonka_core::LaunchSpec;

use crate::engine::EngineKind;
use crate::MlNodeConfig;

/// `POST /api/v1/inference/up` body (the shared wire type).
pub use gonka_core::mlnode_api::UpRequest;

/// What an accepted up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpOutcome {
    /// Engines are being started.
    Starting,
    /// The same model is already starting: nothing done.
    AlreadyStarting,
    /// The same model is already running: nothing done.
    AlreadyRunning,
}

/// Why an up or down was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// Another model (or PoC) occupies the node.
    #[error("{0}")]
    Conflict(String),
    /// An engine could not be stopped.
    #[error("{0}")]
    Engine(String),
    /// No such thing (a task instance).
    #[error("{0}")]
    NotFound(String),
}

/// Checks an up request before anything is touched: model name, dtype, and that the engine
/// command line can be built (reserved flags, llama.cpp GGUF file).
pub(crate) fn validate(config: &MlNodeConfig, req: &UpRequest) -> Result<(), AgentError> {
    let model = req.model.trim();
    if model.is_empty() {
        return Err(AgentError::Invalid(
            "model is required and cannot be empty".into(),
        ));
    }
    if model.len() > 512 || model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AgentError::Invalid(format!(
            "model {:?} is not a valid model name (no whitespace, at most 512 characters)",
            req.model
        )));
    }
    if req.dtype.is_empty()
        || !req
            .dtype
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AgentError::Invalid(format!(
            "dtype {:?} is not valid (e.g. auto, float16, bfloat16)",
            req.dtype
        )));
    }
    if config.engine != EngineKind::Simulator {
        let spec = LaunchSpec {
            model: req.model.clone(),
            dtype: req.dtype.clone(),
            args: req.additional_args.clone(),
            port: 1,
        };
        config
            .process_options(0)
            .command(&spec)
            .map_err(|e| AgentError::Invalid(e.to_string()))?;
    } else {
        crate::engine::check_args(&req.additional_args)
            .map_err(|e| AgentError::Invalid(e.to_string()))?;
    }
    Ok(())
}
