//! The Hugging Face hub's HTTP API, the part `snapshot_download` uses: the file list of a
//! revision (`GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`) and each file
//! (`GET {endpoint}/{repo}/resolve/{commit}/{file}`), with `Authorization: Bearer $HF_TOKEN`.
//! A file is streamed into `blobs/<blob id>.incomplete` (resumed with `Range` when a previous
//! attempt left one), checked (size; sha256 for LFS files) and only then renamed to its blob.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::cache::{ManifestFile, INCOMPLETE};

/// Where the hub is and how downloads behave.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSettings {
    /// Hub base URL (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// Access token (`HF_TOKEN`, else the file `$HF_HOME/token`).
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: downloads are acknowledged (`IGNORED`) and not made.
    pub offline: bool,
    /// Downloads at once; one more is refused (429). Upstream: 3.
    pub max_downloads: usize,
    /// Files of one download fetched at once.
    pub file_concurrency: usize,
    /// Further attempts after a failed one (network errors, interrupted files). Upstream: 3.
    pub max_retries: u32,
    /// Pause before the first retry, doubled for each next one.
    pub retry_delay: Duration,
    /// A file that sends no byte for this long fails its attempt
    /// (`MODEL_DOWNLOAD_STALL_TIMEOUT`, seconds; default 600).
    pub stall_timeout: Duration,
}

impl Default for HubSettings {
    fn default() -> Self {
        Self {
            endpoint: "https://huggingface.co".to_owned(),
            token: None,
            offline: false,
            max_downloads: 3,
            file_concurrency: 4,
            max_retries: 3,
            retry_delay: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(600),
        }
    }
}

impl HubSettings {
    /// The defaults with `HF_ENDPOINT`, `HF_TOKEN` (or `$HF_TOKEN_PATH`, `$HF_HOME/token`,
    /// `~/.cache/huggingface/token`), `HF_HUB_OFFLINE` and `MODEL_DOWNLOAD_STALL_TIMEOUT` read
    /// from the environment, as `huggingface_hub` and upstream's ML node read them.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut settings = Self::default();
        if let Some(endpoint) = var("HF_ENDPOINT") {
            settings.endpoint = endpoint.trim_end_matches('/').to_owned();
        }
        settings.token = var("HF_TOKEN").or_else(|| {
            let path = var("HF_TOKEN_PATH").map(PathBuf::from).or_else(|| {
                var("HF_HOME")
                    .map(|h| PathBuf::from(h).join("token"))
                    .or_else(|| {
                        var("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/token"))
                    })
            })?;
            let token = std::fs::read_to_string(path).ok()?;
            let token = token.trim();
            (!token.is_empty()).then(|| token.to_owned())
        });
        settings.offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        if let Some(secs) =
            var("MODEL_DOWNLOAD_STALL_TIMEOUT").and_then(|v| v.trim().parse::<f64>().ok())
        {
            if secs.is_finite() && secs > 0.0 {
                settings.stall_timeout = Duration::from_secs_f64(secs);
            }
        }
        settings
    }
}

/// Why a hub call failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub does not know the repository (or it is private and the token does not open it).
    #[error("Repository not found: {0}")]
    RepoNotFound(String),
    /// The repository has no such revision.
    #[error("Revision not found: {0}")]
    RevisionNotFound(String),
    /// Anything else: a network error, an unexpected status, a short or corrupt file.
    #[error("{0}")]
    Transfer(String),
    /// The download was cancelled.
    #[error("Download cancelled")]
    Cancelled,
}

impl HubError {
    /// Whether another attempt could succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Transfer(_))
    }
}

/// A revision's commit and files.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The commit hash.
    pub commit: String,
    /// Its files; `ManifestFile::blob` is the LFS sha256 or the git blob id.
    pub files: Vec<ManifestFile>,
    /// Per file: whether `blob` is a sha256 of the content (LFS), so the download is checked.
    pub lfs: Vec<bool>,
}

#[derive(serde::Deserialize)]
struct RevisionBody {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default, rename = "blobId")]
    blob_id: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(serde::Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// A client of one hub.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    settings: HubSettings,
}

impl HubClient {
    /// A client for `settings.endpoint`.
    pub fn new(settings: HubSettings) -> Self {
        let mut builder = reqwest::Client::builder();
        if is_loopback(&settings.endpoint) {
            builder = builder.no_proxy();
        }
        let http = builder
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gonka-mlnode/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { http, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.settings.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The commit and files of `repo` at `revision` (a commit or a branch).
    ///
    /// # Errors
    /// `RepoNotFound` / `RevisionNotFound` as the hub says (`X-Error-Code`, or 401/404);
    /// `Transfer` otherwise.
    pub async fn revision(&self, repo: &str, revision: &str) -> Result<Revision, HubError> {
        let url = format!(
            "{}/api/models/{repo}/revision/{revision}?blobs=true",
            self.settings.endpoint
        );
        let response = self
            .get(&url)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| HubError::Transfer(format!("GET {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let code = response
                .headers()
                .get("x-error-code")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            return Err(match (code.as_str(), status.as_u16()) {
                ("RevisionNotFound", _) => HubError::RevisionNotFound(revision.to_owned()),
                ("RepoNotFound", _) | (_, 401) => HubError::RepoNotFound(repo.to_owned()),
                (_, 404) => HubError::RevisionNotFound(revision.to_owned()),
                _ => HubError::Transfer(format!("GET {url}: HTTP {status}")),
            });
        }
        let body: RevisionBody = response
            .json()
            .await
            .map_err(|e| HubError::Transfer(format!("GET {url}: unreadable answer: {e}")))?;
        if !super::cache::valid_revision(&body.sha) {
            return Err(HubError::Transfer(format!(
                "GET {url}: bad commit {:?}",
                body.sha
            )));
        }
        let mut files = Vec::with_capacity(body.siblings.len());
        let mut lfs = Vec::with_capacity(body.siblings.len());
        for s in body.siblings {
            super::cache::safe_relative(&s.rfilename)
                .map_err(|e| HubError::Transfer(e.to_string()))?;
            let (blob, size, is_lfs) = match (s.lfs, s.blob_id, s.size) {
                (Some(l), _, _) => (l.sha256, l.size, true),
                (None, Some(id), Some(size)) => (id, size, false),
                _ => {
                    return Err(HubError::Transfer(format!(
                        "GET {url}: no blob id or size for {}",
                        s.rfilename
                    )))
                }
            };
            if !super::cache::valid_revision(&blob) {
                return Err(HubError::Transfer(format!(
                    "GET {url}: bad blob id {blob:?}"
                )));
            }
            files.push(ManifestFile {
                name: s.rfilename,
                blob,
                size,
            });
            lfs.push(is_lfs);
        }
        Ok(Revision {
            commit: body.sha,
            files,
            lfs,
        })
    }

    /// Downloads `file` of `repo` at `commit` into `blobs/<blob id>` (through
    /// `<blob id>.incomplete`), unless the blob is already there with its size.
    ///
    /// # Errors
    /// `Transfer` for network errors, an unexpected status, a stall, a wrong size or hash;
    /// `Cancelled` when `cancel` fires.
    pub async fn download(
        &self,
        repo: &str,
        commit: &str,
        file: &ManifestFile,
        sha256: bool,
        blobs: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), HubError> {
        let blob = blobs.join(&file.blob);
        if tokio::fs::metadata(&blob)
            .await
            .is_ok_and(|m| m.len() == file.size)
        {
            return Ok(());
        }
        let partial = blobs.join(format!("{}{INCOMPLETE}", file.blob));
        let io = |e: std::io::Error| HubError::Transfer(format!("{}: {e}", partial.display()));
        let have = tokio::fs::metadata(&partial).await.map_or(0, |m| m.len());
        let url = format!(
            "{}/{repo}/resolve/{commit}/{}",
            self.settings.endpoint,
            encode_path(&file.name)
        );
        let mut request = self.get(&url);
        if have > 0 && have < file.size {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let response = tokio::select! {
            r = request.send() => r.map_err(|e| HubError::Transfer(format!("GET {url}: {e}")))?,
            () = cancel.cancelled() => return Err(HubError::Cancelled),
        };
        let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
        if !response.status().is_success() {
            return Err(HubError::Transfer(format!(
                "GET {url}: HTTP {}",
                response.status()
            )));
        }
        let mut hasher = Sha256::new();
        let mut out = if resumed {
            if sha256 {
                hasher.update(tokio::fs::read(&partial).await.map_err(io)?);
            }
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(&partial)
                .await
                .map_err(io)?
        } else {
            tokio::fs::File::create(&partial).await.map_err(io)?
        };
        let mut written = if resumed { have } else { 0 };
        let mut stream = response.bytes_stream();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(self.settings.stall_timeout, stream.next()) => n,
                () = cancel.cancelled() => return Err(HubError::Cancelled),
            };
            let chunk = match next {
                Err(_) => {
                    return Err(HubError::Transfer(format!(
                        "GET {url}: no data for {:?}",
                        self.settings.stall_timeout
                    )))
                }
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    chunk.map_err(|e| HubError::Transfer(format!("GET {url}: {e}")))?
                }
            };
            written += chunk.len() as u64;
            if written > file.size {
                break;
            }
            if sha256 {
                hasher.update(&chunk);
            }
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)?;
        out.sync_all().await.map_err(io)?;
        drop(out);
        if written != file.size {
            if written > file.size {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            return Err(HubError::Transfer(format!(
                "GET {url}: {written} bytes instead of {}",
                file.size
            )));
        }
        if sha256 {
            let digest = format!("{:x}", hasher.finalize());
            if digest != file.blob {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(HubError::Transfer(format!(
                    "GET {url}: sha256 {digest} instead of {}",
                    file.blob
                )));
            }
        }
        tokio::fs::rename(&partial, &blob).await.map_err(io)
    }
}

/// Whether `endpoint` names this host (no proxy then, as `NO_PROXY=localhost` would).
fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|host| rest.starts_with(host))
}

/// `name` with every byte but unreserved characters and `/` percent-encoded.
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_encoded_but_keep_their_folders() {
        assert_eq!(encode_path("a b/c#d.json"), "a%20b/c%23d.json");
        assert_eq!(
            encode_path("model-00001.safetensors"),
            "model-00001.safetensors"
        );
    }

    #[tokio::test]
    async fn https_endpoints_are_supported_by_this_build() {
        let client = HubClient::new(HubSettings {
            endpoint: "https://127.0.0.1:9".into(),
            ..HubSettings::default()
        });
        // Nothing listens there: the request fails connecting, not for want of TLS.
        let err = client
            .get("https://127.0.0.1:9/api/models/a/b")
            .send()
            .await
            .unwrap_err();
        assert!(!err.is_builder(), "{err}");
        assert!(err.is_connect(), "{err}");
    }

    #[test]
    fn only_transfer_errors_are_retried() {
        assert!(HubError::Transfer("x".into()).retryable());
        assert!(!HubError::RepoNotFound("a/b".into()).retryable());
        assert!(!HubError::RevisionNotFound("c".into()).retryable());
        assert!(!HubError::Cancelled.retryable());
        assert_eq!(
            HubError::RepoNotFound("a/b".into()).to_string(),
            "Repository not found: a/b"
        );
    }
}
