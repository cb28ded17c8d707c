//! Cross-site calls to the gateway's private listeners, on the real binary: the admin API
//! refuses a foreign `Origin`, a body without `Content-Type: application/json` and a rebound
//! `Host` (nothing is written), accepts the hosts and origins its flags allow; the PoC listener
//! refuses browsers. At start-up an empty token is an error, and the admin or PoC listener
//! beyond loopback without a token needs `--allow-unauthenticated` (then a warning).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/gateway_process.rs"]
mod gateway_process;

use std::process::Stdio;
use std::time::Duration;

use gateway_process::{GatewayProcess, BIN};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

fn node() -> Value {
    json!({
        "id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080,
        "max_concurrent": 500, "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}
    })
}

/// `POST {admin}/admin/v1/nodes` with the node, `content_type` and extra headers: status, body.
async fn post_node(
    admin: &str,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut rb = reqwest::Client::new()
        .post(format!("{admin}/admin/v1/nodes"))
        .body(node().to_string());
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn node_count(admin: &str) -> usize {
    let list: Value = reqwest::get(format!("{admin}/admin/v1/nodes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().len()
}

#[tokio::test]
async fn admin_refuses_foreign_origin_missing_content_type_and_rebound_host() {
    let gw = GatewayProcess::spawn("memory:", &[]).await;
    let json_ct = Some("application/json");
    let (status, body) = post_node(&gw.admin, json_ct, &[("origin", "https://evil.example")]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("https://evil.example"), "{body}");
    let (status, body) = post_node(&gw.admin, None, &[]).await;
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("Content-Type"), "{body}");
    let port = gw.addrs()[1].port();
    let rebound = format!("evil.example:{port}");
    let (status, body) = post_node(&gw.admin, json_ct, &[("host", &rebound)]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(&rebound), "{body}");
    assert_eq!(
        node_count(&gw.admin).await,
        0,
        "a refused request stored a node"
    );
    // Same-origin and non-browser clients keep working.
    let own = format!("http://127.0.0.1:{port}");
    let (status, body) = post_node(&gw.admin, json_ct, &[("origin", &own)]).await;
    assert_eq!(status, 200, "{body}");
    let disable = reqwest::Client::new()
        .post(format!("{}/admin/v1/nodes/node1/disable", gw.admin))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 403);
    let one: Value = reqwest::get(format!("{}/admin/v1/nodes/node1", gw.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["state"]["admin_state"]["enabled"], true, "{one}");
}

#[tokio::test]
async fn admin_accepts_the_hosts_and_origins_its_flags_allow() {
    let gw = GatewayProcess::spawn(
        "memory:",
        &[
            "--admin-allowed-hosts",
            "admin.internal",
            "--admin-allowed-origins",
            "https://ops.example.com",
        ],
    )
    .await;
    let headers = [
        ("host", "admin.internal:9200"),
        ("origin", "https://ops.example.com"),
    ];
    let (status, body) = post_node(&gw.admin, Some("application/json"), &headers).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_node(
        &gw.admin,
        Some("application/json"),
        &[("host", "other.internal")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn poc_listener_refuses_browsers() {
    let gw = GatewayProcess::spawn("memory:", &[]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/health", gw.poc);
    let refused = client
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("https://evil.example"));
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
}

/// Runs the binary with `args` and `env` (listeners on loopback unless overridden by `args`);
/// it must exit by itself within 30 s. Returns success and stdout + stderr.
async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["--database", "memory:", "--public-listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("GONKA_ADMIN_TOKEN")
        .env_remove("GONKA_ALLOW_UNAUTHENTICATED")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the gateway refuses to start within 30 s")
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
async fn empty_tokens_are_start_up_errors() {
    let loopback = [
        "--admin-listen",
        "127.0.0.1:0",
        "--poc-listen",
        "127.0.0.1:0",
    ];
    let (ok, out) = run_to_exit(&loopback, &[("GONKA_ADMIN_TOKEN", "")]).await;
    assert!(
        !ok && out.contains("--admin-token") && out.contains("empty"),
        "{out}"
    );
    let mut args = loopback.to_vec();
    args.extend(["--mlnode-token", ""]);
    let (ok, out) = run_to_exit(&args, &[]).await;
    assert!(
        !ok && out.contains("--mlnode-token") && out.contains("empty"),
        "{out}"
    );
}

#[tokio::test]
async fn private_listeners_beyond_loopback_without_token_are_refused() {
    // The admin API on every interface, as upstream's DAPI_API__ADMIN_SERVER_PORT sets it.
    let (ok, out) = run_to_exit(
        &["--poc-listen", "127.0.0.1:0"],
        &[("DAPI_API__ADMIN_SERVER_PORT", "1")],
    )
    .await;
    assert!(!ok, "started unauthenticated on 0.0.0.0:\n{out}");
    for needle in [
        "admin API",
        "0.0.0.0:1",
        "--admin-token",
        "--allow-unauthenticated",
    ] {
        assert!(out.contains(needle), "the refusal lacks {needle:?}:\n{out}");
    }
    // A token covers the admin API but not the PoC listener, which has none.
    let (ok, out) = run_to_exit(
        &[
            "--admin-listen",
            "0.0.0.0:1",
            "--admin-token",
            "t",
            "--poc-listen",
            "0.0.0.0:1",
        ],
        &[],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("PoC") && out.contains("--allow-unauthenticated=poc"),
        "{out}"
    );
    // Allowing only the PoC listener does not allow the admin API.
    let (ok, out) = run_to_exit(
        &[
            "--admin-listen",
            "0.0.0.0:1",
            "--poc-listen",
            "127.0.0.1:0",
            "--allow-unauthenticated=poc",
        ],
        &[],
    )
    .await;
    assert!(!ok && out.contains("admin API"), "{out}");
}

#[tokio::test]
async fn allow_unauthenticated_serves_beyond_loopback_with_a_warning() {
    // Binds every interface for the moment it takes to log the warnings and start.
    let mut child = Command::new(BIN)
        .args(["--database", "memory:", "--public-listen", "127.0.0.1:0"])
        .args(["--admin-listen", "0.0.0.0:0", "--poc-listen", "0.0.0.0:0"])
        .arg("--allow-unauthenticated")
        .env("RUST_LOG", "warn")
        .env_remove("GONKA_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the gateway starts within 30 s")
        .unwrap()
        .unwrap_or_default();
    child.start_kill().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let _ = child.wait().await;
    assert!(
        started.contains("gonka-gateway listening"),
        "{started}\n{err}"
    );
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("without a token"))
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per listener:\n{err}");
    assert!(warnings.iter().any(|w| w.contains("admin API")), "{err}");
    assert!(warnings.iter().any(|w| w.contains("PoC")), "{err}");
}
