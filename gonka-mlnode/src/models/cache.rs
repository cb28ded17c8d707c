//! The Hugging Face hub cache on disk, as `huggingface_hub` lays it out:
//! `models--org--name/{blobs/<blob id>, snapshots/<commit>/<file> → ../../blobs/<blob id>,
//! refs/<branch> = <commit>}`, and what it says about a model: complete, partial or absent.
//!
//! A download writes a manifest (`models--org--name/.gonka/<commit>.json`: every file with its
//! size) before its first byte and renames each blob from `<blob id>.incomplete` only once the
//! blob is whole, so a revision with a manifest is complete exactly when every listed file is
//! there with its size, also after a restart. A revision another tool downloaded (no manifest)
//! counts as complete when its snapshot has files and no blob of the repository is
//! `.incomplete`. Blocking (file system calls): call from `spawn_blocking`.

use std::path::{Component, Path, PathBuf};

use gonka_core::mlnode_api::{HfModel, HfModelStatus, ModelListItem};
use serde::{Deserialize, Serialize};

/// Suffix of a blob being written.
pub(crate) const INCOMPLETE: &str = ".incomplete";

/// One file of a revision, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside the repository (`/`-separated).
    pub name: String,
    /// Blob id (LFS sha256 or git blob id): the file's name under `blobs/`.
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
}

/// A hub cache rooted at a directory (`$HF_HOME/hub`).
#[derive(Debug, Clone)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    /// The cache at `root` (need not exist yet).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--org--name` for `org/name`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    /// `snapshots/<commit>` of `repo`.
    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    /// `blobs/` of `repo`.
    pub fn blobs_dir(&self, repo: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs")
    }

    fn manifest_path(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo)
            .join(".gonka")
            .join(format!("{commit}.json"))
    }

    /// The commit `model` names: its `hf_commit`, else what `refs/main` holds.
    pub fn resolve_commit(&self, model: &HfModel) -> Option<String> {
        if let Some(commit) = &model.hf_commit {
            return Some(commit.clone());
        }
        let text = std::fs::read_to_string(self.repo_dir(&model.hf_repo).join("refs/main")).ok()?;
        let commit = text.trim();
        valid_revision(commit).then(|| commit.to_owned())
    }

    /// Records `files` as the content of `repo` at `commit`, and `refs/<revision>` when the
    /// revision asked for was a branch (`revision != commit`).
    ///
    /// # Errors
    /// File system errors.
    pub fn begin_revision(
        &self,
        repo: &str,
        revision: &str,
        commit: &str,
        files: &[ManifestFile],
    ) -> std::io::Result<()> {
        let dir = self.repo_dir(repo);
        std::fs::create_dir_all(dir.join("blobs"))?;
        std::fs::create_dir_all(self.snapshot_dir(repo, commit))?;
        let manifest = self.manifest_path(repo, commit);
        if let Some(parent) = manifest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_vec_pretty(files).map_err(std::io::Error::other)?;
        write_atomically(&manifest, &json)?;
        if revision != commit {
            let refs = dir.join("refs");
            std::fs::create_dir_all(&refs)?;
            write_atomically(&refs.join(revision), commit.as_bytes())?;
        }
        Ok(())
    }

    /// Links `snapshots/<commit>/<file.name>` to its blob (relative, as `huggingface_hub`).
    ///
    /// # Errors
    /// File system errors; `InvalidInput` for a name that leaves the snapshot.
    pub fn link_file(&self, repo: &str, commit: &str, file: &ManifestFile) -> std::io::Result<()> {
        let relative = safe_relative(&file.name)?;
        let link = self.snapshot_dir(repo, commit).join(&relative);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let depth = relative.components().count() - 1;
        let mut target = PathBuf::from("../..");
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(&file.blob);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, link)
    }

    /// `DOWNLOADED`, `PARTIAL` or `NOT_FOUND` for `model` on disk (no running download known).
    pub fn status(&self, model: &HfModel) -> HfModelStatus {
        match self.resolve_commit(model) {
            Some(commit) => self.revision_status(&model.hf_repo, &commit),
            None if has_entries(&self.repo_dir(&model.hf_repo).join("snapshots")) => {
                HfModelStatus::Partial
            }
            None => HfModelStatus::NotFound,
        }
    }

    /// The status of `repo` at `commit` on disk.
    pub fn revision_status(&self, repo: &str, commit: &str) -> HfModelStatus {
        let snapshot = self.snapshot_dir(repo, commit);
        if !snapshot.is_dir() {
            return HfModelStatus::NotFound;
        }
        let complete = match self.manifest(repo, commit) {
            Some(files) => files.iter().all(|f| {
                safe_relative(&f.name).is_ok_and(|rel| {
                    std::fs::metadata(snapshot.join(rel)).is_ok_and(|m| m.len() == f.size)
                })
            }),
            None => has_entries(&snapshot) && !self.has_incomplete_blobs(repo),
        };
        if complete {
            HfModelStatus::Downloaded
        } else {
            HfModelStatus::Partial
        }
    }

    fn manifest(&self, repo: &str, commit: &str) -> Option<Vec<ManifestFile>> {
        let bytes = std::fs::read(self.manifest_path(repo, commit)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn has_incomplete_blobs(&self, repo: &str) -> bool {
        std::fs::read_dir(self.blobs_dir(repo)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(INCOMPLETE))
        })
    }

    /// Every revision in the cache (`snapshots/<commit>` of every `models--*` folder), sorted.
    pub fn list(&self) -> Vec<ModelListItem> {
        let mut items = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return items;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("models--") else {
                continue;
            };
            let repo = rest.replacen("--", "/", 1);
            let Ok(snapshots) = std::fs::read_dir(entry.path().join("snapshots")) else {
                continue;
            };
            for snapshot in snapshots.flatten() {
                let commit = snapshot.file_name().to_string_lossy().into_owned();
                if !snapshot.path().is_dir() {
                    continue;
                }
                items.push(ModelListItem {
                    status: self.revision_status(&repo, &commit),
                    path: snapshot.path().to_string_lossy().into_owned(),
                    size_bytes: followed_size(&snapshot.path(), 0),
                    model: HfModel::new(repo.clone(), Some(commit)),
                });
            }
        }
        items.sort_by(|a, b| a.model.cmp(&b.model));
        items
    }

    /// Removes `model` from the cache: with a commit that revision (its snapshot, manifest,
    /// refs naming it, and the blobs no other revision uses), without one the whole repository.
    /// `Ok(false)` when there was nothing to remove.
    ///
    /// # Errors
    /// File system errors.
    pub fn delete(&self, model: &HfModel) -> std::io::Result<bool> {
        let dir = self.repo_dir(&model.hf_repo);
        let Some(commit) = &model.hf_commit else {
            if !dir.exists() {
                return Ok(false);
            }
            std::fs::remove_dir_all(&dir)?;
            return Ok(true);
        };
        let snapshot = self.snapshot_dir(&model.hf_repo, commit);
        if !snapshot.is_dir() {
            return Ok(false);
        }
        std::fs::remove_dir_all(&snapshot)?;
        let _ = std::fs::remove_file(self.manifest_path(&model.hf_repo, commit));
        if let Ok(refs) = std::fs::read_dir(dir.join("refs")) {
            for r in refs.flatten() {
                if std::fs::read_to_string(r.path()).is_ok_and(|c| c.trim() == commit) {
                    std::fs::remove_file(r.path())?;
                }
            }
        }
        if !has_entries(&dir.join("snapshots")) {
            std::fs::remove_dir_all(&dir)?;
            return Ok(true);
        }
        let used = self.blobs_in_use(&model.hf_repo);
        if let Ok(blobs) = std::fs::read_dir(self.blobs_dir(&model.hf_repo)) {
            for blob in blobs.flatten() {
                let name = blob.file_name().to_string_lossy().into_owned();
                if !used.contains(name.trim_end_matches(INCOMPLETE)) {
                    std::fs::remove_file(blob.path())?;
                }
            }
        }
        Ok(true)
    }

    /// Blob names the remaining snapshots and manifests of `repo` refer to.
    fn blobs_in_use(&self, repo: &str) -> std::collections::BTreeSet<String> {
        let mut used = std::collections::BTreeSet::new();
        let Ok(snapshots) = std::fs::read_dir(self.repo_dir(repo).join("snapshots")) else {
            return used;
        };
        for snapshot in snapshots.flatten() {
            let commit = snapshot.file_name().to_string_lossy().into_owned();
            for file in self.manifest(repo, &commit).unwrap_or_default() {
                used.insert(file.blob);
            }
            collect_link_targets(&snapshot.path(), &mut used, 0);
        }
        used
    }
}

/// Whether `name` is a repository id safe to use in paths and URLs: `name` or `org/name`, each
/// part 1 to 96 letters, digits, `-`, `_` or `.`, not starting with `.` and without `..`.
pub fn valid_repo(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 96
                && !p.starts_with('.')
                && !p.contains("..")
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Whether `rev` is safe as a file name (commit hashes and branch names without `/`).
pub fn valid_revision(rev: &str) -> bool {
    !rev.is_empty()
        && rev.len() <= 128
        && !rev.starts_with('.')
        && rev
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `name` as a relative path with only normal components.
///
/// # Errors
/// `InvalidInput` for an empty, absolute or `..` path.
pub fn safe_relative(name: &str) -> std::io::Result<PathBuf> {
    let path = Path::new(name);
    let ok = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path.to_path_buf())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("file name {name:?} leaves the snapshot"),
        ))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_some())
}

/// Bytes of the files under `path`, following the snapshot's links to their blobs.
fn followed_size(path: &Path, depth: u32) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() || depth > 16 {
        return 0;
    }
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| followed_size(&e.path(), depth + 1))
            .sum()
    })
}

fn collect_link_targets(dir: &Path, used: &mut std::collections::BTreeSet<String>, depth: u32) {
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(target) = std::fs::read_link(&path) {
            if let Some(name) = target.file_name() {
                used.insert(name.to_string_lossy().into_owned());
            }
        } else if path.is_dir() {
            collect_link_targets(&path, used, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, blob: &str, size: u64) -> ManifestFile {
        ManifestFile {
            name: name.into(),
            blob: blob.into(),
            size,
        }
    }

    /// Writes `blob` with `size` bytes and links it into `commit`.
    fn place(cache: &HubCache, commit: &str, f: &ManifestFile) {
        std::fs::write(
            cache.blobs_dir("org/m").join(&f.blob),
            vec![0u8; usize::try_from(f.size).unwrap()],
        )
        .unwrap();
        cache.link_file("org/m", commit, f).unwrap();
    }

    #[test]
    fn a_revision_is_downloaded_only_when_every_manifest_file_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HubCache::new(dir.path().to_path_buf());
        let model = HfModel::new("org/m", None);
        assert_eq!(cache.status(&model), HfModelStatus::NotFound);
        let files = [file("a.json", "b1", 3), file("sub/w.bin", "b2", 5)];
        cache.begin_revision("org/m", "main", "c1", &files).unwrap();
        assert_eq!(cache.resolve_commit(&model).as_deref(), Some("c1"));
        assert_eq!(cache.status(&model), HfModelStatus::Partial);
        place(&cache, "c1", &files[0]);
        assert_eq!(cache.status(&model), HfModelStatus::Partial);
        // A blob of the wrong size does not count.
        std::fs::write(cache.blobs_dir("org/m").join("b2"), b"xx").unwrap();
        cache.link_file("org/m", "c1", &files[1]).unwrap();
        assert_eq!(cache.status(&model), HfModelStatus::Partial);
        place(&cache, "c1", &files[1]);
        assert_eq!(cache.status(&model), HfModelStatus::Downloaded);
        assert_eq!(cache.list()[0].size_bytes, 8);
    }

    #[test]
    fn deleting_a_revision_keeps_the_blobs_another_revision_uses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HubCache::new(dir.path().to_path_buf());
        let shared = file("a.json", "shared", 1);
        let own = file("w.bin", "own", 2);
        cache
            .begin_revision("org/m", "c1", "c1", &[shared.clone(), own.clone()])
            .unwrap();
        cache
            .begin_revision("org/m", "main", "c2", std::slice::from_ref(&shared))
            .unwrap();
        place(&cache, "c1", &shared);
        place(&cache, "c1", &own);
        place(&cache, "c2", &shared);
        std::fs::write(cache.blobs_dir("org/m").join("own.incomplete"), b"x").unwrap();
        assert!(cache
            .delete(&HfModel::new("org/m", Some("c1".into())))
            .unwrap());
        let blobs: Vec<String> = std::fs::read_dir(cache.blobs_dir("org/m"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(blobs, ["shared"]);
        let left = HfModel::new("org/m", None);
        assert_eq!(cache.status(&left), HfModelStatus::Downloaded);
        assert!(!cache
            .delete(&HfModel::new("org/m", Some("c1".into())))
            .unwrap());
        assert!(cache.delete(&left).unwrap());
        assert!(!cache.repo_dir("org/m").exists());
    }

    #[test]
    fn a_cache_filled_by_another_tool_is_complete_without_incomplete_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HubCache::new(dir.path().to_path_buf());
        let snapshot = cache.snapshot_dir("org/m", "c9");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(cache.blobs_dir("org/m")).unwrap();
        assert_eq!(cache.revision_status("org/m", "c9"), HfModelStatus::Partial);
        std::fs::write(snapshot.join("config.json"), b"{}").unwrap();
        assert_eq!(
            cache.revision_status("org/m", "c9"),
            HfModelStatus::Downloaded
        );
        std::fs::write(cache.blobs_dir("org/m").join("x.incomplete"), b"").unwrap();
        assert_eq!(cache.revision_status("org/m", "c9"), HfModelStatus::Partial);
    }

    #[test]
    fn names_that_leave_the_cache_are_refused() {
        assert!(valid_repo("Qwen/Qwen3-32B-FP8") && valid_repo("gpt2"));
        for bad in ["", "a/b/c", "../x", "a/..", "a/.b", "a b/c", "/abs"] {
            assert!(!valid_repo(bad), "{bad}");
        }
        assert!(valid_revision("0a1b2c") && valid_revision("main"));
        assert!(!valid_revision("..") && !valid_revision("a/b") && !valid_revision(""));
        assert!(safe_relative("sub/w.bin").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }
}
