//! [`ModelManager`]: downloads of Hugging Face models into the hub cache in the background, as
//! upstream's `ModelManager`: at most `max_downloads` at once (429 beyond), one per model (409),
//! each retried on network errors, cancellable; the status of a model comes from its download
//! while one is known, else from the cache on disk (so it survives a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use gonka_core::mlnode_api::{
    DownloadProgress, DownloadStarted, HfModel, HfModelStatus, HfModelStatusReply, ModelListItem,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cache::HubCache;
use super::hub::{HubClient, HubError, HubSettings};

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Bad `hf_repo` / `hf_commit` (400).
    #[error("{0}")]
    Invalid(String),
    /// The model (or another revision of its repository) is downloading (409).
    #[error("{0}")]
    Conflict(String),
    /// `max_downloads` downloads run (429).
    #[error("{0}")]
    TooMany(String),
    /// Nothing to delete (404).
    #[error("{0}")]
    NotFound(String),
    /// A file system error (500).
    #[error("{0}")]
    Io(String),
}

struct Task {
    /// Which download this is, so a cancelled one that ends late never updates a newer one.
    serial: u64,
    model: HfModel,
    start_unix: f64,
    started: Instant,
    status: HfModelStatus,
    error: Option<String>,
    cancel: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

/// The downloads of one node, over one cache and one hub.
pub struct ModelManager {
    cache: HubCache,
    hub: HubClient,
    tasks: Mutex<HashMap<String, Task>>,
    serials: std::sync::atomic::AtomicU64,
}

impl ModelManager {
    /// A manager of `cache` downloading from the hub `settings` name.
    pub fn new(cache: HubCache, settings: HubSettings) -> Arc<Self> {
        Arc::new(Self {
            cache,
            hub: HubClient::new(settings),
            tasks: Mutex::new(HashMap::new()),
            serials: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The cache.
    pub fn cache(&self) -> &HubCache {
        &self.cache
    }

    fn tasks(&self) -> MutexGuard<'_, HashMap<String, Task>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `model` if its repository and commit are safe to use.
    ///
    /// # Errors
    /// `Invalid` naming the field.
    pub fn check(model: &HfModel) -> Result<(), ManagerError> {
        if !super::cache::valid_repo(&model.hf_repo) {
            return Err(ManagerError::Invalid(format!(
                "hf_repo {:?} is not a repository id (org/name)",
                model.hf_repo
            )));
        }
        if let Some(commit) = &model.hf_commit {
            if !super::cache::valid_revision(commit) {
                return Err(ManagerError::Invalid(format!(
                    "hf_commit {commit:?} is not a commit hash"
                )));
            }
        }
        Ok(())
    }

    /// Where `model` stands: its download's status while one is known, else the cache's.
    pub async fn status(&self, model: &HfModel) -> HfModelStatusReply {
        if let Some(task) = self.tasks().get(&model.task_id()) {
            let progress = (task.status == HfModelStatus::Downloading).then(|| DownloadProgress {
                start_time: task.start_unix,
                elapsed_seconds: task.started.elapsed().as_secs_f64(),
            });
            return HfModelStatusReply {
                model: model.clone(),
                status: task.status,
                progress,
                error_message: task.error.clone(),
            };
        }
        let cache = self.cache.clone();
        let asked = model.clone();
        let status = tokio::task::spawn_blocking(move || cache.status(&asked))
            .await
            .unwrap_or(HfModelStatus::NotFound);
        HfModelStatusReply {
            model: model.clone(),
            status,
            progress: None,
            error_message: None,
        }
    }

    /// Starts downloading `model` in the background; `DOWNLOADED` at once when the cache has
    /// it, `IGNORED` when offline.
    ///
    /// # Errors
    /// `Conflict` when it (or another revision of its repository) is downloading, `TooMany`
    /// when `max_downloads` run.
    pub async fn download(
        self: &Arc<Self>,
        model: &HfModel,
    ) -> Result<DownloadStarted, ManagerError> {
        let task_id = model.task_id();
        if self.hub.settings().offline {
            return Ok(DownloadStarted {
                task_id: format!("{task_id}:offline"),
                status: HfModelStatus::Ignored,
                model: model.clone(),
            });
        }
        let cache = self.cache.clone();
        let asked = model.clone();
        let on_disk = tokio::task::spawn_blocking(move || cache.status(&asked))
            .await
            .unwrap_or(HfModelStatus::NotFound);
        let mut tasks = self.tasks();
        let running: Vec<&Task> = tasks
            .values()
            .filter(|t| t.status == HfModelStatus::Downloading)
            .collect();
        if let Some(t) = running.iter().find(|t| t.model.hf_repo == model.hf_repo) {
            return Err(ManagerError::Conflict(format!(
                "Model {} is already downloading",
                t.model.task_id()
            )));
        }
        let max = self.hub.settings().max_downloads;
        if running.len() >= max {
            return Err(ManagerError::TooMany(format!(
                "Maximum concurrent downloads ({max}) reached"
            )));
        }
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let serial = self
            .serials
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut task = Task {
            serial,
            model: model.clone(),
            start_unix,
            started: Instant::now(),
            status: HfModelStatus::Downloading,
            error: None,
            cancel: CancellationToken::new(),
            handle: None,
        };
        if on_disk == HfModelStatus::Downloaded {
            task.status = HfModelStatus::Downloaded;
        } else {
            let manager = Arc::clone(self);
            let (m, cancel, id) = (model.clone(), task.cancel.clone(), task_id.clone());
            task.handle = Some(tokio::spawn(async move {
                let outcome = manager.fetch_with_retries(&m, &cancel).await;
                manager.finish(&id, serial, outcome);
            }));
        }
        let status = task.status;
        tasks.insert(task_id.clone(), task);
        Ok(DownloadStarted {
            task_id,
            status,
            model: model.clone(),
        })
    }

    fn finish(&self, task_id: &str, serial: u64, outcome: Result<(), HubError>) {
        let mut tasks = self.tasks();
        let Some(task) = tasks.get_mut(task_id).filter(|t| t.serial == serial) else {
            return;
        };
        match outcome {
            Ok(()) => task.status = HfModelStatus::Downloaded,
            Err(e) => {
                tracing::warn!(model = task_id, error = %e, "model download failed");
                task.status = HfModelStatus::Partial;
                task.error = Some(e.to_string());
            }
        }
        task.handle = None;
    }

    async fn fetch_with_retries(
        &self,
        model: &HfModel,
        cancel: &CancellationToken,
    ) -> Result<(), HubError> {
        let settings = self.hub.settings();
        let mut attempt = 0;
        loop {
            match self.fetch(model, cancel).await {
                Ok(()) => return Ok(()),
                Err(e) if e.retryable() && attempt < settings.max_retries => {
                    let pause = settings.retry_delay.saturating_mul(1 << attempt.min(16));
                    tracing::info!(model = %model.task_id(), error = %e, ?pause, "retrying model download");
                    attempt += 1;
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = cancel.cancelled() => return Err(HubError::Cancelled),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt: file list, manifest, every file, links; then the cache must say complete.
    async fn fetch(&self, model: &HfModel, cancel: &CancellationToken) -> Result<(), HubError> {
        let repo = model.hf_repo.as_str();
        let asked = model.hf_commit.as_deref().unwrap_or("main");
        let revision = self.hub.revision(repo, asked).await?;
        let commit = revision.commit.clone();
        let io = |e: std::io::Error| HubError::Transfer(format!("model cache: {e}"));
        let (cache, files) = (self.cache.clone(), revision.files.clone());
        let (r, a, c) = (repo.to_owned(), asked.to_owned(), commit.clone());
        tokio::task::spawn_blocking(move || cache.begin_revision(&r, &a, &c, &files))
            .await
            .map_err(|e| HubError::Transfer(e.to_string()))?
            .map_err(io)?;
        let blobs = self.cache.blobs_dir(repo);
        let concurrency = self.hub.settings().file_concurrency.max(1);
        let jobs: Vec<_> = revision
            .files
            .into_iter()
            .zip(revision.lfs)
            .map(|(file, lfs)| {
                let (hub, cache) = (self.hub.clone(), self.cache.clone());
                let (repo, commit, blobs) = (repo.to_owned(), commit.clone(), blobs.clone());
                let cancel = cancel.clone();
                async move {
                    hub.download(&repo, &commit, &file, lfs, &blobs, &cancel)
                        .await?;
                    cache
                        .link_file(&repo, &commit, &file)
                        .map_err(|e| HubError::Transfer(format!("model cache: {e}")))
                }
            })
            .collect();
        futures::stream::iter(jobs)
            .buffer_unordered(concurrency)
            .try_collect::<()>()
            .await?;
        let cache = self.cache.clone();
        let (r, c) = (repo.to_owned(), commit.clone());
        let status = tokio::task::spawn_blocking(move || cache.revision_status(&r, &c))
            .await
            .map_err(|e| HubError::Transfer(e.to_string()))?;
        if status == HfModelStatus::Downloaded {
            Ok(())
        } else {
            Err(HubError::Transfer(format!(
                "{repo}@{commit}: verification failed"
            )))
        }
    }

    /// Cancels a running download of `model` and deletes it from the cache: `deleted` when
    /// files were removed, `cancelled` when a download stopped before writing any.
    ///
    /// # Errors
    /// `NotFound` when neither a download nor files exist; `Io` when removing fails.
    pub async fn delete(&self, model: &HfModel) -> Result<&'static str, ManagerError> {
        let stopped = {
            let mut tasks = self.tasks();
            let id = tasks
                .iter()
                .find(|(_, t)| {
                    t.status == HfModelStatus::Downloading
                        && t.model.hf_repo == model.hf_repo
                        && (model.hf_commit.is_none()
                            || t.model.hf_commit.is_none()
                            || t.model.hf_commit == model.hf_commit)
                })
                .map(|(id, _)| id.clone());
            id.and_then(|id| tasks.remove(&id))
        };
        let was_downloading = stopped.is_some();
        if let Some(task) = stopped {
            task.cancel.cancel();
            if let Some(handle) = task.handle {
                let _ = handle.await;
            }
        }
        let cache = self.cache.clone();
        let asked = model.clone();
        let deleted = tokio::task::spawn_blocking(move || cache.delete(&asked))
            .await
            .map_err(|e| ManagerError::Io(e.to_string()))?
            .map_err(|e| ManagerError::Io(format!("deleting {}: {e}", model.task_id())))?;
        if deleted {
            self.tasks().retain(|_, t| {
                t.status == HfModelStatus::Downloading || t.model.hf_repo != model.hf_repo
            });
            Ok("deleted")
        } else if was_downloading {
            Ok("cancelled")
        } else {
            Err(ManagerError::NotFound(format!(
                "Model {} not found in cache",
                model.task_id()
            )))
        }
    }

    /// Every revision in the cache.
    pub async fn list(&self) -> Vec<ModelListItem> {
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || cache.list())
            .await
            .unwrap_or_default()
    }
}
