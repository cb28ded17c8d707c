//! What the agent reports for model-aware routing in `/api/v1/state`: the models in engine
//! memory with their context windows, the models on disk, and engine memory with its pressure.

use std::path::Path;
use std::time::{Duration, Instant};

use gonka_core::mlnode_api::MemoryReport;

use crate::engine::EngineKind;
use crate::MlNodeConfig;

/// The context window an engine's launch arguments set, in tokens: vLLM's `--max-model-len`,
/// SGLang's `--context-length`, llama.cpp's `-c` / `--ctx-size` (each also as `--flag=N`).
/// Values take vLLM's suffixes (`k` = 1000, `K` = 1024, `m` = 10⁶, `M` = 2²⁰). `None` when no
/// such argument is given (or its value does not parse).
pub fn context_from_args(args: &[String]) -> Option<u32> {
    const FLAGS: [&str; 4] = ["--max-model-len", "--context-length", "--ctx-size", "-c"];
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if let Some((flag, value)) = arg.split_once('=') {
            if FLAGS.contains(&flag) {
                found = parse_tokens(value).or(found);
            }
        } else if FLAGS.contains(&arg) {
            if let Some(value) = args.get(i + 1) {
                found = parse_tokens(value).or(found);
                i += 1;
            }
        }
        i += 1;
    }
    found
}

/// A token count with an optional vLLM-style suffix.
fn parse_tokens(value: &str) -> Option<u32> {
    let value = value.trim();
    let (digits, scale) = match value.char_indices().last() {
        Some((at, 'k')) => (&value[..at], 1_000),
        Some((at, 'K')) => (&value[..at], 1_024),
        Some((at, 'm')) => (&value[..at], 1_000_000),
        Some((at, 'M')) => (&value[..at], 1_048_576),
        _ => (value, 1),
    };
    let n: u64 = digits.parse().ok()?;
    u32::try_from(n.checked_mul(scale)?).ok()
}

/// The context window of `model` brought up with `args` under `config`'s engine, in tokens (0:
/// unknown). The simulator always knows its own (`--max-model-len` or its configured one).
pub fn loaded_context(config: &MlNodeConfig, args: &[String]) -> u32 {
    match context_from_args(args) {
        Some(n) => n,
        None if config.engine == EngineKind::Simulator => config.simulator.max_model_len,
        None => 0,
    }
}

/// Whether a model last used at `last_used` is still in the simulated engine's memory under
/// `keep_alive` (`None`: always while the engine runs).
pub fn still_resident(keep_alive: Option<Duration>, last_used: Option<Instant>) -> bool {
    match (keep_alive, last_used) {
        (None, _) => true,
        (Some(keep), Some(at)) => at.elapsed() < keep,
        (Some(_), None) => false,
    }
}

/// Models on the node's disk and engine memory: gathered on a blocking thread (directory reads,
/// NVML calls).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Model names with weights on disk, sorted, without duplicates.
    pub disk_models: Vec<String>,
    /// Engine memory, when known.
    pub memory: Option<MemoryReport>,
}

/// [`HostFacts`] of the node `config` describes. Blocking. Disk: the repositories of the model
/// cache (`models_dir`, else the Hugging Face cache rules) with a snapshot, and the configured
/// GGUF files that exist. Memory: the simulator's settings for the simulator engine, else the
/// sum over the node's available GPUs (NVML), else unknown.
pub fn host_facts(config: &MlNodeConfig) -> HostFacts {
    let dir = config
        .models_dir
        .clone()
        .unwrap_or_else(crate::models::default_cache_dir);
    let mut disk_models = cached_repos(&dir);
    disk_models.extend(
        config
            .model_files
            .iter()
            .filter(|(_, path)| path.is_file())
            .map(|(name, _)| name.clone()),
    );
    disk_models.sort();
    disk_models.dedup();
    let memory = if config.engine == EngineKind::Simulator {
        config
            .simulator
            .memory_total_mb
            .map(|total| MemoryReport::new(total, config.simulator.memory_free_mb.unwrap_or(total)))
    } else {
        let gpus = crate::gpu::detect();
        let available: Vec<_> = gpus.devices.iter().filter(|d| d.is_available).collect();
        (!available.is_empty()).then(|| {
            MemoryReport::new(
                available.iter().map(|d| d.total_memory_mb).sum(),
                available.iter().map(|d| d.free_memory_mb).sum(),
            )
        })
    };
    HostFacts {
        disk_models,
        memory,
    }
}

/// Repositories of a Hugging Face hub cache (`models--org--name/snapshots/<commit>`) that have
/// at least one snapshot, as `org/name`. Only directory names are read (no sizes).
fn cached_repos(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let repo = name.strip_prefix("models--")?.replacen("--", "/", 1);
            let has_snapshot = std::fs::read_dir(entry.path().join("snapshots"))
                .ok()?
                .flatten()
                .any(|s| s.path().is_dir());
            has_snapshot.then_some(repo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn context_comes_from_each_engines_flag() {
        assert_eq!(
            context_from_args(&args(&[
                "--tensor-parallel-size",
                "4",
                "--max-model-len",
                "32768"
            ])),
            Some(32768)
        );
        assert_eq!(
            context_from_args(&args(&["--max-model-len=8k"])),
            Some(8000)
        );
        assert_eq!(
            context_from_args(&args(&["--max-model-len", "16K"])),
            Some(16384)
        );
        assert_eq!(context_from_args(&args(&["-c", "2048"])), Some(2048));
        assert_eq!(context_from_args(&args(&["--ctx-size=4096"])), Some(4096));
        assert_eq!(
            context_from_args(&args(&["--context-length", "65536"])),
            Some(65536)
        );
        assert_eq!(context_from_args(&args(&["--max-num-seqs", "8"])), None);
        assert_eq!(context_from_args(&args(&["--max-model-len", "lots"])), None);
        assert_eq!(context_from_args(&args(&["--max-model-len"])), None);
    }

    #[test]
    fn the_simulator_knows_its_context_and_real_engines_may_not() {
        let sim = MlNodeConfig::default();
        assert_eq!(loaded_context(&sim, &[]), sim.simulator.max_model_len);
        assert_eq!(
            loaded_context(&sim, &args(&["--max-model-len", "1024"])),
            1024
        );
        let vllm = MlNodeConfig {
            engine: EngineKind::Vllm,
            ..MlNodeConfig::default()
        };
        assert_eq!(loaded_context(&vllm, &[]), 0);
        assert_eq!(
            loaded_context(&vllm, &args(&["--max-model-len", "4096"])),
            4096
        );
    }

    #[test]
    fn residency_follows_keep_alive() {
        assert!(still_resident(None, None));
        assert!(still_resident(
            Some(Duration::from_secs(60)),
            Some(Instant::now())
        ));
        assert!(!still_resident(Some(Duration::ZERO), Some(Instant::now())));
        assert!(!still_resident(Some(Duration::from_secs(60)), None));
    }

    #[test]
    fn disk_models_come_from_the_cache_and_gguf_files_and_memory_from_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models--Qwen--Qwen3-8B/snapshots/abc")).unwrap();
        // No snapshot yet: not on disk.
        std::fs::create_dir_all(dir.path().join("models--org--empty/snapshots")).unwrap();
        std::fs::create_dir_all(dir.path().join("not-a-model")).unwrap();
        let gguf = dir.path().join("tiny.gguf");
        std::fs::write(&gguf, b"GGUF").unwrap();
        let mut config = MlNodeConfig {
            models_dir: Some(dir.path().to_owned()),
            ..MlNodeConfig::default()
        };
        config.model_files.insert("tiny".into(), gguf);
        config
            .model_files
            .insert("gone".into(), dir.path().join("gone.gguf"));
        config.simulator.memory_total_mb = Some(24_000);
        config.simulator.memory_free_mb = Some(1_000);
        let facts = host_facts(&config);
        assert_eq!(facts.disk_models, ["Qwen/Qwen3-8B", "tiny"]);
        let memory = facts.memory.unwrap();
        assert_eq!((memory.total_mb, memory.free_mb), (24_000, 1_000));
        assert_eq!(memory.pressure, gonka_core::MemoryPressure::Elevated);

        config.simulator.memory_total_mb = None;
        assert_eq!(host_facts(&config).memory, None);
    }
}
