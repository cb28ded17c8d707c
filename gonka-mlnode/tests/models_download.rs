//! `models/status`, `models/download`, `DELETE models` and `models/list` against a fake
//! Hugging Face hub on loopback: the download fills the hub cache layout, statuses move
//! DOWNLOADING → DOWNLOADED (or PARTIAL with upstream's error), a cut-off file never makes a
//! model DOWNLOADED, DELETE cancels and removes, and the status survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod hub_support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{eventually, Node};
use gonka_mlnode::models::HubSettings;
use gonka_mlnode::MlNodeConfig;
use hub_support::{tiny_files, FakeHub, COMMIT};
use serde_json::{json, Value};

fn config(cache: &Path, hub: &FakeHub, settings: HubSettings) -> MlNodeConfig {
    MlNodeConfig {
        models_dir: Some(cache.to_path_buf()),
        hub: HubSettings {
            endpoint: hub.url.clone(),
            ..settings
        },
        ..MlNodeConfig::default()
    }
}

/// Few, fast retries: the tests see the final state quickly.
fn quick() -> HubSettings {
    HubSettings {
        max_retries: 1,
        retry_delay: Duration::from_millis(10),
        ..HubSettings::default()
    }
}

/// Sends `body` as Go does: raw JSON, no `Content-Type`.
async fn call(node: &Node, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
    let r = node
        .client
        .request(method, format!("{}{path}", node.mgmt))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn status(node: &Node, model: &Value) -> Value {
    let (code, body) = call(node, reqwest::Method::POST, "/api/v1/models/status", model).await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Polls `models/status` until it is no longer DOWNLOADING.
async fn settled(node: &Node, model: &Value) -> Value {
    eventually("the download to end", || async {
        let s = status(node, model).await;
        (s["status"] != "DOWNLOADING").then_some(s)
    })
    .await
}

fn model(repo: &str, commit: Option<&str>) -> Value {
    json!({"hf_repo": repo, "hf_commit": commit})
}

#[tokio::test]
async fn download_fills_the_hub_cache_layout_and_reports_downloaded() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let settings = HubSettings {
        token: Some("hf_test".into()),
        ..quick()
    };
    let node = Node::start(config(cache.path(), &hub, settings.clone())).await;
    let tiny = model("org/tiny", None);
    assert_eq!(status(&node, &tiny).await["status"], "NOT_FOUND");

    // A blob left half-written by an earlier attempt is resumed with Range.
    let files = tiny_files();
    let lfs = files.iter().find(|f| f.lfs).unwrap();
    let blobs = cache.path().join("models--org--tiny/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        blobs.join(format!("{}.incomplete", lfs.blob())),
        &lfs.content[..1000],
    )
    .unwrap();

    let (code, started) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &tiny,
    )
    .await;
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["task_id"], "org/tiny:latest");
    assert_eq!(started["model"], tiny);
    assert!(
        started["status"] == "DOWNLOADING" || started["status"] == "DOWNLOADED",
        "{started}"
    );
    let done = settled(&node, &tiny).await;
    assert_eq!(done["status"], "DOWNLOADED", "{done}");
    assert_eq!(done["error_message"], Value::Null);

    // The layout huggingface_hub reads.
    let repo = cache.path().join("models--org--tiny");
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    for f in &files {
        let link = repo.join("snapshots").join(COMMIT).join(f.name);
        let target = std::fs::read_link(&link).unwrap();
        let depth = f.name.matches('/').count();
        let expected = format!("{}blobs/{}", "../".repeat(2 + depth), f.blob());
        assert_eq!(target.to_string_lossy(), expected, "{}", f.name);
        assert_eq!(std::fs::read(&link).unwrap(), f.content, "{}", f.name);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty());
    let ranges = hub.seen.ranges.lock().unwrap().clone();
    assert_eq!(ranges[lfs.name], [Some("bytes=1000-".to_owned())]);
    assert!(hub
        .seen
        .authorization
        .lock()
        .unwrap()
        .iter()
        .all(|a| a.as_deref() == Some("Bearer hf_test")));

    // Listed with its commit; a second download needs no hub.
    let (_, list) = node.get("/api/v1/models/list").await;
    let item = &list["models"][0];
    assert_eq!(item["model"], model("org/tiny", Some(COMMIT)), "{list}");
    assert_eq!(item["status"], "DOWNLOADED");
    let calls = hub.seen.file_calls.load(Ordering::SeqCst);
    let (code, again) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &tiny,
    )
    .await;
    assert_eq!((code, again["status"].as_str()), (202, Some("DOWNLOADED")));
    assert_eq!(hub.seen.file_calls.load(Ordering::SeqCst), calls);
    node.stop().await.unwrap();

    // After a restart the status comes from the disk, by branch and by commit.
    let node = Node::start(config(cache.path(), &hub, settings)).await;
    assert_eq!(status(&node, &tiny).await["status"], "DOWNLOADED");
    let pinned = model("org/tiny", Some(COMMIT));
    assert_eq!(status(&node, &pinned).await["status"], "DOWNLOADED");

    // DELETE removes it; a second DELETE is 404.
    let (code, deleted) = call(&node, reqwest::Method::DELETE, "/api/v1/models", &pinned).await;
    assert_eq!(code, 200, "{deleted}");
    assert_eq!(deleted, json!({"status": "deleted", "model": pinned}));
    assert!(!repo.exists());
    assert_eq!(status(&node, &tiny).await["status"], "NOT_FOUND");
    let (code, gone) = call(&node, reqwest::Method::DELETE, "/api/v1/models", &pinned).await;
    assert_eq!(code, 404, "{gone}");
    assert!(
        gone["detail"].as_str().unwrap().contains("not found"),
        "{gone}"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_repository_ends_partial_with_upstreams_error_and_no_retry() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let node = Node::start(config(cache.path(), &hub, quick())).await;
    let nobody = model("nobody/nothing", None);
    let (code, started) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &nobody,
    )
    .await;
    assert_eq!(code, 202, "{started}");
    let done = settled(&node, &nobody).await;
    assert_eq!(done["status"], "PARTIAL", "{done}");
    assert_eq!(
        done["error_message"],
        "Repository not found: nobody/nothing"
    );
    assert_eq!(hub.seen.revision_calls.load(Ordering::SeqCst), 1);

    let bad_commit = model("org/tiny", Some("0000000000000000000000000000000000000000"));
    call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &bad_commit,
    )
    .await;
    let done = settled(&node, &bad_commit).await;
    assert_eq!(
        done["error_message"],
        "Revision not found: 0000000000000000000000000000000000000000"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_file_cut_off_by_the_hub_never_makes_the_model_downloaded() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let node = Node::start(config(cache.path(), &hub, quick())).await;
    let broken = model("org/broken", None);
    let (code, _) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &broken,
    )
    .await;
    assert_eq!(code, 202);
    let done = settled(&node, &broken).await;
    assert_eq!(done["status"], "PARTIAL", "{done}");
    assert!(done["error_message"].is_string(), "{done}");
    // One retry (max_retries 1): the cut-off file was asked for twice.
    let lfs = tiny_files().into_iter().find(|f| f.lfs).unwrap();
    assert_eq!(hub.seen.ranges.lock().unwrap()[lfs.name].len(), 2);
    let blobs = cache.path().join("models--org--broken/blobs");
    assert!(
        !blobs.join(lfs.blob()).exists(),
        "a cut-off blob was renamed complete"
    );
    let snapshot_file = cache
        .path()
        .join("models--org--broken/snapshots")
        .join(COMMIT)
        .join(lfs.name);
    assert!(std::fs::metadata(snapshot_file).is_err());
    node.stop().await.unwrap();

    // After a restart the disk says PARTIAL too, in status and list.
    let node = Node::start(config(cache.path(), &hub, quick())).await;
    assert_eq!(status(&node, &broken).await["status"], "PARTIAL");
    let (_, list) = node.get("/api/v1/models/list").await;
    assert_eq!(
        list["models"][0]["model"],
        model("org/broken", Some(COMMIT))
    );
    assert_eq!(list["models"][0]["status"], "PARTIAL");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn delete_cancels_a_running_download_and_limits_are_enforced() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let settings = HubSettings {
        max_downloads: 1,
        ..quick()
    };
    let node = Node::start(config(cache.path(), &hub, settings)).await;
    let slow = model("org/slow", None);
    let (code, _) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &slow,
    )
    .await;
    assert_eq!(code, 202);
    let lfs = tiny_files().into_iter().find(|f| f.lfs).unwrap();
    let partial = cache
        .path()
        .join("models--org--slow/blobs")
        .join(format!("{}.incomplete", lfs.blob()));
    eventually("half of the slow file on disk", || async {
        std::fs::metadata(&partial)
            .is_ok_and(|m| m.len() as usize == lfs.content.len() / 2)
            .then_some(())
    })
    .await;
    let running = status(&node, &slow).await;
    assert_eq!(running["status"], "DOWNLOADING", "{running}");
    assert!(running["progress"]["start_time"].as_f64().unwrap() > 0.0);
    assert!(running["progress"]["elapsed_seconds"].as_f64().unwrap() >= 0.0);

    // The same model again: 409; another one over the limit of 1: 429.
    let (code, dup) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &slow,
    )
    .await;
    assert_eq!(code, 409, "{dup}");
    assert!(dup["detail"]
        .as_str()
        .unwrap()
        .contains("already downloading"));
    let tiny = model("org/tiny", None);
    let (code, many) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &tiny,
    )
    .await;
    assert_eq!(code, 429, "{many}");
    assert!(many["detail"]
        .as_str()
        .unwrap()
        .contains("Maximum concurrent downloads (1)"));

    // DELETE cancels it and removes what it wrote.
    let (code, deleted) = call(&node, reqwest::Method::DELETE, "/api/v1/models", &slow).await;
    assert_eq!(code, 200, "{deleted}");
    assert_eq!(deleted["status"], "deleted");
    assert!(!cache.path().join("models--org--slow").exists());
    assert_eq!(status(&node, &slow).await["status"], "NOT_FOUND");
    let (code, _) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &tiny,
    )
    .await;
    assert_eq!(code, 202, "the slot is free again");
    assert_eq!(settled(&node, &tiny).await["status"], "DOWNLOADED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn offline_mode_ignores_downloads_and_bad_bodies_are_refused() {
    let hub = FakeHub::start().await;
    let cache = tempfile::tempdir().unwrap();
    let settings = HubSettings {
        offline: true,
        ..quick()
    };
    let node = Node::start(config(cache.path(), &hub, settings)).await;
    let tiny = model("org/tiny", None);
    let (code, ignored) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/download",
        &tiny,
    )
    .await;
    assert_eq!(code, 202);
    assert_eq!(
        ignored,
        json!({"task_id": "org/tiny:latest:offline", "status": "IGNORED", "model": tiny})
    );
    assert_eq!(hub.seen.revision_calls.load(Ordering::SeqCst), 0);

    let (code, _) = call(
        &node,
        reqwest::Method::POST,
        "/api/v1/models/status",
        &json!({"hf_commit": null}),
    )
    .await;
    assert_eq!(code, 422);
    for repo in ["../etc", "a/b/c", "org/.hidden"] {
        let (code, body) = call(
            &node,
            reqwest::Method::POST,
            "/api/v1/models/status",
            &model(repo, None),
        )
        .await;
        assert_eq!(code, 400, "{repo}: {body}");
    }
    let (code, _) = call(
        &node,
        reqwest::Method::DELETE,
        "/api/v1/models",
        &model("org/tiny", Some("../x")),
    )
    .await;
    assert_eq!(code, 400);
    node.stop().await.unwrap();
}
