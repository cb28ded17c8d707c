//! vLLM: `vllm serve MODEL --host 127.0.0.1 --port P [--dtype D] ARGS...`.

use gonka_core::LaunchSpec;

use super::command::{explicit_dtype, split_launcher, CommandError, EngineCommand};

/// Default launcher.
pub const DEFAULT_LAUNCHER: &str = "vllm";

/// The vLLM command line for `spec`; `launcher` replaces `vllm` (e.g. a venv path).
///
/// # Errors
/// [`CommandError::EmptyLauncher`] when the launcher is empty.
pub fn command(launcher: Option<&str>, spec: &LaunchSpec) -> Result<EngineCommand, CommandError> {
    let mut cmd = split_launcher(launcher.unwrap_or(DEFAULT_LAUNCHER))?;
    cmd.args.extend([
        "serve".to_owned(),
        spec.model.clone(),
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        spec.port.to_string(),
    ]);
    if let Some(dtype) = explicit_dtype(&spec.dtype) {
        cmd.args.extend(["--dtype".to_owned(), dtype.to_owned()]);
    }
    cmd.args.extend(spec.args.iter().cloned());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: &str) -> LaunchSpec {
        LaunchSpec {
            model: "Qwen/Qwen3-32B-FP8".into(),
            dtype: dtype.into(),
            args: vec!["--tensor-parallel-size".into(), "4".into()],
            port: 5001,
        }
    }

    #[test]
    fn vllm_serves_the_model_on_the_chosen_loopback_port_with_args_last() {
        let c = command(None, &spec("auto")).unwrap();
        assert_eq!(
            c.to_string(),
            "vllm serve Qwen/Qwen3-32B-FP8 --host 127.0.0.1 --port 5001 --tensor-parallel-size 4"
        );
    }

    #[test]
    fn vllm_passes_dtype_unless_auto() {
        let c = command(Some("/opt/venv/bin/vllm"), &spec("bfloat16")).unwrap();
        assert_eq!(c.program, "/opt/venv/bin/vllm");
        let i = c.args.iter().position(|a| a == "--dtype").unwrap();
        assert_eq!(c.args[i + 1], "bfloat16");
    }
}
