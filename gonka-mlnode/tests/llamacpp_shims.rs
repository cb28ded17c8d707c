//! The vLLM and SGLang command lines the ML node builds, run for real: shims in
//! tests/fixtures/shims parse them like the engines' own argument parsers (an unknown flag is an
//! error), map them to llama-server arguments and `exec` llama-server (path in `LLAMA_SERVER`),
//! so the code that launches, waits for (health then models) and stops those engines is driven
//! by a real server whose PID is the engine's. Without `LLAMA_SERVER` each test prints a skip
//! line and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod llamacpp_support;

use std::collections::BTreeMap;
use std::path::Path;

use common::{alive, eventually, Node};
use gonka_mlnode::engine::EngineKind;
use llamacpp_support::{engine_config, greedy_chat, llama_server, pid_of, tiny_model};
use serde_json::{json, Value};

fn shim(name: &str) -> String {
    format!("{}/tests/fixtures/shims/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An ML node whose `kind` launcher is the shim `name`, exec'ing `server` on `model`.
async fn shim_node(kind: EngineKind, name: &str, server: &str, model: &Path) -> Node {
    let launcher = format!(
        "{} --llama-server {server} --gguf {}",
        shim(name),
        model.display()
    );
    Node::start(engine_config(kind, &launcher, BTreeMap::new())).await
}

/// The command line of a live process, arguments separated by spaces.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Brings `model` up with `dtype` and `args`, checks that the engine process is llama-server
/// itself (the shim exec'd), that it got `expect_args`, serves `model` by name and answers the
/// greedy request exactly; then down leaves no process.
async fn serves_through_the_shim(
    node: Node,
    model: &str,
    dtype: &str,
    args: &[&str],
    expect_args: &str,
) {
    let (status, _) = node
        .post(
            "/api/v1/inference/up?wait=false",
            json!({"model": model, "dtype": dtype, "additional_args": args}),
        )
        .await;
    assert_eq!(status, 202);
    let state = node.wait_inference_healthy().await;
    let pid = pid_of(&state);
    let server = std::fs::canonicalize(llama_server().unwrap()).unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        server,
        "the engine PID is llama-server's (the shim exec'd it)"
    );
    let line = cmdline(pid);
    assert!(line.contains(expect_args), "{line}");
    assert!(line.contains(&format!("--alias {model}")), "{line}");

    let models: Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], model, "{models}");
    let mut request = greedy_chat(false, 12);
    request["model"] = json!(model);
    let answer: Value = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        llamacpp_support::EXPECTED_HELLO,
        "{answer}"
    );

    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    assert!(!alive(pid), "engine {pid} still alive after down");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn vllm_command_line_starts_a_real_server_through_the_shim() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = shim_node(EngineKind::Vllm, "vllm", &server, &tiny_model(dir.path())).await;
    serves_through_the_shim(
        node,
        "Qwen/QwQ-32B",
        "bfloat16",
        &["--max-model-len", "2048", "--tensor-parallel-size", "1"],
        "-c 2048",
    )
    .await;
}

#[tokio::test]
async fn sglang_command_line_starts_a_real_server_through_the_shim() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = shim_node(
        EngineKind::Sglang,
        "sglang_launch_server",
        &server,
        &tiny_model(dir.path()),
    )
    .await;
    serves_through_the_shim(
        node,
        "Qwen/Qwen2.5-7B-Instruct",
        "float16",
        &[
            "--context-length",
            "2048",
            "--max-running-requests",
            "2",
            "--tp",
            "1",
        ],
        "-c 2048 -np 2",
    )
    .await;
}

#[tokio::test]
async fn vllm_rejecting_an_argument_fails_the_up_with_its_parser_message() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = shim_node(EngineKind::Vllm, "vllm", &server, &tiny_model(dir.path())).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        json!({"model": "Qwen/QwQ-32B", "dtype": "auto", "additional_args": ["--no-such-flag"]}),
    )
    .await;
    let up = eventually("up to finish", || async {
        let (_, s) = node.get("/api/v1/inference/up/status").await;
        (s["status"] != "in_progress").then_some(s)
    })
    .await;
    assert_eq!(up["status"], "failed", "{up}");
    let error = up["error"].as_str().unwrap();
    assert!(
        error.contains("unrecognized arguments: --no-such-flag")
            && error.contains("exit status: 2"),
        "{error}"
    );
    node.stop().await.unwrap();
}
