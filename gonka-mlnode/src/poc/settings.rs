//! [`PocSettings`]: how an ML node computes and delivers PoC artifacts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::compute::{PocCompute, TinyModelCompute};
use super::served::ServedGgufCompute;

/// Which model PoC artifacts come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PocModel {
    /// The model being served (the binary's default): a vLLM engine (the gonka-ai fork)
    /// computes PoC itself and the agent forwards the calls to it as upstream's ML node does;
    /// with llama.cpp the agent computes on the served GGUF ([`ServedGgufCompute`]); other
    /// engines cannot compute PoC on their model (`503`). A `params.model` that is not the
    /// served model is refused with `409`.
    Served,
    /// The small random-weight model generated from each round's block hash, whatever model is
    /// named (`--poc-tiny-model`: devnets and tests; the library default, see
    /// [`PocSettings::default`]).
    #[default]
    Tiny,
    /// The GGUF llama file given by `--poc-model-file`, whatever model is named.
    File(PathBuf),
}

/// PoC behaviour of an ML node. `Default` follows upstream's callback timing (5 s batches,
/// retries from 1 s doubling to 30 s, 10 attempts; `/generate` queue limits) over the CPU
/// [`TinyModelCompute`] backend, chosen explicitly ([`PocModel::Tiny`]), as fits tests and
/// devnets; the `gonka-mlnode` binary defaults to [`PocModel::Served`].
#[derive(Debug, Clone)]
pub struct PocSettings {
    /// Which model PoC computes on (decides forwarding to the engine; see [`PocModel`]).
    pub model: PocModel,
    /// The compute backend of PoC computed by the agent itself.
    pub compute: Arc<dyn PocCompute>,
    /// Time between two artifact callbacks (upstream `POC_CALLBACK_INTERVAL_SEC`, 5 s).
    pub callback_interval: Duration,
    /// Timeout of one callback POST (10 s).
    pub callback_timeout: Duration,
    /// First pause after a failed callback; doubles up to `retry_max` (1 s).
    pub retry_initial: Duration,
    /// Longest pause between retries (30 s).
    pub retry_max: Duration,
    /// Attempts per payload before it is dropped (10).
    pub max_attempts: u32,
    /// Artifacts buffered at most; the oldest are dropped beyond (1,000,000).
    pub buffer_capacity: usize,
    /// Nonces of queued `/generate` jobs (waiting or running) at most; a job that would pass
    /// it is answered 429 (upstream `POC_MAX_QUEUED_NONCES`, 100,000).
    pub max_queued_nonces: usize,
    /// How long a finished `/generate` job's result stays readable (upstream
    /// `POC_GENERATE_RESULT_TTL_SEC`, 300 s).
    pub result_ttl: Duration,
}

impl Default for PocSettings {
    fn default() -> Self {
        Self {
            model: PocModel::Tiny,
            compute: Arc::new(TinyModelCompute::default()),
            callback_interval: Duration::from_secs(5),
            callback_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            max_attempts: 10,
            buffer_capacity: 1_000_000,
            max_queued_nonces: 100_000,
            result_ttl: Duration::from_secs(300),
        }
    }
}

/// Why the PoC model file (`--poc-model-file`) cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PocModelError {
    /// The file could not be loaded as a GGUF llama model.
    #[error("--poc-model-file {}: {source}", path.display())]
    Load {
        /// The file.
        path: std::path::PathBuf,
        /// Why loading failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// This binary was built without the `candle` feature, which GGUF PoC needs.
    #[error("--poc-model-file {}: this gonka-mlnode was built without the `candle` feature (cargo build --features candle)", path.display())]
    NoCandle {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl PocSettings {
    /// Settings from the agent's flags: callbacks every `callback_interval`, and PoC on
    /// `model` ([`PocModel::Served`] resolves GGUF files through `model_files`, the
    /// `--model-file` map; [`PocModel::File`] loads its file now, which needs the `candle`
    /// feature).
    ///
    /// # Errors
    /// [`PocModelError`] (naming `--poc-model-file`) when the file cannot be loaded or the
    /// binary was built without the `candle` feature.
    pub fn from_flags(
        callback_interval: Duration,
        model: PocModel,
        model_files: &BTreeMap<String, PathBuf>,
    ) -> Result<Self, PocModelError> {
        let compute: Arc<dyn PocCompute> = match &model {
            PocModel::Served => Arc::new(ServedGgufCompute::new(model_files.clone())),
            PocModel::Tiny => Arc::new(TinyModelCompute::default()),
            PocModel::File(path) => load_model_file(path)?,
        };
        Ok(Self {
            model,
            compute,
            callback_interval: callback_interval.max(Duration::from_millis(10)),
            ..Self::default()
        })
    }
}

#[cfg(feature = "candle")]
fn load_model_file(path: &std::path::Path) -> Result<Arc<dyn PocCompute>, PocModelError> {
    super::gguf_llama::GgufLlamaCompute::open(path)
        .map(|c| Arc::new(c) as Arc<dyn PocCompute>)
        .map_err(|e| PocModelError::Load {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
}

#[cfg(not(feature = "candle"))]
fn load_model_file(path: &std::path::Path) -> Result<Arc<dyn PocCompute>, PocModelError> {
    Err(PocModelError::NoCandle {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_the_interval_and_a_bad_model_file_is_named() {
        let files = BTreeMap::new();
        let s = PocSettings::from_flags(Duration::from_secs(2), PocModel::Tiny, &files).unwrap();
        assert_eq!(s.callback_interval, Duration::from_secs(2));
        assert_eq!(s.compute.name(), "tiny-cpu");
        let s = PocSettings::from_flags(Duration::from_secs(2), PocModel::Served, &files).unwrap();
        assert_eq!(s.compute.name(), "served-gguf");
        let e = PocSettings::from_flags(
            Duration::from_secs(2),
            PocModel::File("/nonexistent/m.gguf".into()),
            &files,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--poc-model-file /nonexistent/m.gguf"),
            "{e}"
        );
    }
}
