//! `models/status`, `models/download`, `DELETE models` and `models/list`: the Hugging Face
//! models of the node's hub cache, in upstream's shapes (`api.models.types`).

use serde::{Deserialize, Serialize};

/// A Hugging Face model: `{hf_repo, hf_commit}`. `hf_commit: null` means the latest commit of
/// the repository's `main` branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HfModel {
    /// Repository id, `org/name`.
    pub hf_repo: String,
    /// Commit hash, `None` for the latest.
    #[serde(default)]
    pub hf_commit: Option<String>,
}

impl HfModel {
    /// `hf_repo` at `hf_commit` (`None`: latest).
    pub fn new(hf_repo: impl Into<String>, hf_commit: Option<String>) -> Self {
        Self {
            hf_repo: hf_repo.into(),
            hf_commit,
        }
    }

    /// Upstream's task id: `org/name:<commit>`, or `org/name:latest` without a commit.
    pub fn task_id(&self) -> String {
        format!(
            "{}:{}",
            self.hf_repo,
            self.hf_commit.as_deref().unwrap_or("latest")
        )
    }
}

/// Where a model stands in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HfModelStatus {
    /// Every file of the revision is in the cache.
    Downloaded,
    /// A download runs.
    Downloading,
    /// Nothing of the model is in the cache.
    NotFound,
    /// Some files are there, not all (a failed, interrupted or cancelled download).
    Partial,
    /// The request was acknowledged and not acted on (offline mode).
    Ignored,
}

/// Timing of a running download.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadProgress {
    /// Unix time (seconds) the download started.
    pub start_time: f64,
    /// Seconds since then.
    pub elapsed_seconds: f64,
}

/// `POST /api/v1/models/status` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HfModelStatusReply {
    /// The model asked about, as asked.
    pub model: HfModel,
    /// Its status.
    pub status: HfModelStatus,
    /// Present while [`HfModelStatus::Downloading`].
    #[serde(default)]
    pub progress: Option<DownloadProgress>,
    /// Why the last download failed, if it did.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `POST /api/v1/models/download` answer (`202`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadStarted {
    /// [`HfModel::task_id`] (with `:offline` appended when ignored).
    pub task_id: String,
    /// `DOWNLOADING`, `DOWNLOADED` when already complete, or `IGNORED` offline.
    pub status: HfModelStatus,
    /// The model asked for.
    pub model: HfModel,
}

/// `DELETE /api/v1/models` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReply {
    /// `deleted` (files removed) or `cancelled` (a download stopped, nothing on disk yet).
    pub status: String,
    /// The model asked for.
    pub model: HfModel,
}

/// One model revision of `GET /api/v1/models/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelListItem {
    /// The repository and commit (a configured GGUF file: its name, no commit).
    pub model: HfModel,
    /// `DOWNLOADED` or `PARTIAL`.
    pub status: HfModelStatus,
    /// Where it is on disk (our extra).
    #[serde(default)]
    pub path: String,
    /// Bytes on disk (our extra; blobs shared by revisions count for each).
    #[serde(default)]
    pub size_bytes: u64,
}
