//! llama.cpp: `llama-server -m FILE --host 127.0.0.1 --port P --alias MODEL ARGS...`.
//!
//! llama-server loads a GGUF file, so the model name needs a file: from the `--model-file
//! NAME=PATH` map, or the model name itself when it is a path to a `.gguf` file. The up's
//! `additional_args` may be vLLM flags (upstream's network node sends the chain's vLLM arguments):
//! they are adapted by [`super::vllm_args::for_llamacpp`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gonka_core::LaunchSpec;

use super::command::{split_launcher, CommandError, EngineCommand};

/// Default launcher.
pub const DEFAULT_LAUNCHER: &str = "llama-server";

/// The GGUF file for `model`.
///
/// # Errors
/// [`CommandError::NoModelFile`] (saying how to configure the file) when none is known.
pub fn model_file(model: &str, files: &BTreeMap<String, PathBuf>) -> Result<PathBuf, CommandError> {
    if let Some(path) = files.get(model) {
        return Ok(path.clone());
    }
    let as_path = Path::new(model);
    if as_path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        && as_path.is_file()
    {
        return Ok(as_path.to_path_buf());
    }
    Err(CommandError::NoModelFile {
        model: model.to_owned(),
    })
}

/// The llama-server command line for `spec`; `launcher` replaces `llama-server`. `dtype` does
/// not apply (the GGUF file fixes it). vLLM flags in `spec.args` are rewritten or left out (each
/// one left out is logged at `info`), llama.cpp's own flags pass through.
///
/// # Errors
/// When the launcher is empty or the model has no GGUF file.
pub fn command(
    launcher: Option<&str>,
    spec: &LaunchSpec,
    files: &BTreeMap<String, PathBuf>,
) -> Result<EngineCommand, CommandError> {
    let file = model_file(&spec.model, files)?;
    let mut cmd = split_launcher(launcher.unwrap_or(DEFAULT_LAUNCHER))?;
    cmd.args.extend([
        "-m".to_owned(),
        file.to_string_lossy().into_owned(),
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        spec.port.to_string(),
        "--alias".to_owned(),
        spec.model.clone(),
    ]);
    let adapted = super::vllm_args::for_llamacpp(&spec.args);
    if !adapted.dropped.is_empty() {
        tracing::info!(
            model = %spec.model,
            dropped = %adapted.dropped.join(" "),
            "vLLM arguments without a llama.cpp equivalent left out"
        );
    }
    cmd.args.extend(adapted.args);
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llamacpp_maps_the_model_to_its_gguf_file_and_aliases_it() {
        let files = BTreeMap::from([("tiny".to_owned(), PathBuf::from("/models/tiny.gguf"))]);
        let spec = LaunchSpec {
            model: "tiny".into(),
            dtype: "auto".into(),
            args: vec!["-c".into(), "2048".into()],
            port: 18080,
        };
        let c = command(None, &spec, &files).unwrap();
        assert_eq!(
            c.to_string(),
            "llama-server -m /models/tiny.gguf --host 127.0.0.1 --port 18080 --alias tiny -c 2048"
        );
    }

    #[test]
    fn llamacpp_gets_upstreams_vllm_arguments_in_its_own_words() {
        let files = BTreeMap::from([("m".to_owned(), PathBuf::from("/models/m.gguf"))]);
        let spec = LaunchSpec {
            model: "m".into(),
            dtype: "auto".into(),
            args: ["--tensor-parallel-size", "4", "--max-model-len", "32768"]
                .map(str::to_owned)
                .to_vec(),
            port: 18080,
        };
        let c = command(None, &spec, &files).unwrap();
        assert_eq!(
            c.to_string(),
            "llama-server -m /models/m.gguf --host 127.0.0.1 --port 18080 --alias m --ctx-size 32768"
        );
    }

    #[test]
    fn llamacpp_without_a_file_for_the_model_says_which_flag_to_use() {
        let spec = LaunchSpec {
            model: "other".into(),
            ..LaunchSpec::default()
        };
        let err = command(None, &spec, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            CommandError::NoModelFile {
                model: "other".into()
            }
        );
        assert!(err.to_string().contains("--model-file other="), "{err}");
    }
}
