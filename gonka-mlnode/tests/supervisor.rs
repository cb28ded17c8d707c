//! Supervision of real engine processes, with the fake engine script standing in for vLLM,
//! SGLang and llama-server: readiness, crash → restart with backoff → give-up with the reason,
//! clean stop that leaves no process behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{alive, eventually, fake_engine_config, sse_data, sse_text, Node};
use gonka_mlnode::engine::EngineKind;
use serde_json::{json, Value};

fn up(model: &str, args: &[&str]) -> Value {
    json!({"model": model, "dtype": "auto", "additional_args": args})
}

async fn wait_up_finished(node: &Node) -> Value {
    eventually("up to finish", || async {
        let (_, s) = node.get("/api/v1/inference/up/status").await;
        (s["status"] != "in_progress").then_some(s)
    })
    .await
}

fn pid_of(state: &Value) -> u32 {
    u32::try_from(state["pid"].as_u64().expect("state has a pid")).unwrap()
}

#[tokio::test]
async fn fake_vllm_serves_through_the_proxy_and_down_leaves_no_process() {
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up("Qwen/QwQ-32B", &[]))
        .await;
    assert_eq!(status, 202);
    let state = node.wait_inference_healthy().await;
    assert_eq!(state["engine"], "vllm");
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
        models["data"][0]["id"], "Qwen/QwQ-32B",
        "vllm serve MODEL reached the engine"
    );
    let body = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": "Qwen/QwQ-32B", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_data(&body);
    assert_eq!(sse_text(&events), "fakeenginesayshello");
    assert_eq!(events.last().unwrap(), "[DONE]");

    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    assert!(!alive(pid), "engine process {pid} still alive after down");
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn start_failure_reports_the_engines_own_error_line() {
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    let args = [
        "--fake-fail-start",
        "ValueError: model xyz is not supported",
    ];
    node.post("/api/v1/inference/up?wait=false", up("xyz", &args))
        .await;
    let status = wait_up_finished(&node).await;
    assert_eq!(status["status"], "failed");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("ValueError: model xyz is not supported"),
        "{error}"
    );
    assert!(error.contains("exit status: 1"), "{error}");
    let state = node.state().await;
    assert_eq!(state["state"], "STOPPED");
    assert!(state["last_error"].as_str().unwrap().contains("ValueError"));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn missing_engine_executable_fails_the_up_with_the_command_name() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.engine_cmd = Some("/nonexistent/bin/vllm".into());
    let node = Node::start(config).await;
    node.post("/api/v1/inference/up?wait=false", up("m", &[]))
        .await;
    let status = wait_up_finished(&node).await;
    assert_eq!(status["status"], "failed");
    assert!(status["error"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/bin/vllm"));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn crashed_engine_is_restarted_and_state_shows_why() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("crashed-once");
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        up("m", &["--fake-crash-once", marker.to_str().unwrap()]),
    )
    .await;
    let first = node.wait_inference_healthy().await;
    let first_pid = pid_of(&first);
    let state = node
        .wait_state("a restarted, ready engine", |s| {
            s["replicas"][0]["restarts"] == 1 && s["replicas"][0]["health"] == "ready"
        })
        .await;
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["inference_healthy"], true);
    assert_ne!(pid_of(&state), first_pid);
    assert!(!alive(first_pid));
    let reason = state["last_error"].as_str().unwrap();
    assert!(
        reason.contains("worker died") && reason.contains("exit status: 3"),
        "{reason}"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn crash_loop_backs_off_then_gives_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.backoff.max_failures = 3;
    let node = Node::start(config).await;
    let args = [
        "--fake-crash-after",
        "0.2",
        "--fake-pid-log",
        pids.to_str().unwrap(),
    ];
    node.post("/api/v1/inference/up?wait=false", up("m", &args))
        .await;
    let state = node
        .wait_state("the engine given up", |s| {
            s["replicas"][0]["health"] == "failed"
        })
        .await;
    let reason = state["last_error"].as_str().unwrap();
    assert!(reason.contains("giving up"), "{reason}");
    assert!(reason.contains("out of memory"), "{reason}");
    assert_eq!(state["replicas"][0]["restarts"], 2);
    assert_eq!(state["state"], "STOPPED");
    assert_eq!(state["inference_healthy"], false);
    assert_eq!(state["up_status"], "failed");
    let (_, up_status) = node.get("/api/v1/inference/up/status").await;
    assert_eq!(up_status["status"], "failed");
    assert!(
        up_status["error"].as_str().unwrap().contains("giving up"),
        "{up_status}"
    );
    let started: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(started.len(), 3, "one start and two restarts");
    assert!(started.iter().all(|p| !alive(*p)));
    // The network node's next up brings the model back (here: it crash-loops again).
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up("m", &args))
        .await;
    assert_eq!(status, 202);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_ignoring_sigterm_is_killed_after_the_grace_period() {
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.grace_period = Duration::from_millis(300);
    let node = Node::start(config).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        up("m", &["--fake-ignore-sigterm"]),
    )
    .await;
    let pid = pid_of(&node.wait_inference_healthy().await);
    let (status, _) = node.post("/api/v1/stop", json!({})).await;
    assert_eq!(status, 200);
    assert!(!alive(pid));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn stop_kills_the_engines_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let child_file = dir.path().join("child.pid");
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        up(
            "m",
            &["--fake-child-pid-file", child_file.to_str().unwrap()],
        ),
    )
    .await;
    node.wait_inference_healthy().await;
    let grandchild: u32 = std::fs::read_to_string(&child_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(grandchild));
    node.post("/api/v1/inference/down", json!({})).await;
    eventually("the engine's own child to be gone", || async {
        (!alive(grandchild)).then_some(())
    })
    .await;
    node.stop().await.unwrap();
}

#[tokio::test]
async fn shutting_down_run_stops_child_engines() {
    let config = gonka_mlnode::MlNodeConfig {
        model: Some("m".into()),
        ..fake_engine_config(EngineKind::Sglang)
    };
    let node = Node::start(config).await;
    let pid = pid_of(&node.wait_inference_healthy().await);
    node.stop().await.unwrap();
    assert!(!alive(pid), "engine {pid} outlived run()");
}

#[tokio::test]
async fn sglang_command_line_reaches_the_engine() {
    let node = Node::start(fake_engine_config(EngineKind::Sglang)).await;
    node.post("/api/v1/inference/up?wait=false", up("Qwen/Qwen3-8B", &[]))
        .await;
    node.wait_inference_healthy().await;
    let models: Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "Qwen/Qwen3-8B");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn llamacpp_uses_the_models_gguf_file_and_alias() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    std::fs::write(&gguf, b"GGUF").unwrap();
    let mut config = fake_engine_config(EngineKind::Llamacpp);
    config.model_files.insert("tiny-llama".into(), gguf);
    let node = Node::start(config).await;
    let (status, body) = node
        .post("/api/v1/inference/up?wait=false", up("unknown-model", &[]))
        .await;
    assert_eq!(
        status, 400,
        "a model without a GGUF file is refused: {body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("--model-file"));
    node.post("/api/v1/inference/up?wait=false", up("tiny-llama", &[]))
        .await;
    node.wait_inference_healthy().await;
    let models: Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "tiny-llama");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_still_loading_keeps_the_up_in_progress_until_health_is_200() {
    let node = Node::start(fake_engine_config(EngineKind::Llamacpp)).await;
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("m.gguf");
    std::fs::write(&gguf, b"GGUF").unwrap();
    node.post(
        "/api/v1/inference/up?wait=false",
        up(gguf.to_str().unwrap(), &["--fake-load-seconds", "0.5"]),
    )
    .await;
    let status = wait_up_finished(&node).await;
    assert_eq!(status["status"], "completed");
    assert!(status["elapsed_seconds"].as_f64().unwrap() >= 0.5);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_not_ready_before_the_startup_timeout_fails_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.startup_timeout = Duration::from_millis(700);
    let node = Node::start(config).await;
    let args = [
        "--fake-load-seconds",
        "60",
        "--fake-pid-log",
        pids.to_str().unwrap(),
    ];
    node.post("/api/v1/inference/up?wait=false", up("m", &args))
        .await;
    let status = wait_up_finished(&node).await;
    assert_eq!(status["status"], "failed");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("not ready after"),
        "{status}"
    );
    let pid: u32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_output_goes_to_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.log_dir = Some(dir.path().to_path_buf());
    let node = Node::start(config).await;
    node.post("/api/v1/inference/up?wait=false", up("logged-model", &[]))
        .await;
    node.wait_inference_healthy().await;
    let log = dir.path().join("engine-vllm-0.log");
    let text = eventually("the engine's start line in the log", || async {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("fake engine ready"))
    })
    .await;
    assert!(text.contains("model=logged-model"), "{text}");
    let (status, logs) = node.get("/api/v1/inference/logs").await;
    assert_eq!(status, 200);
    let lines = logs["replicas"][0]["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("model=logged-model")),
        "{logs}"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn crash_requested_over_http_is_detected_and_restarted() {
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    node.post("/api/v1/inference/up?wait=false", up("m", &[]))
        .await;
    let state = node.wait_inference_healthy().await;
    let base = state["replicas"][0]["base_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = node
        .client
        .post(format!("{base}/crash"))
        .json(&json!({}))
        .send()
        .await;
    let state = node
        .wait_state("restart after /crash", |s| {
            s["replicas"][0]["restarts"] == 1 && s["inference_healthy"] == true
        })
        .await;
    assert!(
        state["last_error"].as_str().unwrap().contains("CUDA error"),
        "{state}"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn engine_that_stops_answering_health_is_restarted() {
    let node = Node::start(fake_engine_config(EngineKind::Vllm)).await;
    node.post("/api/v1/inference/up?wait=false", up("m", &[]))
        .await;
    let state = node.wait_inference_healthy().await;
    let sick_pid = pid_of(&state);
    let base = state["replicas"][0]["base_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = node
        .client
        .post(format!("{base}/sick"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state = node
        .wait_state("restart of the unhealthy engine", |s| {
            s["replicas"][0]["restarts"] == 1 && s["inference_healthy"] == true
        })
        .await;
    assert!(
        state["last_error"]
            .as_str()
            .unwrap()
            .contains("health probe"),
        "{state}"
    );
    assert_ne!(pid_of(&state), sick_pid);
    assert!(!alive(sick_pid));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn healthy_running_resets_the_failure_count() {
    // reset_after = 0: every crash after a ready period starts the count again, so an engine
    // that always comes back ready is restarted indefinitely instead of being given up.
    let mut config = fake_engine_config(EngineKind::Vllm);
    config.backoff.max_failures = 2;
    config.backoff.reset_after = Duration::ZERO;
    let node = Node::start(config).await;
    node.post(
        "/api/v1/inference/up?wait=false",
        up("m", &["--fake-crash-after", "0.1"]),
    )
    .await;
    let state = node
        .wait_state("three restarts", |s| {
            s["replicas"][0]["restarts"].as_u64() >= Some(3)
        })
        .await;
    assert_ne!(state["replicas"][0]["health"], "failed", "{state}");
    assert_eq!(state["state"], "INFERENCE");
    node.stop().await.unwrap();
}
