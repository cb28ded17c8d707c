//! The `gonka-gateway` binary: `--help`, and `devnet` as the README runs it, stopped by SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gonka-gateway");

#[tokio::test]
async fn help_lists_the_flags_and_the_devnet_subcommand() {
    let out = Command::new(BIN).arg("--help").output().await.unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--public-listen",
        "--admin-listen",
        "--poc-listen",
        "--database",
        "--policy",
        "--queue-timeout",
        "--queue-capacity",
        "--api-keys-file",
        "--fallback",
        "--otlp-endpoint",
        "--mlnode-token",
        "--max-connections",
        "--max-connections-per-ip",
        "--config",
        "GONKA_CONFIG",
        "devnet",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_SAMPLER",
        "traceparent",
        "--ready-without-nodes",
        "--passthrough-routes",
        "--cors-origins",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[tokio::test]
async fn a_bad_flag_value_fails_with_a_message_naming_it() {
    let out = Command::new(BIN)
        .args(["--queue-timeout", "soon"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
}

#[tokio::test]
async fn a_busy_port_fails_naming_the_listener_the_address_and_the_cause() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let out = Command::new(BIN)
        .args(["--public-listen", &addr.to_string()])
        .args([
            "--admin-listen",
            "127.0.0.1:0",
            "--poc-listen",
            "127.0.0.1:0",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("public (--public-listen)") && err.contains(&addr.to_string()),
        "{err}"
    );
    // The operating system's reason follows the summary (the error's source chain).
    assert!(err.to_lowercase().contains("in use"), "{err}");
}

#[tokio::test]
async fn a_bad_config_file_fails_with_a_message_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, "queue-timeot = \"1s\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`queue-timeot`") && err.contains(file.to_str().unwrap()),
        "{err}"
    );
}

#[tokio::test]
async fn devnet_binary_serves_requests_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "devnet",
            "--ml-nodes",
            "2",
            "--public-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--poc-listen",
            "127.0.0.1:0",
            "--health-interval",
            "200ms",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut public, mut admin) = (None, None);
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let url = |l: &str| {
                l.split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned)
            };
            if line.contains("OpenAI API:") {
                public = url(&line);
            } else if line.contains("admin API:") {
                admin = url(&line);
            } else if line.starts_with("try:") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("devnet printed its URLs");
    let public = public.expect("public URL printed");
    let admin = admin.expect("admin URL printed");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let resp = http
        .post(format!("{public}/chat/completions"))
        .json(&serde_json::json!({
            "model": "Qwen/Qwen3-32B-FP8",
            "messages": [{"role": "user", "content": "hello"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(!body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    let nodes: Value = http.get(&admin).send().await.unwrap().json().await.unwrap();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes
        .iter()
        .all(|n| n["state"]["current_status"] == "INFERENCE"));

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[path = "common/fake_mlnode.rs"]
#[allow(dead_code)]
mod fake_mlnode;
#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_binary_with_a_sqlite_registry_routes_to_a_node_registered_through_admin() {
    let node =
        fake_mlnode::FakeMlNode::start(fake_mlnode::FakeOptions::serving("Qwen/Qwen3-32B-FP8"));
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let gateway = GatewayProcess::spawn(&db, &["--health-interval", "100ms"]).await;
    let (public, admin) = (gateway.public.clone(), gateway.admin.clone());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .post(format!("{admin}/admin/v1/nodes"))
        .json(&node.config("n1", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let chat = serde_json::json!({
        "model": "Qwen/Qwen3-32B-FP8",
        "messages": [{"role": "user", "content": "hello"}]
    });
    let mut served = false;
    for _ in 0..100 {
        let resp = http
            .post(format!("{public}/v1/chat/completions"))
            .json(&chat)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the registered node became routable");
    assert!(node.state.received() >= 1);

    gateway.terminate().await;
}

/// The binary re-executes itself once with `MIMALLOC_ARENA_EAGER_COMMIT=0` (mimalloc reads it
/// before `main`; it makes freed memory go back to the system), keeping its process id; an
/// operator's own value is left as it is.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_runs_with_its_allocator_setting_unless_the_operator_chose_one() {
    fn environ(gateway: &GatewayProcess) -> Vec<String> {
        let pid = gateway.child.id().unwrap();
        std::fs::read(format!("/proc/{pid}/environ"))
            .unwrap()
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
    let gateway = GatewayProcess::spawn("memory:", &[]).await;
    let env = environ(&gateway);
    assert!(
        env.iter().any(|v| v == "MIMALLOC_ARENA_EAGER_COMMIT=0"),
        "{env:?}"
    );
    // Re-executed through /proc/self/exe, it still goes by its name in ps, top and pgrep.
    let pid = gateway.child.id().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "gonka-gateway");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let live = http
        .get(format!("{}/livez", gateway.public))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    gateway.terminate().await;

    let gateway =
        GatewayProcess::spawn_with_env("memory:", &[], &[("MIMALLOC_ARENA_EAGER_COMMIT", "2")])
            .await;
    let env = environ(&gateway);
    assert!(
        env.iter().any(|v| v == "MIMALLOC_ARENA_EAGER_COMMIT=2")
            && !env.iter().any(|v| v == "MIMALLOC_ARENA_EAGER_COMMIT=0"),
        "{env:?}"
    );
    gateway.terminate().await;
}
