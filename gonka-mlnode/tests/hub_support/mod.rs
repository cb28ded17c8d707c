//! A stand-in for the Hugging Face hub on 127.0.0.1:0, serving the two routes
//! `snapshot_download` uses: `GET /api/models/{org}/{name}/revision/{rev}` (with `blobId`,
//! `size` and `lfs.sha256` per file) and `GET /{org}/{name}/resolve/{commit}/{file}` (with
//! `Range`). Unknown repositories answer 404 `X-Error-Code: RepoNotFound` as the hub does.
//! Repository `org/broken` declares its file's full length and closes the connection half-way;
//! `org/slow` sends half its file and then nothing until the client goes away.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The commit every repository of the fake hub is at.
pub const COMMIT: &str = "4f8e1c2d3b4a5968778695a4b3c2d1e0f9a8b7c6";

/// One file of a fake repository.
#[derive(Clone)]
pub struct HubFile {
    pub name: &'static str,
    pub content: Vec<u8>,
    pub lfs: bool,
}

impl HubFile {
    /// The blob id the hub reports: sha256 for LFS files, a git-style id otherwise.
    pub fn blob(&self) -> String {
        let digest = format!("{:x}", Sha256::digest(&self.content));
        if self.lfs {
            digest
        } else {
            digest[..40].to_owned()
        }
    }
}

/// The files of the working repositories (`org/tiny`, `org/slow`, `org/broken`).
pub fn tiny_files() -> Vec<HubFile> {
    vec![
        HubFile {
            name: "config.json",
            content: br#"{"model_type": "llama", "hidden_size": 64}"#.to_vec(),
            lfs: false,
        },
        HubFile {
            name: "tokenizer/tokenizer.json",
            content: br#"{"version": "1.0", "vocab": {"a": 0}}"#.to_vec(),
            lfs: false,
        },
        HubFile {
            name: "model.safetensors",
            content: (0..4096u32).map(|i| (i * 7 % 251) as u8).collect(),
            lfs: true,
        },
    ]
}

/// What the fake hub saw.
#[derive(Default)]
pub struct Seen {
    /// `Authorization` headers of every request.
    pub authorization: Mutex<Vec<Option<String>>>,
    /// `Range` headers of file requests, by file.
    pub ranges: Mutex<BTreeMap<String, Vec<Option<String>>>>,
    /// Revision (file list) requests.
    pub revision_calls: AtomicUsize,
    /// File requests.
    pub file_calls: AtomicUsize,
}

#[derive(Clone)]
struct Hub {
    repos: Arc<BTreeMap<String, Vec<HubFile>>>,
    seen: Arc<Seen>,
}

/// A running fake hub.
pub struct FakeHub {
    pub url: String,
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHub {
    pub async fn start() -> FakeHub {
        let repos: BTreeMap<String, Vec<HubFile>> = ["org/tiny", "org/slow", "org/broken"]
            .into_iter()
            .map(|r| (r.to_owned(), tiny_files()))
            .collect();
        let seen = Arc::new(Seen::default());
        let hub = Hub {
            repos: Arc::new(repos),
            seen: Arc::clone(&seen),
        };
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(revision))
            .route("/{org}/{name}/resolve/{commit}/{*file}", get(resolve))
            .with_state(hub);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHub { url, seen, task }
    }
}

fn record_auth(hub: &Hub, headers: &HeaderMap) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    hub.seen.authorization.lock().unwrap().push(auth);
}

fn not_found(code: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [("x-error-code", code)],
        Json(json!({"error": code})),
    )
        .into_response()
}

async fn revision(
    State(hub): State<Hub>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record_auth(&hub, &headers);
    hub.seen.revision_calls.fetch_add(1, Ordering::SeqCst);
    let Some(files) = hub.repos.get(&format!("{org}/{name}")) else {
        return not_found("RepoNotFound");
    };
    if rev != "main" && rev != COMMIT {
        return not_found("RevisionNotFound");
    }
    let siblings: Vec<_> = files
        .iter()
        .map(|f| {
            let mut s = json!({"rfilename": f.name, "blobId": f.blob()[..40.min(f.blob().len())], "size": f.content.len()});
            if f.lfs {
                s["lfs"] = json!({"sha256": f.blob(), "size": f.content.len(), "pointerSize": 134});
            }
            s
        })
        .collect();
    Json(json!({"id": format!("{org}/{name}"), "sha": COMMIT, "siblings": siblings}))
        .into_response()
}

async fn resolve(
    State(hub): State<Hub>,
    Path((org, name, commit, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record_auth(&hub, &headers);
    hub.seen.file_calls.fetch_add(1, Ordering::SeqCst);
    let repo = format!("{org}/{name}");
    let range = headers.get("range").map(|v| v.to_str().unwrap().to_owned());
    hub.seen
        .ranges
        .lock()
        .unwrap()
        .entry(file.clone())
        .or_default()
        .push(range.clone());
    let Some(files) = hub.repos.get(&repo) else {
        return not_found("RepoNotFound");
    };
    let Some(f) = files.iter().find(|f| f.name == file) else {
        return not_found("EntryNotFound");
    };
    if commit != COMMIT {
        return not_found("RevisionNotFound");
    }
    let full = f.content.clone();
    let half = full.len() / 2;
    match repo.as_str() {
        "org/broken" if f.lfs => {
            let first = Bytes::from(full[..half].to_vec());
            let stream = futures::stream::iter(vec![
                Ok::<_, std::io::Error>(first),
                Err(std::io::Error::other("hub closed the connection")),
            ]);
            (
                [("content-length", full.len().to_string())],
                Body::from_stream(stream),
            )
                .into_response()
        }
        "org/slow" if f.lfs => {
            let first = Bytes::from(full[..half].to_vec());
            let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(first) })
                .chain(futures::stream::pending());
            (
                [("content-length", full.len().to_string())],
                Body::from_stream(stream),
            )
                .into_response()
        }
        _ => {
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok());
            match start {
                Some(start) if start < full.len() => (
                    StatusCode::PARTIAL_CONTENT,
                    [(
                        "content-range",
                        format!("bytes {start}-{}/{}", full.len() - 1, full.len()),
                    )],
                    full[start..].to_vec(),
                )
                    .into_response(),
                _ => full.into_response(),
            }
        }
    }
}

use futures::StreamExt;
