//! PoC artifacts come from the model being served.
//!
//! - vLLM (the gonka-ai fork computes PoC v2 inside the engine): the agent forwards the PoC routes
//!   to its engines as upstream's ML node does (`pow_v2_routes.py` over `proxy.py`). The engines
//!   are two replicas of tests/fixtures/fake_engine.py launched by the real vLLM command line; it
//!   serves the fork's `/api/v1/pow/*` routes (`vllm/poc/routes.py`) and logs every PoC call it
//!   gets, which the tests read back.
//! - llama.cpp: the agent computes on the GGUF file the engine was started with; a `params.model`
//!   that is not the served model is refused with the engine's `409` "params mismatch".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod llamacpp_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{fake_engine, fake_engine_config, Node};
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::poc::{PocModel, PocSettings};
use gonka_mlnode::MlNodeConfig;
use llamacpp_support::{engine_config, tiny_model, MODEL};
use serde_json::{json, Value};

fn served_poc(files: &BTreeMap<String, std::path::PathBuf>) -> PocSettings {
    PocSettings::from_flags(Duration::from_millis(50), PocModel::Served, files).unwrap()
}

/// The `init/generate` body upstream's network node sends (no group fields).
fn init_body(model: &str) -> Value {
    json!({
        "block_hash": "0xabc", "block_height": 120, "public_key": "02aa",
        "node_id": 0, "node_count": 1, "batch_size": 16,
        "params": {"model": model, "seq_len": 256},
        "url": "http://127.0.0.1:9/v2/poc-batches/m",
    })
}

fn generate_body(model: &str, nonces: &[u32]) -> Value {
    json!({
        "block_hash": "0xabc", "block_height": 120, "public_key": "02aa",
        "node_id": 0, "node_count": 1, "nonces": nonces,
        "params": {"model": model, "seq_len": 4},
    })
}

/// The PoC calls the fake engines logged, in order.
fn engine_calls(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The calls logged since `seen` with `path`.
fn calls_to(log: &Path, seen: usize, path: &str) -> Vec<Value> {
    engine_calls(log)
        .into_iter()
        .skip(seen)
        .filter(|c| c["path"] == path)
        .collect()
}

fn port_of(base_url: &Value) -> u64 {
    base_url
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A vLLM ML node with two fake-engine replicas serving `MODEL`, up and ready; returns the node
/// and the engine ports, ascending.
async fn vllm_node(log: &Path) -> (Node, Vec<u64>) {
    let config = MlNodeConfig {
        replicas: 2,
        poc: served_poc(&BTreeMap::new()),
        ..fake_engine_config(EngineKind::Vllm)
    };
    let node = Node::start(config).await;
    let log = log.to_str().unwrap();
    let (status, _) = node
        .post(
            "/api/v1/inference/up?wait=false",
            json!({"model": MODEL, "dtype": "auto", "additional_args": ["--fake-poc-log", log]}),
        )
        .await;
    assert_eq!(status, 202);
    // Two engine processes start on a shared CI machine: allow them 90 s.
    let both_ready = |s: &Value| {
        s["up_status"] == "completed"
            && s["replicas"]
                .as_array()
                .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["health"] == "ready"))
    };
    let mut state = node.state().await;
    for _ in 0..1800 {
        if both_ready(&state) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = node.state().await;
    }
    assert!(
        both_ready(&state),
        "both replicas never got ready: {state:#}"
    );
    let mut ports: Vec<u64> = state["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| port_of(&r["base_url"]))
        .collect();
    ports.sort_unstable();
    (node, ports)
}

#[tokio::test]
async fn vllm_pow_init_stop_and_status_fan_out_to_every_engine_like_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("poc.log");
    let (node, ports) = vllm_node(&log).await;
    assert_eq!(node.state().await["poc_status"], "IDLE");

    let (status, body) = node
        .post("/api/v1/inference/pow/init/generate", init_body(MODEL))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "OK");
    assert_eq!(body["backends"], 2);
    assert_eq!(body["n_groups"], 2);
    assert_eq!(body["errors"], Value::Null);
    let mut answered: Vec<Value> = body["results"].as_array().unwrap().clone();
    answered.sort_by_key(|r| r["port"].as_u64());
    assert_eq!(
        answered,
        vec![
            json!({"port": ports[0], "status": "OK"}),
            json!({"port": ports[1], "status": "OK"})
        ]
    );
    // Each engine got upstream's model_dump of the body plus its group: backends by port
    // ascending, group i of n.
    let mut inits = calls_to(&log, 0, "/api/v1/pow/init/generate");
    inits.sort_by_key(|c| c["port"].as_u64());
    assert_eq!(inits.len(), 2, "{inits:?}");
    for (group, (call, port)) in inits.iter().zip(&ports).enumerate() {
        assert_eq!(call["port"], *port);
        assert_eq!(call["method"], "POST");
        let mut expected = init_body(MODEL);
        expected["params"]["k_dim"] = json!(12);
        expected["poc_stronger_rng"] = json!(false);
        expected["group_id"] = json!(group);
        expected["n_groups"] = json!(2);
        assert_eq!(call["body"], expected);
    }

    let (status, pow) = node.get("/api/v1/inference/pow/status").await;
    assert_eq!(status, 200);
    assert_eq!(pow["status"], "GENERATING", "{pow}");
    let backends = pow["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    for b in backends {
        assert!(ports.contains(&b["port"].as_u64().unwrap()), "{b}");
        assert_eq!(b["status"], "GENERATING");
        assert_eq!(b["config"]["n_groups"], 2, "the engine's own status: {b}");
    }
    let state = node.state().await;
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["poc_status"], "GENERATING");

    // A second round while generating: the engines refuse; none accepted is 502 with their errors.
    let (status, body) = node
        .post("/api/v1/inference/pow/init/generate", init_body(MODEL))
        .await;
    assert_eq!(status, 502, "{body}");
    let errors = body["detail"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors
        .iter()
        .all(|e| e["error"].as_str().unwrap().contains("Already generating")));

    let seen = engine_calls(&log).len();
    let (status, body) = node.post("/api/v1/inference/pow/stop", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "OK");
    assert_eq!(body["results"].as_array().unwrap().len(), 2, "{body}");
    assert!(body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "stopped"));
    let stops = calls_to(&log, seen, "/api/v1/pow/stop");
    assert_eq!(stops.len(), 2);
    assert!(stops.iter().all(|c| c["body"] == json!({})));
    let (_, pow) = node.get("/api/v1/inference/pow/status").await;
    assert_eq!(pow["status"], "IDLE");
    assert_eq!(node.state().await["poc_status"], "IDLE");

    // No engine serving: upstream's answers.
    let (status, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = node
        .post("/api/v1/inference/pow/init/generate", init_body(MODEL))
        .await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({"detail": "No vLLM backends available"}));
    let (_, pow) = node.get("/api/v1/inference/pow/status").await;
    assert_eq!(pow, json!({"status": "NO_BACKENDS", "backends": []}));
    let (_, body) = node.post("/api/v1/inference/pow/stop", json!({})).await;
    assert_eq!(
        body,
        json!({"status": "OK", "message": "No backends to stop"})
    );
    node.stop().await.unwrap();
}

#[tokio::test]
async fn vllm_pow_generate_goes_to_the_engines_in_turn_and_results_route_by_port() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("poc.log");
    let (node, ports) = vllm_node(&log).await;

    let mut ids = Vec::new();
    for nonces in [[1u32, 2], [3, 4]] {
        let (status, body) = node
            .post(
                "/api/v1/inference/pow/generate",
                generate_body(MODEL, &nonces),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "queued");
        assert_eq!(body["queued_count"], 2);
        ids.push(body["request_id"].as_str().unwrap().to_owned());
    }
    // Round robin over the ports ascending; each id is `<port>:<engine id>`.
    let calls = calls_to(&log, 0, "/api/v1/pow/generate");
    assert_eq!(calls.len(), 2);
    for (i, (call, id)) in calls.iter().zip(&ids).enumerate() {
        assert_eq!(call["port"], ports[i]);
        assert!(id.starts_with(&format!("{}:", ports[i])), "{id}");
        let mut expected = generate_body(MODEL, if i == 0 { &[1, 2] } else { &[3, 4] });
        for (k, v) in [
            ("batch_size", json!(32)),
            ("wait", json!(false)),
            ("url", Value::Null),
            ("validation", Value::Null),
            ("stat_test", Value::Null),
            ("poc_stronger_rng", json!(false)),
        ] {
            expected[k] = v;
        }
        expected["params"]["k_dim"] = json!(12);
        assert_eq!(call["body"], expected);
    }

    let (status, result) = node
        .get(&format!("/api/v1/inference/pow/generate/{}", ids[1]))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "completed");
    assert_eq!(result["request_id"], ids[1].as_str());
    assert_eq!(result["artifacts"].as_array().unwrap().len(), 2);
    let engine_id = ids[1].split_once(':').unwrap().1;
    let gets = calls_to(&log, 0, &format!("/api/v1/pow/generate/{engine_id}"));
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0]["port"], ports[1]);

    let missing = format!("/api/v1/inference/pow/generate/{}:nope", ports[0]);
    let (status, body) = node.get(&missing).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"detail": "Request not found"}));
    let (status, _) = node.get("/api/v1/inference/pow/generate/no-port").await;
    assert_eq!(status, 400);

    // `wait: true` answers the engine's artifacts at once.
    let mut waited = generate_body(MODEL, &[7]);
    waited["wait"] = json!(true);
    let (status, body) = node.post("/api/v1/inference/pow/generate", waited).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
    assert_eq!(body["artifacts"][0]["nonce"], 7);

    // Another model: the engine's 409, its body as the detail.
    let (status, body) = node
        .post(
            "/api/v1/inference/pow/generate",
            generate_body("other/model", &[1]),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let detail: Value = serde_json::from_str(body["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["detail"]["error"], "params mismatch");
    assert_eq!(detail["detail"]["requested"]["model"], "other/model");
    assert_eq!(detail["detail"]["deployed"]["model"], json!([MODEL]));

    // A body upstream's pydantic model refuses never reaches an engine.
    let seen = engine_calls(&log).len();
    let mut bad = generate_body(MODEL, &[1]);
    bad["params"]["extra"] = json!(1);
    let (status, _) = node.post("/api/v1/inference/pow/generate", bad).await;
    assert_eq!(status, 422);
    assert_eq!(engine_calls(&log).len(), seen);
    node.stop().await.unwrap();
}

fn fixture(file: &str) -> Value {
    let path = format!(
        "{}/../gonka-core/tests/fixtures/upstream/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The network node's own requests (upstream fixtures, `mgmt/`) reach the engines exactly as
/// upstream's ML node sends them on (`engine/` fixtures: defaults filled in, `group_id`/`n_groups`
/// added, the stat test read as the engine's model), and upstream's answers without engines come
/// back as the fixtures record them.
#[tokio::test]
async fn vllm_engines_get_the_bodies_upstreams_ml_node_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("poc.log");
    let (node, ports) = vllm_node(&log).await;

    let init = fixture("mgmt/pow_init_generate.request.json");
    let (status, body) = node.post("/api/v1/inference/pow/init/generate", init).await;
    assert_eq!(status, 200, "{body}");
    let engine_init = fixture("engine/pow_init_generate.request.json");
    let mut inits = calls_to(&log, 0, "/api/v1/pow/init/generate");
    inits.sort_by_key(|c| c["port"].as_u64());
    assert_eq!(inits.len(), 2);
    for (group, call) in inits.iter().enumerate() {
        let mut expected = engine_init.clone();
        expected["group_id"] = json!(group);
        assert_eq!(call["body"], expected, "engine {}", call["port"]);
    }
    let (_, status_answer) = node.get("/api/v1/inference/pow/status").await;
    let upstream = fixture("mgmt/pow_status.generating.response.json");
    for (ours, theirs) in status_answer["backends"]
        .as_array()
        .unwrap()
        .iter()
        .zip(upstream["backends"].as_array().unwrap())
    {
        let mut keys: Vec<_> = ours.as_object().unwrap().keys().collect();
        let mut want: Vec<_> = theirs.as_object().unwrap().keys().collect();
        keys.sort();
        want.sort();
        assert_eq!(
            keys, want,
            "a backend entry is the engine's status with its port"
        );
    }
    node.post("/api/v1/inference/pow/stop", json!({})).await;

    let validate = fixture("mgmt/pow_generate.validate.request.json");
    let (status, body) = node.post("/api/v1/inference/pow/generate", validate).await;
    assert_eq!(status, 200, "{body}");
    let generates = calls_to(&log, 0, "/api/v1/pow/generate");
    assert_eq!(generates.len(), 1);
    assert_eq!(generates[0]["port"], ports[0]);
    assert_eq!(
        generates[0]["body"],
        fixture("engine/pow_generate.request.json")
    );

    node.post("/api/v1/inference/down", json!({})).await;
    let (_, body) = node.get("/api/v1/inference/pow/status").await;
    assert_eq!(body, fixture("mgmt/pow_status.no_backends.response.json"));
    node.stop().await.unwrap();
}

/// A llama.cpp node whose engine is the fake engine started on `file` (`-m FILE --alias MODEL`).
async fn llamacpp_node(file: &Path) -> Node {
    let files = BTreeMap::from([(MODEL.to_owned(), file.to_path_buf())]);
    let launcher = format!("python3 {}", fake_engine().display());
    let config = MlNodeConfig {
        poc: served_poc(&files),
        ..engine_config(EngineKind::Llamacpp, &launcher, files)
    };
    Node::start(config).await
}

#[tokio::test]
async fn llamacpp_refuses_pow_for_a_model_it_does_not_serve_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let node = llamacpp_node(&tiny_model(dir.path())).await;
    // Nothing served yet: PoC on the served model cannot run.
    let (status, body) = node
        .post("/api/v1/inference/pow/generate", generate_body(MODEL, &[1]))
        .await;
    assert_eq!(status, 503, "{body}");

    let (status, _) = node
        .post(
            "/api/v1/inference/up?wait=false",
            json!({"model": MODEL, "dtype": "auto"}),
        )
        .await;
    assert_eq!(status, 202);
    node.wait_inference_healthy().await;
    for (path, body) in [
        (
            "/api/v1/inference/pow/generate",
            generate_body("other/model", &[1]),
        ),
        (
            "/api/v1/inference/pow/init/generate",
            init_body("other/model"),
        ),
    ] {
        let (status, body) = node.post(path, body).await;
        assert_eq!(status, 409, "{path}: {body}");
        let detail = &body["detail"];
        assert_eq!(detail["error"], "params mismatch");
        assert_eq!(detail["requested"]["model"], "other/model");
        let deployed = detail["deployed"]["model"].as_array().unwrap();
        assert_eq!(deployed[0], MODEL, "{body}");
    }
    assert_eq!(
        node.get("/api/v1/inference/pow/status").await.1["status"],
        "IDLE"
    );
    node.stop().await.unwrap();
}

/// The artifacts `pow/generate` answers on a llama.cpp node are candle's over the very GGUF file
/// the engine was started with (the engine is llama-server when `LLAMA_SERVER` is set, else the
/// fake engine: PoC never asks the engine).
#[cfg(feature = "candle")]
#[tokio::test]
async fn llamacpp_pow_generate_computes_on_the_served_gguf() {
    use gonka_core::poc::compute::RoundParams;
    use gonka_mlnode::poc::{GgufLlamaCompute, PocCompute};

    let dir = tempfile::tempdir().unwrap();
    let file = tiny_model(dir.path());
    let node = match llamacpp_support::llama_server() {
        Some(server) => {
            let files = BTreeMap::from([(MODEL.to_owned(), file.clone())]);
            let config = MlNodeConfig {
                poc: served_poc(&files),
                ..llamacpp_support::llamacpp_config(&server, &file)
            };
            Node::start(config).await
        }
        None => llamacpp_node(&file).await,
    };
    let (status, _) = node
        .post(
            "/api/v1/inference/up?wait=false",
            llamacpp_support::up_body(llamacpp_support::FAST_ARGS),
        )
        .await;
    assert_eq!(status, 202);
    let state = node.wait_inference_healthy().await;
    let cmdline = std::fs::read(format!(
        "/proc/{}/cmdline",
        llamacpp_support::pid_of(&state)
    ))
    .unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains(&format!("-m {}", file.display())),
        "{cmdline}"
    );

    let nonces = [0u32, 1, 2, 5];
    let mut waited = generate_body(MODEL, &nonces);
    waited["wait"] = json!(true);
    let (status, body) = node.post("/api/v1/inference/pow/generate", waited).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    let reference = GgufLlamaCompute::open(&file)
        .unwrap()
        .prepare(
            MODEL,
            RoundParams {
                block_hash: "0xabc".into(),
                public_key: "02aa".into(),
                seq_len: 4,
                stronger_rng: false,
            },
        )
        .unwrap()
        .compute(&nonces)
        .unwrap();
    let reference = serde_json::to_value(&reference).unwrap();
    assert_eq!(body["artifacts"], reference);

    // Queued, the job computes on the same file.
    let (status, queued) = node
        .post(
            "/api/v1/inference/pow/generate",
            generate_body(MODEL, &nonces),
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    let path = format!(
        "/api/v1/inference/pow/generate/{}",
        queued["request_id"].as_str().unwrap()
    );
    let result = common::eventually("the queued job completes", || async {
        let (_, r) = node.get(&path).await;
        (r["status"] == "completed").then_some(r)
    })
    .await;
    assert_eq!(result["artifacts"], reference);
    node.stop().await.unwrap();
}
