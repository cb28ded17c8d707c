//! Models present on local disk: the Hugging Face hub cache (`models--Org--Name` folders) and
//! GGUF files, plus the disk space of the cache's file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use gonka_core::mlnode_api::{DiskSpace, LocalModel};

/// The hub cache directory: `$HF_HUB_CACHE`, `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache").join("huggingface").join("hub")
}

/// Models in `dir` (hub folders and `.gguf` files) and the configured GGUF files, sorted by
/// name. A missing directory gives an empty list. Blocking (file system walk).
pub fn list_models(dir: &Path, gguf_files: &BTreeMap<String, PathBuf>) -> Vec<LocalModel> {
    let mut models = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix("models--") {
                if path.is_dir() {
                    let model = rest.replacen("--", "/", 1);
                    models.insert(model.clone(), local(model, &path));
                }
            } else if name.to_ascii_lowercase().ends_with(".gguf") && path.is_file() {
                let model = name[..name.len() - 5].to_owned();
                models.insert(model.clone(), local(model, &path));
            }
        }
    }
    for (model, path) in gguf_files {
        if path.is_file() {
            models.insert(model.clone(), local(model.clone(), path));
        }
    }
    models.into_values().collect()
}

fn local(model: String, path: &Path) -> LocalModel {
    LocalModel {
        model,
        path: path.to_string_lossy().into_owned(),
        size_bytes: size_of(path, 0),
    }
}

fn size_of(path: &Path, depth: u32) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() || depth > 16 {
        return 0;
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| size_of(&e.path(), depth + 1))
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes as GB (10^9), rounded to two decimals like upstream's answer.
fn gigabytes(bytes: u64) -> f64 {
    (bytes as f64 / 1e7).round() / 100.0
}

/// Disk space of the file system holding `dir` (or its nearest existing parent), and the size
/// of `dir` itself (the model cache).
///
/// # Errors
/// When no ancestor of `dir` can be queried.
pub fn disk_space(dir: &Path) -> std::io::Result<DiskSpace> {
    let mut probe = dir;
    while !probe.exists() {
        probe = probe.parent().unwrap_or(Path::new("/"));
    }
    let stat = nix::sys::statvfs::statvfs(probe).map_err(std::io::Error::from)?;
    let frag = stat.fragment_size() as u64;
    let total = (stat.blocks() as u64).saturating_mul(frag);
    let free = (stat.blocks_free() as u64).saturating_mul(frag);
    let available = (stat.blocks_available() as u64).saturating_mul(frag);
    let path = dir.to_string_lossy().into_owned();
    Ok(DiskSpace {
        cache_size_gb: gigabytes(size_of(dir, 0)),
        available_gb: gigabytes(available),
        cache_path: path.clone(),
        path,
        total_bytes: total,
        available_bytes: available,
        used_bytes: total.saturating_sub(free),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_folders_and_gguf_files_are_listed_by_model_name() {
        let dir = tempfile::tempdir().unwrap();
        let hub = dir.path().join("models--Qwen--Qwen3-32B-FP8").join("blobs");
        std::fs::create_dir_all(&hub).unwrap();
        std::fs::write(hub.join("abc"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("tiny.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let models = list_models(dir.path(), &BTreeMap::new());
        let names: Vec<_> = models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(names, ["Qwen/Qwen3-32B-FP8", "tiny"]);
        assert_eq!(models[0].size_bytes, 1000);
        assert_eq!(models[1].size_bytes, 4);
    }

    #[test]
    fn missing_cache_dir_lists_nothing_and_disk_space_uses_the_parent() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(list_models(&missing, &BTreeMap::new()).is_empty());
        let space = disk_space(&missing).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.available_bytes <= space.total_bytes);
    }
}
