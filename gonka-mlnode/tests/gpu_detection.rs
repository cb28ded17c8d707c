//! GPU detection through the vendors' tools and simulated GPUs: a fake `rocm-smi` (a shell
//! script printing a recorded output, `tests/fixtures/gpu/`) on the `PATH` of detection and of
//! the binary, and `--sim-gpus` in `/api/v1/gpu/devices` and `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{client, Node};
use gonka_core::deploy::GpuVendor;
use gonka_mlnode::gpu::{detect_vendor_tools, SimulatedGpus, CLI_TIMEOUT};
use gonka_mlnode::MlNodeConfig;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gpu");

/// A directory holding an executable `name` that prints `fixture` and ignores its arguments.
fn fake_tool(name: &str, fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join(name);
    std::fs::write(&script, format!("#!/bin/sh\ncat '{FIXTURES}/{fixture}'\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn path_of(dir: &Path) -> std::ffi::OsString {
    std::env::join_paths([dir]).unwrap()
}

#[test]
fn a_rocm_smi_on_the_path_reports_amd_devices() {
    let dir = fake_tool("rocm-smi", "rocm-smi-6-mi300x.json");
    let report = detect_vendor_tools(Some(&path_of(dir.path())), CLI_TIMEOUT);
    assert_eq!(report.count, 2);
    for d in &report.devices {
        assert_eq!(d.vendor.as_deref(), Some("amd"));
        assert_eq!(d.name, "AMD Instinct MI300X");
        assert_eq!(d.total_memory_mb, 196_288);
    }
}

#[test]
fn each_vendor_tool_is_recognised_by_its_name() {
    for (tool, fixture, vendor, count) in [
        ("hy-smi", "hy-smi-hyhal-k100.json", "hygon", 2),
        ("npu-smi", "npu-smi-910-two-chips.txt", "ascend", 4),
        ("mthreads-gmi", "mthreads-gmi-2.3.2-s5000.txt", "musa", 2),
    ] {
        let dir = fake_tool(tool, fixture);
        let report = detect_vendor_tools(Some(&path_of(dir.path())), CLI_TIMEOUT);
        assert_eq!(report.count, count, "{tool}");
        assert!(
            report
                .devices
                .iter()
                .all(|d| d.vendor.as_deref() == Some(vendor)),
            "{tool}: {:?}",
            report.devices
        );
    }
}

#[test]
fn a_path_without_vendor_tools_reports_no_device() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        detect_vendor_tools(Some(&path_of(dir.path())), CLI_TIMEOUT).count,
        0
    );
}

/// Reads the binary's log until the "started" line and returns the management address.
async fn mgmt_address(stderr: tokio::process::ChildStderr) -> String {
    let mut lines = BufReader::new(stderr).lines();
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
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("mgmt_addr="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap()
}

async fn get(url: String) -> Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The binary with a fake `rocm-smi` first on its `PATH`: `/api/v1/gpu/devices` lists the
/// fixture's devices with vendor `amd`, unless the machine has NVIDIA GPUs (NVML comes first).
#[tokio::test]
async fn the_binary_reports_the_devices_of_a_rocm_smi_on_its_path() {
    let dir = fake_tool("rocm-smi", "rocm-smi-6-mi300x.json");
    let mut path = vec![dir.path().to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args([
            "--mgmt-listen",
            "127.0.0.1:0",
            "--inference-listen",
            "127.0.0.1:0",
        ])
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mgmt = mgmt_address(child.stderr.take().unwrap()).await;
    let report = get(format!("http://{mgmt}/api/v1/gpu/devices")).await;
    let driver = get(format!("http://{mgmt}/api/v1/gpu/driver")).await;
    let devices = report["devices"].as_array().unwrap();
    if driver["nvml_available"] == true && !devices.is_empty() {
        // An NVIDIA host: NVML's devices win over any vendor tool.
        assert!(devices.iter().all(|d| d["vendor"] == "nvidia"), "{report}");
    } else {
        assert_eq!(report["count"], 2, "{report}");
        for d in devices {
            assert_eq!(d["vendor"], "amd");
            assert_eq!(d["name"], "AMD Instinct MI300X");
            assert_eq!(d["total_memory_mb"], 196_288);
            assert_eq!(d["is_available"], true);
        }
        assert_eq!(devices[1]["used_memory_mb"], 143_360);
        assert_eq!(devices[1]["utilization_percent"], 12);
        assert_eq!(devices[0]["temperature_c"], 41);
    }
    child.kill().await.unwrap();
}

/// `--sim-gpus` on the binary: the simulated devices, logged as simulated.
#[tokio::test]
async fn the_binary_reports_simulated_gpus() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args([
            "--mgmt-listen",
            "127.0.0.1:0",
            "--inference-listen",
            "127.0.0.1:0",
        ])
        .args(["--sim-gpus", "3", "--sim-gpu-vendor", "ascend"])
        .env("GONKA_MLNODE_SIM_GPU_NAME", "Ascend 910B3")
        .env("GONKA_MLNODE_SIM_GPU_MEMORY_MB", "65536")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut warned = false;
    let mgmt = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            warned |= line.contains("SIMULATED GPUs");
            if let Some(addr) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("mgmt_addr="))
            {
                return addr.trim_matches('"').to_owned();
            }
        }
        panic!("binary exited before starting");
    })
    .await
    .unwrap();
    assert!(warned, "no SIMULATED GPUs warning before the start line");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let report = get(format!("http://{mgmt}/api/v1/gpu/devices")).await;
    assert_eq!(report["count"], 3);
    for (i, d) in report["devices"].as_array().unwrap().iter().enumerate() {
        assert_eq!(d["index"], i);
        assert_eq!(d["name"], "Ascend 910B3");
        assert_eq!(d["vendor"], "ascend");
        assert_eq!(d["total_memory_mb"], 65_536);
        assert_eq!(d["free_memory_mb"], 65_536);
    }
    child.kill().await.unwrap();
}

/// An in-process agent with simulated GPUs and the vllm engine (nothing brought up): both
/// `/api/v1/gpu/devices` and `/health` report them.
#[tokio::test]
async fn simulated_gpus_are_in_the_device_list_and_the_health_report() {
    let node = Node::start(MlNodeConfig {
        engine: gonka_mlnode::engine::EngineKind::Vllm,
        sim_gpus: Some(SimulatedGpus {
            count: 2,
            name: "AMD Instinct MI300X".into(),
            vendor: GpuVendor::Amd,
            memory_mb: 196_608,
        }),
        ..MlNodeConfig::default()
    })
    .await;
    let (status, report) = node.get("/api/v1/gpu/devices").await;
    assert_eq!(status, 200);
    assert_eq!(report["count"], 2);
    assert!(report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["vendor"] == "amd" && d["total_memory_mb"] == 196_608));
    let (status, health) = node.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["gpu"]["count"], 2);
    assert_eq!(health["gpu"]["available"], true);
    assert_eq!(health["gpu"]["devices"][1]["name"], "AMD Instinct MI300X");
    node.stop().await.unwrap();
}
