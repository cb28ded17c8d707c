//! Where the model cache is, and the disk space of its file system.

use std::path::{Path, PathBuf};

use gonka_core::mlnode_api::DiskSpace;

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

pub(crate) fn size_of(path: &Path, depth: u32) -> u64 {
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
    fn disk_space_of_a_missing_cache_dir_uses_the_parent() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let space = disk_space(&missing).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.available_bytes <= space.total_bytes);
    }
}
