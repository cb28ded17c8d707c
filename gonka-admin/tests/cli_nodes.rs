//! `gonka-admin nodes ...`, the operator CLI: the real binary against a real admin API server on
//! loopback (token required), every subcommand in table and JSON output, and its errors with
//! their exit codes (1 refused, 2 usage, 3 unreachable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::{seed_node1, seed_node_235b, Server};
use gonka_admin::AdminOptions;
use gonka_core::MemoryRegistry;
use serde_json::{json, Value};

const TOKEN: &str = "op-s3cret";

async fn server() -> Server {
    let options = AdminOptions {
        token: Some(TOKEN.into()),
        ..AdminOptions::default()
    };
    Server::start_with(Arc::new(MemoryRegistry::new()), options).await
}

/// Runs `gonka-admin nodes ARGS` against `server` (URL and token from the environment) on a
/// blocking thread, with `stdin` piped in.
async fn nodes(server: &Server, args: &[&str], stdin: Option<&str>) -> Output {
    let url = server.url("");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
            .arg("nodes")
            .args(&args)
            .env("GONKA_ADMIN_URL", url)
            .env("GONKA_ADMIN_TOKEN", TOKEN)
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_works_through_the_api_in_tables_and_json() {
    let server = server().await;

    let out = nodes(&server, &["list"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("(no nodes)"), "{}", stdout(&out));

    let out = nodes(
        &server,
        &[
            "add",
            "--id",
            "node1",
            "--host",
            "10.0.0.21",
            "--inference-port",
            "5050",
            "--poc-port",
            "8080",
            "--model",
            "Qwen/Qwen3-32B-FP8",
            "--max-concurrent",
            "500",
        ],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "added node1");

    let out = nodes(
        &server,
        &["add", "--json", "-", "-o", "json"],
        Some(&seed_node_235b().to_string()),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let added: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(added["id"], "node-235b");

    let out = nodes(&server, &["list"], None).await;
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[1].starts_with("node1 "), "{table}");
    assert!(
        lines[1].contains("10.0.0.21") && lines[1].contains("yes"),
        "{table}"
    );
    assert!(lines[2].starts_with("node-235b"), "{table}");

    let out = nodes(&server, &["update", "node1", "--max-concurrent", "7"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "updated node1");
    let out = nodes(&server, &["get", "node1", "--output", "json"], None).await;
    let got: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(got["node"]["max_concurrent"], 7);
    assert_eq!(
        got["node"]["host"], "10.0.0.21",
        "fields not given are kept"
    );

    let out = nodes(&server, &["disable", "node1"], None).await;
    assert_eq!(stdout(&out).trim(), "disabled node1");
    let out = nodes(&server, &["get", "node1"], None).await;
    assert!(
        stdout(&out).lines().nth(1).unwrap().contains(" no "),
        "{}",
        stdout(&out)
    );
    let out = nodes(&server, &["enable", "node1", "-o", "json"], None).await;
    let changed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(changed.is_object(), "{changed}");

    let out = nodes(&server, &["delete", "node-235b"], None).await;
    assert_eq!(stdout(&out).trim(), "deleted node-235b");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node-config.json");
    let mut node2 = seed_node1();
    node2["id"] = json!("node2");
    node2["host"] = json!("10.0.0.30");
    std::fs::write(&file, json!([node2, seed_node_235b()]).to_string()).unwrap();
    let out = nodes(&server, &["import", file.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "imported 2 nodes");
    let out = nodes(&server, &["list", "--output", "json"], None).await;
    let all: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["node1", "node2", "node-235b"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_went_wrong_with_distinct_exit_codes() {
    let server = server().await;
    let out = nodes(&server, &["get", "node9"], None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("node9"), "{}", stderr(&out));

    let out = nodes(
        &server,
        &["add", "--id", "bad", "--host", "", "--model", "nobody/none"],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("invalid request"), "{err}");
    assert!(err.contains("host"), "{err}");

    let out = nodes(&server, &["add", "--host", "h"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--id"), "{}", stderr(&out));

    let out = nodes(&server, &["import", "/nonexistent/nodes.json"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/nodes.json"),
        "{}",
        stderr(&out)
    );

    // A wrong token: 401 from the server.
    let url = server.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
            .args(["nodes", "list", "--server", &url, "--token", "wrong"])
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unauthorized"), "{}", stderr(&out));
    server.stop().await;

    // Nothing listens any more: unreachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .args(["nodes", "list", "--server", &url])
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("cannot reach the admin API"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_and_imports_show_the_servers_validation_messages() {
    let server = server().await;
    // A node file missing fields: the server (not a local parser) names each problem.
    let out = nodes(
        &server,
        &["add", "--json", "-"],
        Some(r#"{"id": "n1", "host": "10.0.0.5"}"#),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("inference_port"), "{err}");
    assert!(
        err.contains("at least one model must be specified"),
        "{err}"
    );

    // Unknown fields are the server's 400 too, naming the field.
    let out = nodes(
        &server,
        &["add", "--json", "-"],
        Some(
            r#"{"id": "n1", "host": "10.0.0.5", "inference_port": 5050, "poc_port": 8080,
                 "models": {"Qwen/Qwen3-32B-FP8": {}}, "max_concurrent": 4, "colour": "red"}"#,
        ),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));

    // An import with one bad node: the good one is stored, the bad one reported with the
    // server's reason, exit 1.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"[{"id": "good", "host": "10.0.0.7", "inference_port": 5050, "poc_port": 8080,
             "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}, "max_concurrent": 2},
            {"id": "bad", "host": "10.0.0.8", "inference_port": 0, "poc_port": 8080,
             "models": {"Qwen/Qwen3-32B-FP8": {}}, "max_concurrent": 2}]"#,
    )
    .unwrap();
    let out = nodes(&server, &["import", file.path().to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("imported 1 nodes, rejected 1"), "{err}");
    assert!(
        err.contains("bad (#1)") && err.contains("inference_port must be between 1 and 65535"),
        "{err}"
    );
    let out = nodes(&server, &["get", "good", "--output", "json"], None).await;
    assert_eq!(out.status.code(), Some(0));

    // update --json: the path id is used when the body has none; a different one is refused.
    let out = nodes(
        &server,
        &["update", "good", "--json", "-", "--output", "json"],
        Some(
            r#"{"host": "10.0.0.9", "inference_port": 5051, "poc_port": 8081,
                 "models": {"Qwen/Qwen3-32B-FP8": {}}, "max_concurrent": 3}"#,
        ),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["host"].as_str()),
        (Some("good"), Some("10.0.0.9"))
    );
    let out = nodes(
        &server,
        &["update", "good", "--json", "-"],
        Some(r#"{"id": "other"}"#),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not match id in path"),
        "{}",
        stderr(&out)
    );

    // Not an array: a usage error naming the file.
    std::fs::write(file.path(), r#"{"id": "x"}"#).unwrap();
    let out = nodes(&server, &["import", file.path().to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a JSON array of nodes"),
        "{}",
        stderr(&out)
    );
    server.stop().await;
}

#[test]
fn serve_is_the_default_and_help_mentions_the_operator_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("gonka-admin nodes"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen"));
}
