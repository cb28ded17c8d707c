//! Replays upstream Gonka's network node (decentralized-api, Go) against a real gonka-mlnode
//! (simulator engine that loads slowly), exchange by exchange from
//! `gonka-core/tests/fixtures/upstream/index.json`: the request sequence of its broker (status
//! poll, stop, blocking inference up, PoC start/stop, validation, background model and GPU
//! calls), sent as Go sends them — under the `/v3.0.8` version prefix, Go's `User-Agent` and
//! `Accept-Encoding`, no `Authorization`, no `Content-Type` (except where Go sets one),
//! `Content-Length: 0` on the body-less `stop` — and every answer is decoded with the shape of
//! the fixture upstream's ML node would answer (see [`shape_mismatch`]).
//!
//! Exchanges gonka-mlnode does not answer like upstream yet are listed in [`KNOWN_GAPS`], each
//! with the reason. The test fails when an exchange differs and is not listed, and also when a
//! listed exchange conforms (the gap got fixed: remove it from the list), so the list can only
//! shrink. The ML node's own outgoing calls (`engine/*`) are not replayed here; the
//! `{url}/validated` callback of the validation request is received by a server of the test
//! and compared with `callback/validated.request.json`.
//!
//! A second replay drives a gonka-mlnode running the real llama.cpp engine (`LLAMA_SERVER`)
//! through the network node's inference lifecycle with upstream's own `inference/up` body (vLLM
//! arguments, which the agent adapts for llama.cpp) and its `/tokenize` call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod llamacpp_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Node;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

/// The chain's ML node version the network node puts in front of every path.
const VERSION: &str = "v3.0.8";

/// Exchanges (by `index.json` name) whose answer differs from upstream's today, and why. A
/// listed exchange that conforms fails the test: remove it here when fixing it.
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gonka-core/tests/fixtures/upstream")
}

fn read_json(file: &str) -> Value {
    let path = fixtures().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Why `ours` would not decode like `theirs` in Go, or `None` when it would. Rules: every
/// field of `theirs` is present in `ours` with the same JSON type (extra fields are fine, Go
/// ignores them); an integer stays an integer; a list's entries have the shape of the fixture's
/// first entry; `null` in the fixture means "optional, any type, may be left out"; `null` in
/// our answer is accepted for any type (Go decodes it as the zero value).
fn shape_mismatch(path: &str, theirs: &Value, ours: &Value) -> Option<String> {
    match (theirs, ours) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Bool(_), Value::Bool(_)) | (Value::String(_), Value::String(_)) => None,
        (Value::Number(t), Value::Number(o)) => {
            (t.is_f64() || !o.is_f64()).then_some(()).map_or_else(
                || Some(format!("{path}: integer expected, got {o}")),
                |()| None,
            )
        }
        (Value::Array(t), Value::Array(o)) => {
            let first = t.first()?;
            o.iter()
                .enumerate()
                .find_map(|(i, item)| shape_mismatch(&format!("{path}[{i}]"), first, item))
        }
        (Value::Object(t), Value::Object(o)) => t.iter().find_map(|(key, value)| {
            let here = format!("{path}.{key}");
            match o.get(key) {
                // Go decodes a missing field like `null`: optional fields may be left out.
                None if value.is_null() => None,
                None => Some(format!("{here}: missing")),
                Some(ours) => shape_mismatch(&here, value, ours),
            }
        }),
        (t, o) => Some(format!("{path}: {} expected, got {o}", kind(t))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One exchange of `index.json`.
#[derive(Clone)]
struct Exchange {
    method: String,
    port: String,
    path: String,
    body: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    responses: Vec<(u16, Option<String>)>,
}

fn exchanges() -> BTreeMap<String, Exchange> {
    let index = read_json("index.json");
    index["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let body = e["request_body"].as_str().map(|file| {
                std::fs::read(fixtures().join(file)).unwrap_or_else(|err| panic!("{file}: {err}"))
            });
            let headers = e["request_headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let responses = e["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        u16::try_from(r["status"].as_u64().unwrap()).unwrap(),
                        r["body"].as_str().map(str::to_owned),
                    )
                })
                .collect();
            let exchange = Exchange {
                method: e["method"].as_str().unwrap().to_owned(),
                port: e["port"].as_str().unwrap().to_owned(),
                path: e["path"].as_str().unwrap().to_owned(),
                body,
                headers,
                responses,
            };
            (e["name"].as_str().unwrap().to_owned(), exchange)
        })
        .collect()
}

/// An answer as the Go client sees it.
struct Answer {
    status: u16,
    body: Value,
}

/// Sends `exchange` to `addr` (`host:port`) over a fresh HTTP/1.1 connection with exactly the
/// headers Go sends: `Host`, the index's headers (`Content-Length` computed where it says
/// `<n>`) and nothing else.
async fn send(addr: &str, exchange: &Exchange, path: &str) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let body = exchange.body.clone().unwrap_or_default();
    let mut request = hyper::Request::builder()
        .method(exchange.method.as_str())
        .uri(format!("/{VERSION}{path}"))
        .header("Host", addr);
    for (name, value) in &exchange.headers {
        let value = if value == "<n>" {
            body.len().to_string()
        } else {
            value.clone()
        };
        request = request.header(name.as_str(), value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    assert!(
        !request.headers().contains_key("authorization"),
        "Go never sends a token"
    );
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// What one replayed exchange showed.
struct Outcome {
    name: String,
    difference: Option<String>,
}

struct Replay {
    node: Node,
    exchanges: BTreeMap<String, Exchange>,
    outcomes: Vec<Outcome>,
}

impl Replay {
    fn addr(&self, port: &str) -> String {
        let url = if port == "inference" {
            &self.node.inference
        } else {
            &self.node.mgmt
        };
        url.trim_start_matches("http://").to_owned()
    }

    fn exchange(&self, name: &str) -> Exchange {
        self.exchanges
            .get(name)
            .unwrap_or_else(|| panic!("no exchange {name} in index.json"))
            .clone()
    }

    /// Sends exchange `name` and records whether the answer is `expected` (a status and body
    /// fixture among the exchange's listed responses) in shape.
    async fn check(&mut self, label: &str, name: &str, expected: usize) -> Answer {
        let exchange = self.exchange(name);
        let answer = send(&self.addr(&exchange.port), &exchange, &exchange.path).await;
        let difference = self.compare(&exchange, expected, &answer);
        self.outcomes.push(Outcome {
            name: label.to_owned(),
            difference,
        });
        answer
    }

    fn compare(&self, exchange: &Exchange, expected: usize, answer: &Answer) -> Option<String> {
        let (status, body) = exchange.responses[expected].clone();
        if answer.status != status {
            return Some(format!(
                "status {} instead of {status} ({})",
                answer.status, answer.body
            ));
        }
        let file = body?;
        shape_mismatch("$", &read_json(&file), &answer.body)
            .map(|why| format!("{why} (against {file})"))
    }

    /// The broker's poll of a node that serves `model`: state, PoC status, inference health and
    /// the engine's model list.
    async fn check_serving(&mut self, model: &str) {
        let state = self.check("state_inference", "state", 0).await;
        assert_eq!(state.body["state"], "INFERENCE");
        assert_eq!(state.body["inference_healthy"], true);
        self.check("pow_status", "pow_status", 1).await;
        let health = self.check("inference_health", "inference_health", 0).await;
        assert_eq!(health.status, 200);
        let models = self.check("v1_models", "v1_models", 0).await;
        assert_eq!(models.body["data"][0]["id"], model);
    }

    fn record(&mut self, label: &str, difference: Option<String>) {
        self.outcomes.push(Outcome {
            name: label.to_owned(),
            difference,
        });
    }
}

/// A callback server recording the bodies POSTed to `/v2/poc-batches/{model}/validated`; its
/// base URL (the `url` of a validation request) and what it received.
async fn validated_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/v2/poc-batches/{model}/validated",
        axum::routing::post(move |body: Bytes| async move {
            store
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/v2/poc-batches/Qwen%252FQwen3-32B-FP8"),
        got,
    )
}

async fn poll_state(replay: &Replay, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let state = replay.exchange("state");
    let addr = replay.addr("mgmt");
    let mut last = Value::Null;
    for _ in 0..600 {
        last = send(&addr, &state, &state.path).await.body;
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}; last state: {last:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_network_node_calls_replayed_against_gonka_mlnode() {
    // Two models in the Hugging Face cache: Qwen3-32B-FP8 complete at the commit the delete
    // names (so status says DOWNLOADED and download needs no hub), Qwen2.5-7B partial (so
    // models/list still has an entry after the delete).
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--Qwen--Qwen3-32B-FP8");
    let commit = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
    std::fs::write(repo.join("blobs/5f3e"), b"{}").unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/5f3e",
        repo.join("snapshots").join(commit).join("config.json"),
    )
    .unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    std::fs::create_dir_all(cache.path().join(
        "models--Qwen--Qwen2.5-7B-Instruct/snapshots/a09a35458c702b33eeacc393d103063234e8bc28",
    ))
    .unwrap();
    let config = MlNodeConfig {
        models_dir: Some(cache.path().to_path_buf()),
        // Loopback and closed: the replay never reaches a real hub.
        hub: gonka_mlnode::models::HubSettings {
            endpoint: "http://127.0.0.1:9".into(),
            ..gonka_mlnode::models::HubSettings::default()
        },
        simulator: SimulatorConfig {
            // Long enough to watch the node load; the poll below waits for it, not a sleep.
            load_time: Duration::from_secs(2),
            ..SimulatorConfig::default()
        },
        ..MlNodeConfig::default()
    };
    let mut replay = Replay {
        node: Node::start(config).await,
        exchanges: exchanges(),
        outcomes: Vec::new(),
    };
    let up_request = read_json("mgmt/inference_up.request.json");
    let model = up_request["model"].as_str().unwrap().to_owned();

    // Broker status poll of a fresh node, then InferenceUp: stop, blocking up.
    let state = replay.check("state_stopped", "state", 3).await;
    assert_eq!(state.body["state"], "STOPPED");
    let stop = replay.check("stop", "stop", 0).await;
    assert_eq!(stop.status, 200, "stop without body or Content-Type");
    let up_exchange = replay.exchange("inference_up");
    let mgmt = replay.addr("mgmt");
    let up = tokio::spawn(async move { send(&mgmt, &up_exchange, &up_exchange.path).await });

    // While the engine loads: state is honest, inference /health 503, up has not answered.
    let loading = poll_state(&replay, "the engine loading", |s| {
        s["state"] == "INFERENCE" && s["inference_healthy"] == false
    })
    .await;
    let difference = shape_mismatch(
        "$",
        &read_json("mgmt/state.loading.response.json"),
        &loading,
    );
    replay.record("state_loading", difference);
    let health = replay
        .check("inference_health_loading", "inference_health", 1)
        .await;
    assert_eq!(health.status, 503);
    let still_loading = poll_state(&replay, "state after /health", |_| true).await;
    if still_loading["inference_healthy"] == false {
        assert!(!up.is_finished(), "inference/up answered while loading");
    }

    let up = tokio::time::timeout(Duration::from_secs(60), up)
        .await
        .expect("inference/up did not answer")
        .unwrap();
    let difference = replay.compare(&replay.exchange("inference_up"), 0, &up);
    replay.record("inference_up", difference);
    assert_eq!(up.status, 200, "{}", up.body);

    // Right after the answer the engine serves: the next poll sees a healthy node.
    replay.check_serving(&model).await;

    // PoC: start generating, the poll during PoC, stop at validation; one validation request.
    replay
        .check("pow_init_generate", "pow_init_generate", 0)
        .await;
    let during = poll_state(&replay, "PoC running", |s| s["poc_status"] == "GENERATING").await;
    let fixture = read_json("mgmt/state.poc_generating.response.json");
    let difference = shape_mismatch("$", &fixture, &during).or_else(|| {
        (during["state"] != fixture["state"])
            .then(|| format!("state {} instead of {}", during["state"], fixture["state"]))
    });
    replay.record("pow_status_generating", difference);
    replay.check("pow_stop", "pow_stop", 0).await;
    // The validator's request, its url pointed at a callback server of ours (the fixture's
    // `http://api:9100` is the network node's); the verdict arrives on `{url}/validated`.
    let (callback_url, validated) = validated_receiver().await;
    let mut validate = replay.exchange("pow_generate_validate");
    let mut body: Value = serde_json::from_slice(validate.body.as_ref().unwrap()).unwrap();
    body["url"] = Value::String(callback_url);
    validate.body = Some(serde_json::to_vec(&body).unwrap());
    let queued = send(&replay.addr("mgmt"), &validate, &validate.path).await;
    let difference = replay.compare(&validate, 0, &queued);
    replay.record("pow_generate_validate", difference);
    let request_id = queued.body["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut verdict = Value::Null;
    for _ in 0..600 {
        if let Some(v) = validated.lock().unwrap().first().cloned() {
            verdict = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!verdict.is_null(), "no {{url}}/validated callback");
    let difference = shape_mismatch("$", &read_json("callback/validated.request.json"), &verdict)
        .or_else(|| {
            (Some(verdict["request_id"].as_str().unwrap_or_default())
                != request_id.split_once(':').map(|(_, id)| id))
            .then(|| {
                format!(
                    "callback request_id {} does not name job {request_id}",
                    verdict["request_id"]
                )
            })
        });
    replay.record("callback_validated", difference);
    let mut result = replay.exchange("pow_generate_result");
    result.path = format!("/api/v1/inference/pow/generate/{request_id}");
    let answer = send(&replay.addr("mgmt"), &result, &result.path).await;
    let difference = replay.compare(&result, 0, &answer);
    replay.record("pow_generate_result", difference);
    // An id this node never gave (the fixture's engine port): 404.
    result.path = "/api/v1/inference/pow/generate/5001:6f1d2c84-93ab-4e0f-b7c2-1a5d9e3f8b60".into();
    let answer = send(&replay.addr("mgmt"), &result, &result.path).await;
    let difference = replay.compare(&result, 3, &answer);
    replay.record("pow_generate_result_unknown", difference);

    // Background manager and setup report: GPUs, models, management health.
    replay.check("gpu_devices", "gpu_devices", 1).await;
    replay.check("gpu_driver", "gpu_driver", 0).await;
    let status = replay.check("models_status", "models_status", 1).await;
    assert_eq!(status.body["status"], "DOWNLOADED", "{}", status.body);
    let download = replay.check("models_download", "models_download", 0).await;
    assert_eq!(download.body["status"], "DOWNLOADED", "{}", download.body);
    let deleted = replay.check("models_delete", "models_delete", 0).await;
    assert_eq!(deleted.body["status"], "deleted", "{}", deleted.body);
    let list = replay.check("models_list", "models_list", 0).await;
    assert_eq!(list.body["models"][0]["status"], "PARTIAL", "{}", list.body);
    replay.check("models_space", "models_space", 0).await;
    replay.check("mgmt_health", "mgmt_health", 0).await;
    let tokens = replay.check("tokenize", "tokenize", 0).await;
    assert_eq!(tokens.body["count"], 6, "{}", tokens.body);

    // Operator calls of upstream's API that the network node does not make: down, then an
    // async up (the engine loads again) and its status, then stop.
    replay.check("inference_down", "inference_down", 0).await;
    // PoC generation ends within one batch of the stop above; then the node is STOPPED.
    poll_state(&replay, "STOPPED after down", |s| s["state"] == "STOPPED").await;
    replay.check("state_after_down", "state", 3).await;
    replay
        .check("inference_up_async", "inference_up_async", 0)
        .await;
    replay
        .check("inference_up_status", "inference_up_status", 0)
        .await;
    replay.check("stop_after_async_up", "stop", 0).await;

    let Replay { node, outcomes, .. } = replay;
    for o in &outcomes {
        eprintln!(
            "{}: {}",
            o.name,
            o.difference.as_deref().unwrap_or("as upstream")
        );
    }
    node.stop().await.unwrap();
    let gaps: BTreeMap<&str, &str> = KNOWN_GAPS.iter().copied().collect();
    let mut problems = Vec::new();
    for outcome in &outcomes {
        match (&outcome.difference, gaps.get(outcome.name.as_str())) {
            (Some(why), None) => {
                problems.push(format!("{}: differs from upstream: {why}", outcome.name))
            }
            (None, Some(gap)) => problems.push(format!(
                "{}: now answers like upstream; remove it from KNOWN_GAPS (was: {gap})",
                outcome.name
            )),
            _ => {}
        }
    }
    for name in gaps.keys() {
        if !outcomes.iter().any(|o| o.name == *name) {
            problems.push(format!("{name}: listed in KNOWN_GAPS but never replayed"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Upstream's network node driving a gonka-mlnode that runs the real llama.cpp engine: status
/// poll, stop, the blocking `inference/up` with upstream's body as recorded (the chain's vLLM
/// arguments `--tensor-parallel-size 4 --max-model-len 32768`, which `llama-server` itself
/// refuses), the serving node's state, PoC status, inference health, models, the prompt-token
/// count through `/tokenize`, then stop. Every answer must decode as upstream's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_network_node_lifecycle_replayed_against_gonka_mlnode_on_llamacpp() {
    let Some(server) = llamacpp_support::llama_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model_file = llamacpp_support::tiny_model(dir.path());
    let mut replay = Replay {
        node: Node::start(llamacpp_support::llamacpp_config(&server, &model_file)).await,
        exchanges: exchanges(),
        outcomes: Vec::new(),
    };
    let up_request = read_json("mgmt/inference_up.request.json");
    let model = up_request["model"].as_str().unwrap().to_owned();
    assert_eq!(
        model,
        llamacpp_support::MODEL,
        "the fixture's model has the GGUF file"
    );

    let state = replay.check("state_stopped", "state", 3).await;
    assert_eq!(state.body["state"], "STOPPED");
    let stop = replay.check("stop", "stop", 0).await;
    assert_eq!(stop.status, 200);
    let up = replay.check("inference_up", "inference_up", 0).await;
    assert_eq!(
        up.status, 200,
        "upstream's up with vLLM arguments: {}",
        up.body
    );

    replay.check_serving(&model).await;
    let tokens = replay.check("tokenize", "tokenize", 0).await;
    let ids = tokens.body["tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!ids.is_empty(), "{}", tokens.body);
    assert_eq!(tokens.body["count"], ids.len(), "{}", tokens.body);
    assert!(
        tokens.body["max_model_len"].as_u64().unwrap_or(0) > 0,
        "the engine's context size: {}",
        tokens.body
    );
    let text: Value = replay
        .node
        .client
        .post(format!("{}/detokenize", replay.node.inference))
        .json(&serde_json::json!({"model": model, "tokens": ids}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        text["prompt"]
            .as_str()
            .unwrap_or_default()
            .contains("strawberry"),
        "vLLM's detokenize answer from llama.cpp: {text}"
    );

    replay.check("stop_at_the_end", "stop", 0).await;
    poll_state(&replay, "STOPPED after stop", |s| s["state"] == "STOPPED").await;
    let Replay { node, outcomes, .. } = replay;
    node.stop().await.unwrap();
    let problems: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.difference
                .as_ref()
                .map(|why| format!("{}: differs from upstream: {why}", o.name))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shape_rules_follow_go_decoding() {
    let theirs =
        serde_json::json!({"backends": [{"port": 5001, "status": "IDLE"}], "n": 1, "opt": null});
    let ours = serde_json::json!({"backends": [{"port": 5001, "status": "IDLE", "extra": 1}], "n": 2, "opt": "x"});
    assert_eq!(shape_mismatch("$", &theirs, &ours), None);
    let a_count = serde_json::json!({"backends": 1, "n": 1});
    assert!(shape_mismatch("$", &theirs, &a_count)
        .unwrap()
        .contains("a list expected"));
    let missing = serde_json::json!({"backends": []});
    assert!(shape_mismatch("$", &theirs, &missing)
        .unwrap()
        .contains("$.n: missing"));
    let float = serde_json::json!({"backends": [], "n": 1.5});
    assert!(shape_mismatch("$", &theirs, &float)
        .unwrap()
        .contains("integer expected"));
    let wrong_entry = serde_json::json!({"backends": [{"port": "5001", "status": "IDLE"}], "n": 1});
    assert!(shape_mismatch("$", &theirs, &wrong_entry)
        .unwrap()
        .contains("$.backends[0].port"));
}
