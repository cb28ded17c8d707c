//! The real `gonka-gateway` binary started the way upstream's network node is: `DAPI_*`
//! variables and `NODE_CONFIG_PATH` pointing at upstream's node-config.json. The file is merged
//! into the registry at the first start and never again: a restart keeps what the operator
//! changed through the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::{GatewayProcess, BIN};

/// Upstream's node-config.json fixture, with every node on loopback ports nothing listens on
/// (1–4: connections are refused at once), so the broker's calls stay on this machine.
fn node_config_on_loopback(dir: &Path, max_concurrent_a: u64) -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gonka-core/tests/fixtures/upstream/config/node-config.json");
    let mut nodes: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    for (i, n) in nodes.as_array_mut().unwrap().iter_mut().enumerate() {
        let port = 1 + 2 * i as u64;
        n["host"] = "127.0.0.1".into();
        n["inference_port"] = port.into();
        n["poc_port"] = (port + 1).into();
    }
    nodes[0]["max_concurrent"] = max_concurrent_a.into();
    let path = dir.join("node_config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&nodes).unwrap()).unwrap();
    path
}

async fn nodes(http: &reqwest::Client, admin: &str) -> Vec<Value> {
    let resp = http
        .get(format!("{admin}/admin/v1/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let records: Vec<Value> = resp.json().await.unwrap();
    records.into_iter().map(|r| r["node"].clone()).collect()
}

fn ids(nodes: &[Value]) -> Vec<&str> {
    nodes.iter().map(|n| n["id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_env_and_node_config_are_imported_once_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let file = node_config_on_loopback(dir.path(), 400);
    let file_str = file.to_str().unwrap();
    // As upstream's deploy/join/docker-compose.yml sets them. The listen ports are overridden by
    // the flags GatewayProcess passes (flags win), so nothing listens beyond loopback.
    let env = [
        ("NODE_CONFIG_PATH", file_str),
        ("DAPI_API__PUBLIC_SERVER_PORT", "9000"),
        ("DAPI_API__ML_SERVER_PORT", "9100"),
        ("DAPI_API__ADMIN_SERVER_PORT", "9200"),
        ("DAPI_API__POC_CALLBACK_URL", "http://127.0.0.1:9100"),
        ("DAPI_CHAIN_NODE__URL", "http://127.0.0.1:26657"),
    ];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let first = GatewayProcess::spawn_with_env(&db, &[], &env).await;
    let admin = first.admin.clone();
    let imported = nodes(&http, &admin).await;
    assert_eq!(ids(&imported), ["gpu-a", "gpu-b"], "{imported:#?}");
    let a = &imported[0];
    assert_eq!(a["max_concurrent"], 400);
    assert_eq!(a["hardware"][0]["count"], 8);
    assert_eq!(
        a["models"]["Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"]["args"][0],
        "--tensor-parallel-size"
    );
    // The operator changes one node and deletes the other through the admin API.
    let mut changed = a.clone();
    changed["max_concurrent"] = 7.into();
    let resp = http
        .put(format!("{admin}/admin/v1/nodes/gpu-a"))
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .delete(format!("{admin}/admin/v1/nodes/gpu-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    first.terminate().await;

    // The file is edited too; the restarted gateway leaves the registry alone.
    node_config_on_loopback(dir.path(), 999);
    let second = GatewayProcess::spawn_with_env(&db, &[], &env).await;
    let after = nodes(&http, &second.admin).await;
    assert_eq!(ids(&after), ["gpu-a"], "a deleted node was imported again");
    assert_eq!(
        after[0]["max_concurrent"], 7,
        "the operator's change was overwritten"
    );
    second.terminate().await;
}

#[tokio::test]
async fn a_malformed_node_config_stops_the_start_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let file = dir.path().join("node_config.json");
    std::fs::write(
        &file,
        r#"[{"id": "n1", "host": "127.0.0.1", "inference_port": 1, "poc_port": "two",
             "max_concurrent": 4, "models": {"Qwen/QwQ-32B": {"args": []}}}]"#,
    )
    .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["--database", &db])
            .args(["--public-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(["--poc-listen", "127.0.0.1:0"])
            .env("NODE_CONFIG_PATH", &file)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("gonka-gateway exits within 30 s")
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("node_config.json") && stderr.contains("`poc_port`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_upstream_port_variable_that_is_not_a_port_is_refused_by_name() {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["--database", "memory:"])
            .env("DAPI_API__ADMIN_SERVER_PORT", "admin")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("gonka-gateway exits within 30 s")
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DAPI_API__ADMIN_SERVER_PORT") && stderr.contains("--admin-listen"),
        "{stderr}"
    );
}
