//! Devnet on real engines: the gateway with 2 `gonka-mlnode` agents, each supervising a real
//! llama.cpp `llama-server` (path in `LLAMA_SERVER`, built by scripts/llama-server.sh) on a tiny
//! random model. The openai Python SDK streams through the gateway (needs `GONKA_PYTHON` too),
//! and a client that disconnects mid-stream frees the engine's slot (seen in llama-server's own
//! `/slots` and `/metrics`). Without `LLAMA_SERVER` each test prints a skip line and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::client;
use futures::StreamExt;
use gonka_gateway::devnet::{self, DevnetConfig, DevnetEngine, LlamacppEngine};
use gonka_gateway::Listeners;
use gonka_mlnode::gguf::TinyLlama;
use serde_json::{json, Value};

/// What the default tiny model (`TinyLlama::default()`, the one devnet generates) answers to
/// "Hello!" with `temperature: 0, max_tokens: 12`; obtained by running the request once against
/// llama-server 11434 (also asserted in gonka-mlnode/tests/llamacpp_engine.rs).
const EXPECTED_HELLO: &str = " unti6 yesterd simp network personal mac fir unt fire forei morn";

fn llama_server() -> Option<PathBuf> {
    match std::env::var("LLAMA_SERVER") {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            println!("skipped: LLAMA_SERVER unset (run scripts/llama-server.sh)");
            None
        }
    }
}

async fn start_devnet(engine: LlamacppEngine) -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: 2,
        max_concurrent: 4,
        ready_timeout: Duration::from_secs(60),
        engine: DevnetEngine::Llamacpp(engine),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    devnet::start(config, listeners).await.unwrap()
}

/// The base URL of every node's llama-server, from the agents' state reports.
async fn engine_urls(net: &devnet::Devnet) -> Vec<String> {
    let mut urls = Vec::new();
    for n in &net.nodes {
        let state: Value = client()
            .get(format!("http://{}/api/v1/state", n.mgmt_addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["engine"], "llamacpp", "{state}");
        urls.push(
            state["replicas"][0]["base_url"]
                .as_str()
                .expect("a ready engine has a base_url")
                .to_owned(),
        );
    }
    urls
}

async fn slots_processing(url: &str) -> usize {
    let slots: Value = client()
        .get(format!("{url}/slots"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    slots
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["is_processing"] == true)
        .count()
}

/// A counter of llama-server's Prometheus text (`--metrics`).
async fn metric(url: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openai_sdk_streams_exact_greedy_text_through_the_gateway_from_llama_server_nodes() {
    let Some(server) = llama_server() else { return };
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    // No model file: devnet writes the tiny model into its data directory.
    let mut engine = LlamacppEngine::new(server);
    engine.args = vec!["-t".into(), "1".into()];
    let net = start_devnet(engine).await;
    assert!(net.data_dir.join("tiny-random-llama.gguf").is_file());
    assert!(net.summary().contains("2 llama.cpp ML node(s)"));
    assert_eq!(engine_urls(&net).await.len(), 2);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/llamacpp_stream.py"
    );
    let base_url = format!("http://{}/v1", net.gateway.public_addr);
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .args([script, &base_url, devnet::DEFAULT_MODEL])
            .env("NO_PROXY", "127.0.0.1,localhost")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python script finished within 120 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "script failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["models"], json!([devnet::DEFAULT_MODEL]), "{report}");
    assert_eq!(report["text"], EXPECTED_HELLO, "{report}");
    assert_eq!(report["finish_reason"], "length");
    assert_eq!(report["completion_tokens"], 12);
    let pieces: Vec<String> = serde_json::from_value(report["stream_pieces"].clone()).unwrap();
    assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), EXPECTED_HELLO, "streamed == non-streamed");
    assert_eq!(report["stream_finish_reason"], "length");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_disconnect_mid_stream_frees_the_llama_server_slot() {
    let Some(server) = llama_server() else { return };
    // A 32k-token context per slot: a generation left running would take many seconds to fill
    // it, so a slot freed at once and a small token count show the cancel reached the engine.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("long-context.gguf");
    TinyLlama {
        context: 32768,
        ..TinyLlama::default()
    }
    .write_to(&model)
    .unwrap();
    let engine = LlamacppEngine {
        server,
        model_file: Some(model),
        args: ["-c", "65536", "-np", "2", "-t", "1"]
            .map(str::to_owned)
            .to_vec(),
    };
    let net = start_devnet(engine).await;
    let engines = engine_urls(&net).await;

    let max_tokens = 30_000;
    let resp = client()
        .post(format!(
            "http://{}/v1/chat/completions",
            net.gateway.public_addr
        ))
        .json(&json!({
            "model": devnet::DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "Tell me a very long story."}],
            "max_tokens": max_tokens,
            "stream": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut received = 0;
    while received < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("a chunk within 10 s")
            .expect("the stream is still open")
            .unwrap();
        received += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let mut busy = 0;
    for url in &engines {
        busy += slots_processing(url).await;
    }
    assert_eq!(
        busy, 1,
        "one llama-server slot generates while the client reads"
    );

    drop(body);
    let mut freed = false;
    for _ in 0..200 {
        let mut busy = 0;
        for url in &engines {
            busy += slots_processing(url).await;
        }
        if busy == 0 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(freed, "a slot kept generating after the client went away");
    let mut predicted = 0.0;
    for url in &engines {
        assert_eq!(metric(url, "llamacpp:requests_processing").await, 0.0);
        predicted += metric(url, "llamacpp:tokens_predicted_total").await;
    }
    assert!(
        predicted < f64::from(max_tokens) / 4.0,
        "generation stopped early: {predicted} of {max_tokens} tokens"
    );
    net.shutdown().await;
}

/// The address after `label` in the devnet summary (`http://ADDR...`).
fn addr_after(summary: &str, label: &str) -> String {
    let rest = &summary[summary
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {summary}"))..];
    let url = &rest[rest.find("http://").unwrap() + 7..];
    url.split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_binary_with_engine_llamacpp_serves_and_sigterm_leaves_no_engine() {
    use tokio::io::AsyncBufReadExt;
    let Some(server) = llama_server() else { return };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-gateway"))
        .args([
            "--public-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--poc-listen",
            "127.0.0.1:0",
            "devnet",
            "--engine",
            "llamacpp",
            "--ml-nodes",
            "1",
            "--engine-arg=-t",
            "--engine-arg=1",
        ])
        .env("GONKA_DEVNET_LLAMA_SERVER", &server)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut summary = String::new();
    while !summary.contains("try:") {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("devnet summary within 60 s")
            .unwrap()
            .expect("devnet exited before it was ready");
        summary.push_str(&line);
        summary.push('\n');
    }
    assert!(summary.contains("1 llama.cpp ML node(s)"), "{summary}");
    let public = addr_after(&summary, "OpenAI API:");
    let mgmt = addr_after(&summary, "devnet-0: management");

    let answer: Value = client()
        .post(format!("http://{public}/v1/chat/completions"))
        .json(&json!({
            "model": devnet::DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 12,
            "temperature": 0,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], EXPECTED_HELLO);
    let state: Value = client()
        .get(format!("http://{mgmt}/api/v1/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = state["pid"].as_u64().expect("the engine's pid");
    assert!(alive(pid));

    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("devnet exits within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!alive(pid), "llama-server {pid} outlived devnet");
}
