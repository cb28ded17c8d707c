//! The `gonka-mlnode` binary: `--help`, start on loopback ports, bring a model up, stop on
//! SIGTERM with exit status 0 and no engine process left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{alive, client, eventually};
use tokio::io::{AsyncBufReadExt, BufReader};

#[test]
fn help_lists_the_engine_and_listen_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--engine",
        "--engine-cmd",
        "--model",
        "--mgmt-listen",
        "--inference-listen",
        "--token",
        "--state-dir",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_SAMPLER",
        "traceparent",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("GONKA_MLNODE_ENGINE"));
}

#[test]
fn unknown_engine_is_a_usage_error_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args(["--engine", "tgi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tgi"));
}

/// Reads the binary's log until the "started" line and returns the two addresses.
async fn started_addresses(stderr: tokio::process::ChildStderr) -> (String, String) {
    let mut lines = BufReader::new(stderr).lines();
    let find = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
    };
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("ML node agent started") {
                return line;
            }
        }
        panic!("binary exited before starting");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (
        find(&line, "mgmt_addr=").unwrap(),
        find(&line, "inference_addr=").unwrap(),
    )
}

#[tokio::test]
async fn binary_brings_up_its_model_and_exits_cleanly_on_sigterm() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args([
            "--engine",
            "vllm",
            "--model",
            "boot-model",
            "--mgmt-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--inference-listen",
            "127.0.0.1:0",
            "--grace-period",
            "2s",
            "--drain-timeout",
            "500ms",
        ])
        .arg("--engine-cmd")
        .arg(format!("python3 {}", common::fake_engine().display()))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mgmt, inference) = started_addresses(child.stderr.take().unwrap()).await;
    let http = client();
    let state: serde_json::Value = eventually("the boot model up", || async {
        let s: serde_json::Value = http
            .get(format!("http://{mgmt}/api/v1/state"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (s["inference_healthy"] == true).then_some(s)
    })
    .await;
    assert_eq!(state["loaded_model"], "boot-model");
    let engine_pid = u32::try_from(state["pid"].as_u64().unwrap()).unwrap();
    let models = http
        .get(format!("http://{inference}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!alive(engine_pid), "engine outlived the binary");
}
