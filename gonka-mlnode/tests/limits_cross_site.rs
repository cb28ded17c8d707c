//! Cross-site calls to the ML node's management API and its start-up checks. A web page (any
//! request with an `Origin` header) cannot bring a model up, stop the node or read its state,
//! also not through DNS rebinding; upstream's network node (no `Origin`, no `Content-Type`) keeps
//! working. The binary refuses an empty `--token` and, without `--allow-unauthenticated`, a
//! management address beyond loopback without a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{client, Node};
use gonka_mlnode::MlNodeConfig;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gonka-mlnode");

#[tokio::test]
async fn management_api_refuses_browser_origins_and_changes_nothing() {
    let node = Node::start(MlNodeConfig::default()).await;
    let up = json!({"model": "Qwen/Qwen3-32B-FP8", "dtype": "auto", "additional_args": []});
    let http = client();
    let port = node.mgmt.rsplit(':').next().unwrap().to_owned();
    let rebound = format!("http://evil.example:{port}");
    for origin in ["https://evil.example", rebound.as_str(), "null"] {
        // A form-like post: text body, no JSON content type, as a page can send without a
        // preflight.
        let r = http
            .post(format!("{}/api/v1/inference/up?wait=false", node.mgmt))
            .header("origin", origin)
            .header("content-type", "text/plain")
            .body(up.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
        let body = r.text().await.unwrap();
        assert!(body.contains(origin), "{body}");
        let r = http
            .get(format!("{}/v3.0.8/api/v1/state", node.mgmt))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    let state = node.state().await;
    assert_eq!(
        state["state"], "STOPPED",
        "a refused up changed the node: {state}"
    );
    assert_eq!(state["up_status"], "not_started", "{state}");

    // Upstream's network node: no Origin, no Content-Type, container names as Host.
    let r = http
        .post(format!("{}/api/v1/inference/up?wait=false", node.mgmt))
        .header("host", "mlnode-308:8080")
        .body(up.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    node.wait_inference_healthy().await;
    node.stop().await.unwrap();
}

/// Runs the binary with `args` (inference on loopback); it must exit by itself within 30 s.
/// Returns success and stdout + stderr.
async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["--inference-listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("GONKA_MLNODE_TOKEN")
        .env_remove("GONKA_MLNODE_ALLOW_UNAUTHENTICATED")
        .env_remove("GONKA_MLNODE_MGMT_LISTEN")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("gonka-mlnode refuses to start within 30 s")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    (status.success(), out)
}

#[tokio::test]
async fn empty_token_is_a_start_up_error() {
    let (ok, out) = run_to_exit(
        &["--mgmt-listen", "127.0.0.1:0"],
        &[("GONKA_MLNODE_TOKEN", "")],
    )
    .await;
    assert!(!ok, "started with an empty token:\n{out}");
    assert!(out.contains("--token") && out.contains("empty"), "{out}");
}

#[tokio::test]
async fn management_beyond_loopback_without_token_is_refused() {
    // The default --mgmt-listen is 0.0.0.0:8080; port 1 is never bound (refused first).
    let (ok, out) = run_to_exit(&["--mgmt-listen", "0.0.0.0:1"], &[]).await;
    assert!(!ok, "started unauthenticated on 0.0.0.0:\n{out}");
    for needle in ["0.0.0.0:1", "--token", "--allow-unauthenticated"] {
        assert!(out.contains(needle), "the refusal lacks {needle:?}:\n{out}");
    }
}

#[tokio::test]
async fn allow_unauthenticated_serves_beyond_loopback_with_a_warning() {
    // Binds every interface for the moment it takes to log the warning and start.
    let mut child = Command::new(BIN)
        .args([
            "--mgmt-listen",
            "0.0.0.0:0",
            "--inference-listen",
            "127.0.0.1:0",
        ])
        .arg("--allow-unauthenticated")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("GONKA_MLNODE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|l: &String| l.contains("ML node agent started"))
    {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("gonka-mlnode starts within 30 s")
            .unwrap();
        let Some(line) = line else { break };
        seen.push(line);
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let log = seen.join("\n");
    assert!(log.contains("ML node agent started"), "{log}");
    assert!(
        seen.iter()
            .any(|l| l.contains("WARN") && l.contains("without a token")),
        "no warning:\n{log}"
    );
}
