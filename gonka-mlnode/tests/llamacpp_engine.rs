//! The ML node agent driving the real llama.cpp `llama-server` (path in `LLAMA_SERVER`, built by
//! scripts/llama-server.sh) on a tiny random model the test writes: readiness (503 while loading
//! → 200), greedy completions with exact text through the inference proxy, down leaves no
//! process, SIGKILL → restart, and the start failures (missing model file, port in use) reported
//! with the engine's own words. Without `LLAMA_SERVER` each test prints a skip line and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod llamacpp_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{alive, eventually, sse_data, sse_text, Node};
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::gguf::TinyLlama;
use llamacpp_support::{
    engine_config, free_port, greedy_chat, llama_server, llamacpp_config, pid_of, tiny_model,
    up_body, EXPECTED_HELLO, FAST_ARGS, MODEL,
};
use serde_json::{json, Value};

async fn chat(node: &Node, body: &Value) -> reqwest::Response {
    node.client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn wait_up_finished(node: &Node) -> Value {
    eventually("up to finish", || async {
        let (_, s) = node.get("/api/v1/inference/up/status").await;
        (s["status"] != "in_progress").then_some(s)
    })
    .await
}

#[tokio::test]
async fn llamacpp_up_serves_exact_greedy_text_streamed_and_not_then_down_leaves_no_process() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(llamacpp_config(&server, &tiny_model(dir.path()))).await;
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    assert_eq!(status, 202);
    let state = node.wait_inference_healthy().await;
    assert_eq!(state["engine"], "llamacpp");
    assert_eq!(state["loaded_model"], MODEL);
    let pid = pid_of(&state);
    assert!(alive(pid));

    let models: Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        models["data"][0]["id"], MODEL,
        "llama-server reports the governance name given by --alias: {models}"
    );

    let resp = chat(&node, &greedy_chat(false, 12)).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, EXPECTED_HELLO, "{answer}");
    assert_eq!(answer["usage"]["completion_tokens"], 12, "{answer}");

    let resp = chat(&node, &greedy_chat(true, 12)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_data(&resp.text().await.unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(events.len() > 12, "one event per token: {events:?}");
    assert_eq!(
        sse_text(&events),
        text,
        "streamed text equals the non-streamed text"
    );

    // The legacy completions endpoint goes through the proxy too, streamed and not alike.
    let prompt =
        json!({"model": MODEL, "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0});
    let plain: Value = node
        .client
        .post(format!("{}/v1/completions", node.inference))
        .json(&prompt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut streamed_req = prompt.clone();
    streamed_req["stream"] = json!(true);
    let streamed = node
        .client
        .post(format!("{}/v1/completions", node.inference))
        .json(&streamed_req)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let plain_text = plain["choices"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{plain}"));
    assert!(!plain_text.is_empty(), "{plain}");
    assert_eq!(sse_text(&sse_data(&streamed)), plain_text);

    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    assert!(!alive(pid), "llama-server {pid} still alive after down");
    let state = node.state().await;
    assert_eq!(state["state"], "STOPPED");
    assert!(state["pid"].is_null(), "{state}");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn readiness_waits_for_200_while_llama_server_answers_503_loading() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Big enough that loading (weights + a 64k-token KV cache) takes a few hundred ms, so
    // llama-server is seen answering 503 "Loading model"; 20 MB, written in about a second.
    let path = dir.path().join("loading.gguf");
    TinyLlama {
        layers: 4,
        dim: 256,
        heads: 8,
        ff: 1024,
        context: 65536,
        ..TinyLlama::default()
    }
    .write_to(&path)
    .unwrap();
    let port = free_port();
    let mut config = llamacpp_config(&server, &path);
    config.engine_port_base = port;
    let node = Node::start(config).await;
    let (status, _) = node
        .post(
            "/api/v1/inference/up?wait=false",
            up_body(&["-c", "65536", "-np", "1", "-t", "1"]),
        )
        .await;
    assert_eq!(status, 202);

    // Read the agent's state first, then the engine's own /health: an agent that reports ready
    // while the engine still answers 503 stopped waiting for 200.
    let engine_health = format!("http://127.0.0.1:{port}/health");
    let mut seen_503_while_starting = 0;
    let mut ready = false;
    for _ in 0..3000 {
        let state = node.state().await;
        let engine = node
            .client
            .get(&engine_health)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        let agent_ready = state["inference_healthy"] == true;
        if agent_ready {
            assert_eq!(
                engine,
                Some(200),
                "the agent reported ready while llama-server answered {engine:?}: {state}"
            );
            ready = true;
            break;
        }
        if engine == Some(503) {
            assert_eq!(state["replicas"][0]["health"], "starting", "{state}");
            seen_503_while_starting += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(ready, "the agent never reported the engine ready");
    assert!(
        seen_503_while_starting > 0,
        "llama-server never answered 503 while loading: the model loads too fast to show it"
    );
    let resp = chat(&node, &greedy_chat(false, 4)).await;
    assert_eq!(resp.status(), 200);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn sigkill_of_llama_server_is_restarted_and_state_shows_the_failure() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(llamacpp_config(&server, &tiny_model(dir.path()))).await;
    node.post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    let first = pid_of(&node.wait_inference_healthy().await);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let state = node
        .wait_state("a restarted llama-server", |s| {
            s["inference_healthy"] == true
                && s["replicas"][0]["restarts"].as_u64() >= Some(1)
                && s["pid"].as_u64().is_some_and(|p| p != u64::from(first))
        })
        .await;
    let reason = state["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("signal: 9"),
        "state names the kill: {state}"
    );
    assert_eq!(state["state"], "INFERENCE");
    let second = pid_of(&state);
    assert!(!alive(first));

    let resp = chat(&node, &greedy_chat(false, 12)).await;
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"], EXPECTED_HELLO,
        "the restarted engine serves the same model"
    );
    node.stop().await.unwrap();
    assert!(!alive(second), "llama-server {second} outlived the agent");
}

#[tokio::test]
async fn missing_model_file_fails_the_up_with_llama_servers_own_error_line() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.gguf");
    let node = Node::start(engine_config(
        EngineKind::Llamacpp,
        &server,
        BTreeMap::from([(MODEL.to_owned(), absent)]),
    ))
    .await;
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    assert_eq!(status, 202);
    let up = wait_up_finished(&node).await;
    assert_eq!(up["status"], "failed", "{up}");
    let error = up["error"].as_str().unwrap();
    assert!(
        error.contains("exiting due to model loading error"),
        "llama-server's own line is in the reason: {error}"
    );
    let state = node.state().await;
    assert_eq!(state["inference_healthy"], false);
    assert_eq!(state["up_status"], "failed", "{state}");
    assert!(state["pid"].is_null(), "no engine process is left: {state}");
    assert_eq!(state["last_error"].as_str(), Some(error), "{state}");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_port_in_use_fails_the_up_with_a_reason_naming_the_port() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let occupied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = occupied.local_addr().unwrap().port();
    let mut config = llamacpp_config(&server, &tiny_model(dir.path()));
    config.engine_port_base = port;
    let node = Node::start(config).await;
    node.post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    let up = wait_up_finished(&node).await;
    assert_eq!(up["status"], "failed", "{up}");
    let error = up["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("port {port}")) && error.contains("in use"),
        "the reason names the busy port: {error}"
    );
    assert!(error.contains("exited"), "{error}");
    node.stop().await.unwrap();
    drop(occupied);
}

#[tokio::test]
async fn tiny_model_subcommand_writes_a_model_that_llama_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cli-tiny.gguf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .arg("tiny-model")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("--model-file NAME="));
    let mut expected = Vec::new();
    TinyLlama::default()
        .build()
        .unwrap()
        .write(&mut expected)
        .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected,
        "seed 0 is the default model"
    );

    let Some(server) = llama_server() else { return };
    let node = Node::start(llamacpp_config(&server, &path)).await;
    node.post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    node.wait_inference_healthy().await;
    let answer: Value = chat(&node, &greedy_chat(false, 12))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], EXPECTED_HELLO);
    node.stop().await.unwrap();
}

#[test]
fn tiny_model_subcommand_names_an_unwritable_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args(["tiny-model", "/nonexistent-dir/x.gguf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent-dir/x.gguf"), "{stderr}");
}

/// llama-server closes its connection after a streamed answer without `Connection: close`; the
/// proxy must not reuse that connection for the next request.
#[tokio::test]
async fn requests_right_after_a_streamed_answer_reach_the_engine() {
    let Some(server) = llama_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(llamacpp_config(&server, &tiny_model(dir.path()))).await;
    node.post("/api/v1/inference/up?wait=false", up_body(FAST_ARGS))
        .await;
    node.wait_inference_healthy().await;
    for round in 0..5 {
        let streamed = chat(&node, &greedy_chat(true, 4)).await;
        assert_eq!(streamed.status(), 200);
        streamed.text().await.unwrap();
        let resp = chat(&node, &greedy_chat(false, 4)).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 200, "round {round}: {body}");
    }
    node.stop().await.unwrap();
}
