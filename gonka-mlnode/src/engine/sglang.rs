//! SGLang: `python3 -m sglang.launch_server --model-path MODEL --host 127.0.0.1 --port P
//! [--dtype D] ARGS...`.

use gonka_core::LaunchSpec;

use super::command::{explicit_dtype, split_launcher, CommandError, EngineCommand};

/// Default launcher.
pub const DEFAULT_LAUNCHER: &str = "python3 -m sglang.launch_server";

/// The SGLang command line for `spec`; `launcher` replaces `python3 -m sglang.launch_server`.
///
/// # Errors
/// [`CommandError::EmptyLauncher`] when the launcher is empty.
pub fn command(launcher: Option<&str>, spec: &LaunchSpec) -> Result<EngineCommand, CommandError> {
    let mut cmd = split_launcher(launcher.unwrap_or(DEFAULT_LAUNCHER))?;
    cmd.args.extend([
        "--model-path".to_owned(),
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

    #[test]
    fn sglang_launches_the_module_with_model_path_and_port() {
        let spec = LaunchSpec {
            model: "Qwen/QwQ-32B".into(),
            dtype: "float16".into(),
            args: vec!["--tp".into(), "2".into()],
            port: 30000,
        };
        let c = command(None, &spec).unwrap();
        assert_eq!(
            c.to_string(),
            "python3 -m sglang.launch_server --model-path Qwen/QwQ-32B --host 127.0.0.1 --port 30000 --dtype float16 --tp 2"
        );
    }
}
