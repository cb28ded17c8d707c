//! The management API over real HTTP: every call, the STOPPED → INFERENCE → STOPPED
//! transitions, conflicts, bad requests and the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Node;
use gonka_mlnode::MlNodeConfig;
use serde_json::json;

fn up_body(model: &str) -> serde_json::Value {
    json!({"model": model, "dtype": "auto", "additional_args": ["--max-model-len", "4096"]})
}

#[tokio::test]
async fn health_probes_answer_200() {
    let node = Node::start(MlNodeConfig::default()).await;
    for path in ["/health", "/livez", "/readyz"] {
        let (status, _) = node.get(path).await;
        assert_eq!(status, 200, "{path}");
    }
    node.stop().await.unwrap();
}

#[tokio::test]
async fn health_has_upstreams_shape_and_readyz_waits_for_the_engine() {
    let config = MlNodeConfig {
        simulator: gonka_mlnode::simulator::SimulatorConfig {
            load_time: std::time::Duration::from_millis(1500),
            ..Default::default()
        },
        ..MlNodeConfig::default()
    };
    let node = Node::start(config).await;
    let (_, health) = node.get("/health").await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service_state"], "STOPPED");
    assert!(health["gpu"]["available"].is_boolean());
    assert_eq!(
        health["gpu"]["count"].as_u64().unwrap() as usize,
        health["gpu"]["devices"].as_array().unwrap().len()
    );
    for manager in ["pow", "inference", "train"] {
        assert_eq!(
            health["managers"][manager],
            json!({"running": false, "healthy": true}),
            "{manager}"
        );
    }
    assert_eq!(
        node.get("/readyz").await,
        (200, json!({"ready": true, "reason": "idle"}))
    );

    // While the engine loads: healthy (not failed), not ready.
    let (status, _) = node
        .post("/api/v1/inference/up?wait=false", up_body("Qwen/QwQ-32B"))
        .await;
    assert_eq!(status, 202);
    node.wait_state("loading", |s| s["state"] == "INFERENCE")
        .await;
    let (code, health) = node.get("/health").await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["managers"]["inference"]["running"], true);
    // Liveness checks nothing but the process: a loading engine does not make it fail.
    assert_eq!(node.get("/livez").await, (200, json!({"status": "alive"})));
    let (code, ready) = node.get("/readyz").await;
    if node.state().await["inference_healthy"] == false {
        assert_eq!(
            (code, ready),
            (503, json!({"ready": false, "reason": "engine loading"}))
        );
    }
    node.wait_inference_healthy().await;
    assert_eq!(
        node.get("/readyz").await,
        (200, json!({"ready": true, "reason": "serving"}))
    );
    let (code, health) = node.get("/health").await;
    assert_eq!(code, 200);
    assert_eq!(health["service_state"], "INFERENCE");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn fresh_node_is_stopped_with_upstream_fields() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, state) = node.get("/api/v1/state").await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "STOPPED");
    assert_eq!(state["poc_status"], "IDLE");
    assert_eq!(state["inference_healthy"], false);
    assert_eq!(state["loaded_model"], serde_json::Value::Null);
    assert_eq!(state["engine"], "simulator");
    assert_eq!(state["version"], env!("CARGO_PKG_VERSION"));
    let (_, up) = node.get("/api/v1/inference/up/status").await;
    assert_eq!(up["status"], "not_started");
    assert_eq!(up["is_running"], false);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn up_with_wait_false_answers_at_once_then_state_goes_inference_and_down_returns_to_stopped()
{
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node
        .post(
            "/api/v1/inference/up?wait=false",
            up_body("Qwen/Qwen3-32B-FP8"),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body, json!({"status": "starting"}));

    let state = node.wait_inference_healthy().await;
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["loaded_model"], "Qwen/Qwen3-32B-FP8");
    assert_eq!(state["up_status"], "completed");
    assert!(state["uptime_s"].as_f64().unwrap() >= 0.0);
    let (_, up) = node.get("/api/v1/inference/up/status").await;
    assert_eq!(up["status"], "completed");
    assert_eq!(up["is_running"], true);
    assert_eq!(up["is_starting"], false);
    assert_eq!(up["error"], serde_json::Value::Null);

    let (status, body) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    let state = node.state().await;
    assert_eq!(state["state"], "STOPPED");
    assert_eq!(state["inference_healthy"], false);
    assert_eq!(state["replicas"], json!([]));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn up_for_another_model_while_running_is_409_with_detail_and_error() {
    let node = Node::start(MlNodeConfig::default()).await;
    node.post("/api/v1/inference/up", up_body("model-a")).await;
    node.wait_inference_healthy().await;
    let (status, body) = node.post("/api/v1/inference/up", up_body("model-b")).await;
    assert_eq!(status, 409);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("model-a") && detail.contains("model-b"),
        "{detail}"
    );
    assert_eq!(body["error"], body["detail"]);
    assert_eq!(node.state().await["loaded_model"], "model-a");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn up_for_the_same_model_while_running_is_idempotent() {
    let node = Node::start(MlNodeConfig::default()).await;
    node.post("/api/v1/inference/up", up_body("model-a")).await;
    let first = node.wait_inference_healthy().await;
    let base_url = first["replicas"][0]["base_url"].clone();
    let (status, body) = node.post("/api/v1/inference/up", up_body("model-a")).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    let (status, body) = node
        .post("/api/v1/inference/up/async", up_body("model-a"))
        .await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    // No restart: the same engine instance still serves.
    assert_eq!(node.state().await["replicas"][0]["base_url"], base_url);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn up_with_wait_blocks_until_up_like_upstream() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node
        .post("/api/v1/inference/up?wait=true", up_body("m"))
        .await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    assert_eq!(node.state().await["inference_healthy"], true);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn up_async_answers_starting() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node.post("/api/v1/inference/up/async", up_body("m")).await;
    // Upstream's answer: 200 with a message.
    assert_eq!(status, 200);
    assert_eq!(body["status"], "starting");
    assert!(body["message"].is_string(), "{body}");
    node.wait_inference_healthy().await;
    node.stop().await.unwrap();
}

#[tokio::test]
async fn bad_up_requests_are_400_naming_the_problem() {
    let node = Node::start(MlNodeConfig::default()).await;
    let cases = [
        (json!({"dtype": "auto"}), "model"),
        (json!({"model": ""}), "model"),
        (
            json!({"model": "m", "additional_args": "--x"}),
            "additional_args",
        ),
        (
            json!({"model": "m", "additional_args": ["--port", "1"]}),
            "--port",
        ),
        (json!({"model": "m", "dtype": "fp 16"}), "dtype"),
    ];
    for (body, needle) in cases {
        let (status, answer) = node.post("/api/v1/inference/up", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let r = node
        .client
        .post(format!("{}/api/v1/inference/up", node.mgmt))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn stop_returns_to_stopped_and_a_new_model_can_then_come_up() {
    let node = Node::start(MlNodeConfig::default()).await;
    node.post("/api/v1/inference/up", up_body("model-a")).await;
    node.wait_inference_healthy().await;
    let (status, body) = node.post("/api/v1/stop", json!({})).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    assert_eq!(node.state().await["state"], "STOPPED");
    let (status, body) = node.post("/api/v1/inference/up", up_body("model-b")).await;
    assert_eq!((status, body), (200, json!({"status": "OK"})));
    let state = node.wait_inference_healthy().await;
    assert_eq!(state["loaded_model"], "model-b");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn down_while_starting_cancels_the_up() {
    // A fake engine that stays "loading" for a long time keeps the up in progress.
    let mut config = common::fake_engine_config(gonka_mlnode::engine::EngineKind::Vllm);
    config.grace_period = std::time::Duration::from_millis(500);
    let node = Node::start(config).await;
    let body = json!({"model": "m", "additional_args": ["--fake-load-seconds", "60"]});
    let (status, _) = node.post("/api/v1/inference/up?wait=false", body).await;
    assert_eq!(status, 202);
    let (_, up) = node.get("/api/v1/inference/up/status").await;
    assert_eq!(up["status"], "in_progress");
    assert_eq!(up["is_starting"], true);
    assert_eq!(node.state().await["state"], "INFERENCE");
    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    let (_, up) = node.get("/api/v1/inference/up/status").await;
    assert_eq!(up["status"], "cancelled");
    assert_eq!(node.state().await["state"], "STOPPED");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn token_is_required_on_the_api_but_not_on_health() {
    let config = MlNodeConfig {
        token: Some("s3cret".into()),
        ..MlNodeConfig::default()
    };
    let node = Node::start(config).await;
    assert_eq!(node.get("/health").await.0, 200);
    let (status, body) = node.get("/api/v1/state").await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("Bearer"));
    let wrong = node
        .client
        .get(format!("{}/api/v1/state", node.mgmt))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = node
        .client
        .get(format!("{}/api/v1/state", node.mgmt))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn gpu_devices_without_nvml_is_an_empty_list() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node.get("/api/v1/gpu/devices").await;
    assert_eq!(status, 200);
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(body["count"].as_u64().unwrap() as usize, devices.len());
    if std::fs::metadata("/dev/nvidiactl").is_err() {
        assert_eq!(body, json!({"devices": [], "count": 0}));
    }
    let (status, driver) = node.get("/api/v1/gpu/driver").await;
    assert_eq!(status, 200);
    assert!(driver["nvml_available"].is_boolean());
    for name in ["driver_version", "cuda_driver_version", "nvml_version"] {
        assert!(
            driver[name].is_string() || driver[name].is_null(),
            "{name}: {driver}"
        );
    }
    node.stop().await.unwrap();
}

#[tokio::test]
async fn models_list_shows_cached_models_and_disk_space() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models--Qwen--QwQ-32B/snapshots")).unwrap();
    let config = MlNodeConfig {
        models_dir: Some(dir.path().to_path_buf()),
        ..MlNodeConfig::default()
    };
    let node = Node::start(config).await;
    let (status, body) = node.get("/api/v1/models/list").await;
    assert_eq!(status, 200);
    // A repository without a revision is not a model yet (upstream lists revisions).
    assert_eq!(body["models"], json!([]));
    std::fs::create_dir_all(dir.path().join("models--Qwen--QwQ-32B/snapshots/abc123")).unwrap();
    std::fs::write(dir.path().join("tiny.gguf"), b"GGUF").unwrap();
    let (_, body) = node.get("/api/v1/models/list").await;
    assert_eq!(
        body["models"][0]["model"],
        json!({"hf_repo": "Qwen/QwQ-32B", "hf_commit": "abc123"})
    );
    assert_eq!(body["models"][0]["status"], "PARTIAL", "an empty snapshot");
    assert_eq!(
        body["models"][1]["model"],
        json!({"hf_repo": "tiny", "hf_commit": null})
    );
    assert_eq!(body["models"][1]["status"], "DOWNLOADED");
    assert_eq!(body["models"][1]["size_bytes"], 4);
    assert_eq!(body["count"], 2);
    assert!(body["disk"]["total_bytes"].as_u64().unwrap() > 0);
    let (status, space) = node.get("/api/v1/models/space").await;
    assert_eq!(status, 200);
    assert!(space["available_bytes"].as_u64().unwrap() <= space["total_bytes"].as_u64().unwrap());
    // Upstream's names: gigabytes as numbers, the cache path.
    assert!(space["available_gb"].as_f64().unwrap() >= 0.0);
    assert!(space["cache_size_gb"].as_f64().unwrap() >= 0.0);
    assert_eq!(space["cache_path"], dir.path().to_string_lossy().as_ref());
    node.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_endpoint_is_404_with_a_message() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node.get("/api/v1/nope").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/api/v1/nope"));
    node.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_method_is_405_naming_method_and_path() {
    let node = Node::start(MlNodeConfig::default()).await;
    let (status, body) = node.get("/api/v1/inference/up").await;
    assert_eq!(status, 405);
    let message = body["detail"].as_str().unwrap();
    assert!(
        message.contains("GET") && message.contains("/api/v1/inference/up"),
        "{message}"
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn node_started_with_a_model_brings_it_up() {
    let config = MlNodeConfig {
        model: Some("boot-model".into()),
        ..MlNodeConfig::default()
    };
    let node = Node::start(config).await;
    let state = node.wait_inference_healthy().await;
    assert_eq!(state["loaded_model"], "boot-model");
    node.stop().await.unwrap();
}
