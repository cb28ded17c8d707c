//! The `gonka-admin` binary: help, nodes-file import at start-up, token flag, graceful SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::bin::spawn_admin;
use common::{numbered_node, seed_node1};
use serde_json::{json, Value};

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--listen",
        "GONKA_ADMIN_LISTEN",
        "127.0.0.1:9200",
        "--database",
        "GONKA_DATABASE_URL",
        "sqlite://gonka.db",
        "--models",
        "GONKA_GOVERNANCE_MODELS",
        "--token",
        "GONKA_ADMIN_TOKEN",
        "--nodes-file",
        "--log-format",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_SAMPLER",
        "traceparent",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn bad_database_url_fails_start_up_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database",
            "postgres://u@127.0.0.1:1/x",
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open database"), "{err}");
    // stderr is a pipe, not a terminal: no colour escape codes in the log lines.
    assert!(
        !err.contains('\x1b'),
        "ANSI escape codes in a non-terminal log: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_file_is_imported_at_start_up_and_token_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("admin.db");
    let file = dir.path().join("node-config.json");
    let invalid = json!({"id": "broken", "host": "h"});
    let nodes = json!([seed_node1(), numbered_node(1), invalid]);
    std::fs::write(&file, serde_json::to_vec(&nodes).unwrap()).unwrap();
    let admin = spawn_admin(
        &db,
        &["--nodes-file", file.to_str().unwrap(), "--token", "t0ken"],
    );
    let client = reqwest::Client::new();
    let url = format!("{}/admin/v1/nodes", admin.base());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let list: Value = client
        .get(&url)
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["node1", "n1"],
        "valid nodes imported, invalid skipped"
    );
    let status = admin.terminate();
    assert!(
        status.success(),
        "SIGTERM must shut down cleanly: {status:?}"
    );
}
