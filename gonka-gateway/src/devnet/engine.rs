//! The engine devnet's ML nodes run: the simulator, or a real llama.cpp `llama-server` each.

use std::path::{Path, PathBuf};

use crate::StartupError;

/// The engine every devnet ML node runs.
#[derive(Debug, Clone, Default)]
pub enum DevnetEngine {
    /// The in-process simulator ([`DevnetConfig::simulator`](super::DevnetConfig::simulator)).
    #[default]
    Simulator,
    /// One real llama.cpp `llama-server` process per node, supervised by its agent.
    Llamacpp(LlamacppEngine),
}

/// How devnet runs llama.cpp.
#[derive(Debug, Clone)]
pub struct LlamacppEngine {
    /// The `llama-server` executable (scripts/llama-server.sh prints one).
    pub server: PathBuf,
    /// GGUF file served under the devnet model's name; `None` writes the tiny random llama
    /// model ([`gonka_mlnode::gguf::TinyLlama`], ~1.2 MB) into the data directory.
    pub model_file: Option<PathBuf>,
    /// llama-server arguments added after [`LlamacppEngine::default_args`] (later ones win),
    /// e.g. `--chat-template gemma`.
    pub args: Vec<String>,
}

impl LlamacppEngine {
    /// The engine at `server` with the generated tiny model and no extra arguments.
    pub fn new(server: impl Into<PathBuf>) -> Self {
        Self {
            server: server.into(),
            model_file: None,
            args: Vec::new(),
        }
    }

    /// Arguments every node's llama-server gets: an 8192-token context shared by 4 slots,
    /// `/metrics` on, and the machine's cores shared among `nodes`.
    pub fn default_args(nodes: usize) -> Vec<String> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = (cores / nodes.max(1)).max(1);
        ["-c", "8192", "-np", "4", "--metrics", "-t"]
            .iter()
            .map(|a| (*a).to_owned())
            .chain([threads.to_string()])
            .collect()
    }
}

/// For llama.cpp: checks the executable, writes the tiny model when no file is given, and
/// returns the model file with the engine arguments every node is registered with.
pub(super) async fn resolve_engine(
    config: &super::DevnetConfig,
    data_dir: &Path,
) -> Result<Option<(PathBuf, Vec<String>)>, StartupError> {
    let DevnetEngine::Llamacpp(llama) = &config.engine else {
        return Ok(None);
    };
    if !llama.server.is_file() {
        return Err(StartupError::devnet_failed(format!(
            "llama-server not found at {} (build one with `bash scripts/llama-server.sh`, pass --llama-server or set GONKA_DEVNET_LLAMA_SERVER)",
            llama.server.display()
        )));
    }
    if llama.server.to_string_lossy().contains(char::is_whitespace) {
        return Err(StartupError::devnet_failed(format!(
            "the llama-server path {} contains whitespace; use a path without spaces",
            llama.server.display()
        )));
    }
    let file = match &llama.model_file {
        Some(file) if file.is_file() => file.clone(),
        Some(file) => {
            return Err(StartupError::devnet_failed(format!(
                "model file {} does not exist",
                file.display()
            )))
        }
        None => {
            let file = data_dir.join("tiny-random-llama.gguf");
            let target = file.clone();
            tokio::task::spawn_blocking(move || {
                gonka_mlnode::gguf::TinyLlama::default().write_to(target)
            })
            .await
            .map_err(|e| StartupError::devnet("cannot write the tiny model", e))?
            .map_err(|e| StartupError::devnet("cannot write the tiny model", e))?;
            tracing::info!(file = %file.display(), "wrote the tiny random llama model");
            file
        }
    };
    let mut args = LlamacppEngine::default_args(config.ml_nodes);
    args.extend(llama.args.iter().cloned());
    Ok(Some((file, args)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::DevnetConfig;

    fn config(engine: LlamacppEngine) -> DevnetConfig {
        DevnetConfig {
            ml_nodes: 2,
            engine: DevnetEngine::Llamacpp(engine),
            ..DevnetConfig::default()
        }
    }

    #[tokio::test]
    async fn without_a_model_file_the_tiny_model_is_written_and_user_args_come_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = LlamacppEngine::new("/bin/sh");
        engine.args = vec!["--chat-template".into(), "gemma".into()];
        let (file, args) = resolve_engine(&config(engine), dir.path())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(file, dir.path().join("tiny-random-llama.gguf"));
        assert!(std::fs::metadata(&file).unwrap().len() > 500_000);
        assert_eq!(&args[..4], ["-c", "8192", "-np", "4"]);
        assert!(args.contains(&"--metrics".to_owned()));
        assert_eq!(&args[args.len() - 2..], ["--chat-template", "gemma"]);
    }

    #[tokio::test]
    async fn a_missing_server_or_model_file_is_a_startup_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_engine(
            &config(LlamacppEngine::new("/nowhere/llama-server")),
            dir.path(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nowhere/llama-server") && err.contains("scripts/llama-server.sh"),
            "{err}"
        );
        let mut engine = LlamacppEngine::new("/bin/sh");
        engine.model_file = Some(dir.path().join("absent.gguf"));
        let err = resolve_engine(&config(engine), dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("absent.gguf") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_simulator_needs_no_engine_setup() {
        let dir = tempfile::tempdir().unwrap();
        let none = resolve_engine(&DevnetConfig::default(), dir.path())
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
