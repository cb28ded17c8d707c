//! Ollama's native API on the gateway's public listener, against a devnet (the real gateway and
//! a real simulated ML node on loopback): chat and generate, streamed as NDJSON and not, with
//! options reaching the engine; tags, ps, show, version, embed; the `/` probe; the same metrics
//! as `/v1`; and the official `ollama` Python client (when `GONKA_PYTHON` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::client;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use serde_json::{json, Value};

const MODEL: &str = devnet::DEFAULT_MODEL;

async fn start_devnet() -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: 1,
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    devnet::start(config, listeners).await.unwrap()
}

fn base(net: &devnet::Devnet) -> String {
    format!("http://{}", net.gateway.public_addr)
}

async fn post(url: String, body: Value) -> reqwest::Response {
    client().post(url).json(&body).send().await.unwrap()
}

/// The NDJSON lines of a streamed answer (each must be JSON).
async fn ndjson(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_answers_in_ollamas_shape_streamed_and_not() {
    let net = start_devnet().await;
    let url = format!("{}/api/chat", base(&net));
    let messages = json!([{"role": "user", "content": "hello there"}]);

    // Streaming is Ollama's default: NDJSON lines, then the last line with the counts.
    let lines =
        ndjson(post(url.clone(), json!({"model": MODEL, "messages": messages})).await).await;
    assert!(lines.len() >= 2, "{lines:?}");
    let (last, pieces) = lines.split_last().unwrap();
    let mut text = String::new();
    for piece in pieces {
        assert_eq!(piece["model"], MODEL);
        assert_eq!(piece["done"], false);
        assert_eq!(piece["message"]["role"], "assistant");
        text.push_str(piece["message"]["content"].as_str().unwrap());
    }
    assert!(!text.is_empty());
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["message"]["content"], "");
    // The simulator sends one token per chunk.
    assert_eq!(last["eval_count"], json!(pieces.len()));
    assert!(last["prompt_eval_count"].as_u64().unwrap() > 0);
    assert!(last["total_duration"].as_u64().unwrap() > 0);
    assert!(last["created_at"].as_str().unwrap().ends_with('Z'));

    // Not streamed, with options: num_predict caps the answer (done_reason length), seed
    // reaches the engine (the same text as the OpenAI API gives for that seed).
    let resp = post(
        url.clone(),
        json!({"model": MODEL, "messages": messages, "stream": false,
            "options": {"num_predict": 3, "seed": 11, "temperature": 0.5, "num_ctx": 4096},
            "keep_alive": "10m"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["done"], true);
    assert_eq!(answer["done_reason"], "length");
    assert_eq!(answer["eval_count"], 3);
    let openai: Value = post(
        format!("{}/v1/chat/completions", base(&net)),
        json!({"model": MODEL, "messages": messages, "max_tokens": 3, "seed": 11}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        answer["message"]["content"],
        openai["choices"][0]["message"]["content"]
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generate_answers_in_ollamas_shape_streamed_and_not() {
    let net = start_devnet().await;
    let url = format!("{}/api/generate", base(&net));
    let lines = ndjson(
        post(
            url.clone(),
            json!({"model": MODEL, "prompt": "why is the sky blue?",
        "system": "answer briefly", "options": {"num_predict": 4}}),
        )
        .await,
    )
    .await;
    let (last, pieces) = lines.split_last().unwrap();
    assert_eq!(pieces.len(), 4, "{lines:?}");
    assert!(pieces
        .iter()
        .all(|p| p["response"].is_string() && p["done"] == false));
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["eval_count"], 4);

    let answer: Value = post(
        url.clone(),
        json!({"model": MODEL, "prompt": "once upon a time", "raw": true, "stream": false}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["done"], true);
    assert!(!answer["response"].as_str().unwrap().is_empty());
    assert!(answer.get("message").is_none());

    // No prompt: Ollama's "load the model" request, answered at once.
    let answer: Value = post(url, json!({"model": MODEL, "stream": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["done_reason"], "load");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tags_ps_show_version_and_the_probe_describe_the_fleet() {
    let net = start_devnet().await;
    let b = base(&net);
    let tags: Value = client()
        .get(format!("{b}/api/tags"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = tags["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{tags}");
    assert_eq!(models[0]["name"], MODEL);
    assert_eq!(models[0]["model"], MODEL);
    assert_eq!(models[0]["details"]["family"], "qwen3");
    assert_eq!(models[0]["details"]["parameter_size"], "32B");
    assert!(models[0]["modified_at"].is_string());
    assert_eq!(models[0]["nodes"], json!([net.nodes[0].id]));

    let ps: Value = client()
        .get(format!("{b}/api/ps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded = ps["models"].as_array().unwrap();
    assert_eq!(loaded.len(), 1, "{ps}");
    assert_eq!(loaded[0]["name"], MODEL);
    assert_eq!(loaded[0]["node_id"], net.nodes[0].id.as_str());

    let show = post(format!("{b}/api/show"), json!({"model": MODEL})).await;
    assert_eq!(show.status(), 200);
    let show: Value = show.json().await.unwrap();
    assert_eq!(show["details"]["quantization_level"], "FP8");
    assert_eq!(show["capabilities"], json!(["completion"]));
    let unknown = post(format!("{b}/api/show"), json!({"model": "nobody/none"})).await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("nobody/none"),
        "{body}"
    );

    let version: Value = client()
        .get(format!("{b}/api/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        version["version"],
        gonka_gateway::ollama::OLLAMA_API_VERSION
    );

    let probe = client().get(format!("{b}/")).send().await.unwrap();
    assert_eq!(probe.status(), 200);
    assert_eq!(probe.text().await.unwrap(), "Ollama is running");
    let head = client().head(format!("{b}/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embed_goes_to_the_engines_embeddings_route() {
    let net = start_devnet().await;
    let b = base(&net);
    let resp = post(
        format!("{b}/api/embed"),
        json!({"model": MODEL, "input": ["hello world", "hello world", "other"]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let vectors = body["embeddings"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0].as_array().unwrap().len(), 16);
    assert_eq!(vectors[0], vectors[1]);
    assert_ne!(vectors[0], vectors[2]);
    assert_eq!(body["prompt_eval_count"], 5);
    let old: Value = post(
        format!("{b}/api/embeddings"),
        json!({"model": MODEL, "prompt": "hello world"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(old["embedding"], vectors[0]);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ollama_requests_count_in_the_same_metrics_as_openai_ones() {
    let net = start_devnet().await;
    let b = base(&net);
    let resp = post(
        format!("{b}/api/chat"),
        json!({"model": MODEL, "stream": false, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let metrics = client()
        .get(format!("{b}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = metrics.lines().any(|l| {
        l.starts_with("gonka_gateway_requests_total{")
            && l.contains(MODEL)
            && l.contains("status=\"200\"")
            && l.ends_with(" 1")
    });
    assert!(counted, "{metrics}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_official_ollama_python_client_works_against_the_gateway() {
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    let net = start_devnet().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ollama_client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(base(&net))
        .arg(MODEL)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("OLLAMA_HOST")
        .env_remove("OLLAMA_API_KEY")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["chat_done"], true);
    assert_eq!(out["chat_eval_count"], 3);
    assert_eq!(out["chat_done_reason"], "length");
    assert!(out["chat_stream_pieces"].as_u64().unwrap() >= 2, "{out}");
    assert_eq!(out["chat_stream_text_matches"], true);
    assert_eq!(out["generate_done"], true);
    assert!(
        out["generate_stream_pieces"].as_u64().unwrap() >= 2,
        "{out}"
    );
    assert_eq!(out["tags"], json!([MODEL]));
    assert_eq!(out["ps"], json!([MODEL]));
    assert_eq!(out["show_family"], "qwen3");
    assert_eq!(out["embed_count"], 2);
    assert_eq!(out["embed_dims"], 16);
    assert_eq!(
        out["unknown_model"],
        json!({"status": 404, "names_model": true})
    );
    assert_eq!(
        out["bad_option"],
        json!({"status": 400, "names_field": true})
    );
    assert_eq!(
        out["absurd_num_ctx"],
        json!({"status": 400, "names_field": true})
    );
    net.shutdown().await;
}
