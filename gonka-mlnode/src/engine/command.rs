//! The command line of an engine process, and the checks shared by every engine's builder.

use std::fmt;

/// A program and its arguments, ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineCommand {
    /// Executable (looked up in `PATH` when it has no slash).
    pub program: String,
    /// Arguments in order.
    pub args: Vec<String>,
}

impl fmt::Display for EngineCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Why an engine command line cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The launcher (`--engine-cmd` or the engine's default) is empty.
    #[error("engine command is empty")]
    EmptyLauncher,
    /// `additional_args` set a flag the agent sets itself (`--port`, `--host`).
    #[error(
        "additional_args must not contain {flag}: the ML node chooses the engine's host and port"
    )]
    ReservedFlag {
        /// The flag.
        flag: String,
    },
    /// llama.cpp needs a GGUF file and none is known for the model.
    #[error("no GGUF file configured for model {model} (start the ML node with --model-file {model}=/path/to/model.gguf)")]
    NoModelFile {
        /// The model.
        model: String,
    },
    /// The engine kind runs no process (the simulator).
    #[error("the simulator is not a process engine")]
    NotAProcessEngine,
}

/// Splits a launcher (`--engine-cmd`, or an engine's default like `python3 -m
/// sglang.launch_server`) into program and leading arguments on whitespace.
///
/// # Errors
/// [`CommandError::EmptyLauncher`] when the launcher is empty.
pub fn split_launcher(launcher: &str) -> Result<EngineCommand, CommandError> {
    let mut words = launcher.split_whitespace().map(str::to_owned);
    let program = words.next().ok_or(CommandError::EmptyLauncher)?;
    Ok(EngineCommand {
        program,
        args: words.collect(),
    })
}

/// Flags the agent sets itself and that `additional_args` therefore must not contain.
const RESERVED: &[&str] = &["--port", "--host"];

/// Checks that `args` do not override the port or host the agent chose.
///
/// # Errors
/// [`CommandError::ReservedFlag`] naming the offending flag.
pub fn check_args(args: &[String]) -> Result<(), CommandError> {
    for arg in args {
        let flag = arg.split('=').next().unwrap_or(arg);
        if RESERVED.contains(&flag) {
            return Err(CommandError::ReservedFlag {
                flag: flag.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether a `dtype` value asks for anything other than the engine's default.
pub(crate) fn explicit_dtype(dtype: &str) -> Option<&str> {
    let d = dtype.trim();
    (!d.is_empty() && !d.eq_ignore_ascii_case("auto")).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_splits_on_whitespace() {
        let c = split_launcher("python3  -m sglang.launch_server").unwrap();
        assert_eq!(c.program, "python3");
        assert_eq!(c.args, ["-m", "sglang.launch_server"]);
        assert!(split_launcher("  ").is_err());
    }

    #[test]
    fn port_and_host_in_additional_args_are_rejected_by_name() {
        let err = check_args(&["--port=9".into()]).unwrap_err();
        assert_eq!(
            err,
            CommandError::ReservedFlag {
                flag: "--port".into()
            }
        );
        assert!(err.to_string().contains("--port"), "{err}");
        assert!(check_args(&["--host".into(), "0.0.0.0".into()]).is_err());
        assert!(check_args(&["--tensor-parallel-size".into(), "2".into()]).is_ok());
    }
}
