//! [`ServedGgufCompute`]: PoC over the GGUF file the llama.cpp engine serves. The model name of
//! each round maps to its file as the engine's command line maps it (`--model-file NAME=PATH`,
//! or the name itself when it is a `.gguf` path); the loaded model is kept until another file is
//! asked for. Needs the `candle` feature; without it every round fails naming the feature.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gonka_core::poc::compute::RoundParams;
use gonka_core::poc::error::PocError;

use super::compute::{PocCompute, PreparedRound};
use crate::engine::llamacpp;

/// PoC over the served GGUF (see the module docs).
#[derive(Debug, Default)]
pub struct ServedGgufCompute {
    model_files: BTreeMap<String, PathBuf>,
    loaded: Mutex<Option<(PathBuf, Arc<dyn PocCompute>)>>,
}

impl ServedGgufCompute {
    /// A backend resolving model names through `model_files` (the `--model-file` map).
    pub fn new(model_files: BTreeMap<String, PathBuf>) -> Self {
        Self {
            model_files,
            loaded: Mutex::new(None),
        }
    }

    /// The GGUF file llama.cpp serves for `model`, if any.
    pub fn file_of(&self, model: &str) -> Option<PathBuf> {
        llamacpp::model_file(model, &self.model_files).ok()
    }

    fn backend(&self, model: &str) -> Result<Arc<dyn PocCompute>, PocError> {
        let path = self.file_of(model).ok_or_else(|| {
            PocError::model(format!(
                "model {model} has no GGUF file (--model-file {model}=PATH)"
            ))
        })?;
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((p, backend)) = loaded.as_ref() {
            if *p == path {
                return Ok(Arc::clone(backend));
            }
        }
        let backend = open(path.clone())?;
        *loaded = Some((path, Arc::clone(&backend)));
        Ok(backend)
    }
}

#[cfg(feature = "candle")]
fn open(path: PathBuf) -> Result<Arc<dyn PocCompute>, PocError> {
    Ok(Arc::new(super::gguf_llama::GgufLlamaCompute::open(path)?))
}

#[cfg(not(feature = "candle"))]
fn open(path: PathBuf) -> Result<Arc<dyn PocCompute>, PocError> {
    Err(PocError::model(format!(
        "PoC on the served GGUF {} needs a gonka-mlnode built with the `candle` feature \
         (or --poc-tiny-model on a devnet)",
        path.display()
    )))
}

impl PocCompute for ServedGgufCompute {
    fn name(&self) -> &str {
        "served-gguf"
    }

    fn prepare(&self, model: &str, round: RoundParams) -> Result<Box<dyn PreparedRound>, PocError> {
        self.backend(model)?.prepare(model, round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_without_a_file_is_named() {
        let c = ServedGgufCompute::new(BTreeMap::new());
        let round = RoundParams {
            block_hash: "h".into(),
            public_key: "p".into(),
            seq_len: 4,
            stronger_rng: false,
        };
        let e = c.prepare("Qwen/Qwen3-32B", round).unwrap_err();
        assert!(e.to_string().contains("Qwen/Qwen3-32B"), "{e}");
        assert_eq!(c.file_of("Qwen/Qwen3-32B"), None);
    }
}
