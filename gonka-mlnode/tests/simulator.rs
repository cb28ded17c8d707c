//! The simulator as a standalone OpenAI-compatible server over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{client, eventually, sse_data, sse_text};
use gonka_mlnode::simulator::{self, FaultConfig, Simulator, SimulatorConfig};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Sim {
    url: String,
    sim: Arc<Simulator>,
    _stop: oneshot::Sender<()>,
}

async fn start(config: SimulatorConfig) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(config);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(simulator::serve(listener, Arc::clone(&sim), async {
        let _ = rx.await;
    }));
    Sim {
        url,
        sim,
        _stop: tx,
    }
}

async fn post(url: &str, body: Value) -> reqwest::Response {
    client().post(url).json(&body).send().await.unwrap()
}

fn chat(stream: bool, max_tokens: Option<u32>) -> Value {
    let mut body = json!({
        "model": "sim-model",
        "messages": [{"role": "user", "content": "say something"}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    });
    if let Some(n) = max_tokens {
        body["max_tokens"] = json!(n);
    }
    body
}

#[tokio::test]
async fn models_lists_the_configured_model() {
    let s = start(SimulatorConfig {
        model: "tiny".into(),
        ..SimulatorConfig::default()
    })
    .await;
    let body: Value = client()
        .get(format!("{}/v1/models", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["id"], "tiny");
    assert_eq!(body["object"], "list");
}

#[tokio::test]
async fn streamed_chat_equals_the_non_streamed_text_and_ends_with_done() {
    let s = start(SimulatorConfig {
        output_tokens: 12,
        ..SimulatorConfig::default()
    })
    .await;
    let url = format!("{}/v1/chat/completions", s.url);
    let full: Value = post(&url, chat(false, None)).await.json().await.unwrap();
    let text = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text.split(' ').count(), 12);
    assert_eq!(full["usage"]["completion_tokens"], 12);
    assert_eq!(full["choices"][0]["finish_reason"], "stop");

    let r = post(&url, chat(true, None)).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_data(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!(sse_text(&events), text);
    // role chunk + 12 tokens + finish chunk + usage chunk + [DONE]
    assert_eq!(events.len(), 1 + 12 + 1 + 1 + 1);
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 12);
    assert_eq!(
        usage["usage"]["total_tokens"],
        usage["usage"]["prompt_tokens"].as_u64().unwrap() + 12
    );
    let finish: Value = serde_json::from_str(&events[events.len() - 3]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn max_tokens_caps_the_answer_with_finish_reason_length() {
    let s = start(SimulatorConfig::default()).await;
    let full: Value = post(
        &format!("{}/v1/chat/completions", s.url),
        chat(false, Some(3)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(full["usage"]["completion_tokens"], 3);
    assert_eq!(full["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn output_depends_only_on_the_seed() {
    let s = start(SimulatorConfig::default()).await;
    let url = format!("{}/v1/chat/completions", s.url);
    let mut texts = Vec::new();
    for seed in [1, 1, 2] {
        let mut body = chat(false, None);
        body["seed"] = json!(seed);
        let v: Value = post(&url, body).await.json().await.unwrap();
        texts.push(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(texts[0], texts[1]);
    assert_ne!(texts[0], texts[2]);
}

#[tokio::test]
async fn completions_stream_and_not() {
    let s = start(SimulatorConfig {
        output_tokens: 5,
        ..SimulatorConfig::default()
    })
    .await;
    let url = format!("{}/v1/completions", s.url);
    let full: Value = post(&url, json!({"prompt": "once upon a time"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["object"], "text_completion");
    assert_eq!(full["usage"]["prompt_tokens"], 4);
    let text = full["choices"][0]["text"].as_str().unwrap().to_owned();
    let events = sse_data(
        &post(&url, json!({"prompt": "once upon a time", "stream": true}))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(sse_text(&events), text);
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn malformed_requests_are_400_in_openai_error_shape() {
    let s = start(SimulatorConfig::default()).await;
    let r = client()
        .post(format!("{}/v1/chat/completions", s.url))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let r = post(
        &format!("{}/v1/chat/completions", s.url),
        json!({"messages": []}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));
}

#[tokio::test]
async fn error_rate_one_answers_500_in_openai_shape() {
    let faults = FaultConfig {
        error_rate: 1.0,
        ..FaultConfig::default()
    };
    let s = start(SimulatorConfig {
        faults,
        ..SimulatorConfig::default()
    })
    .await;
    let r = post(&format!("{}/v1/chat/completions", s.url), chat(false, None)).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "simulated_error");
    assert_eq!(s.sim.in_flight(), 0);
}

#[tokio::test]
async fn crash_cuts_the_stream_after_n_tokens_without_done() {
    let faults = FaultConfig {
        crash_rate: 1.0,
        crash_after_tokens: 2,
        ..FaultConfig::default()
    };
    // With some latency the sent tokens reach the client before the cut (with none, the cut can
    // come before hyper flushes the headers).
    let s = start(SimulatorConfig {
        faults,
        inter_token_latency: Duration::from_millis(20),
        ..SimulatorConfig::default()
    })
    .await;
    let r = post(&format!("{}/v1/chat/completions", s.url), chat(true, None)).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut body = Vec::new();
    let mut failed = false;
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => body.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end with an error, not cleanly");
    let events = sse_data(&String::from_utf8_lossy(&body));
    assert!(!events.iter().any(|e| e == "[DONE]"));
    assert_eq!(events.len(), 1 + 2, "role chunk and two tokens: {events:?}");
}

#[tokio::test]
async fn hang_holds_the_request_until_the_client_leaves() {
    let faults = FaultConfig {
        hang_rate: 1.0,
        ..FaultConfig::default()
    };
    let s = start(SimulatorConfig {
        faults,
        ..SimulatorConfig::default()
    })
    .await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = c
        .post(format!("{}/v1/chat/completions", s.url))
        .json(&chat(false, None))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    eventually("in-flight back to 0 after the client left", || async {
        (s.sim.in_flight() == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn faults_can_be_changed_at_run_time() {
    let s = start(SimulatorConfig::default()).await;
    let r = client()
        .put(format!("{}/sim/faults", s.url))
        .json(&json!({"error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        post(&format!("{}/v1/chat/completions", s.url), chat(false, None))
            .await
            .status(),
        500
    );
    let bad = client()
        .put(format!("{}/sim/faults", s.url))
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let stats: Value = client()
        .get(format!("{}/sim/stats", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(stats["requests_total"], 1);
}

#[tokio::test]
async fn requests_beyond_max_concurrency_are_queued_not_refused() {
    let config = SimulatorConfig {
        max_concurrency: 1,
        inter_token_latency: Duration::from_millis(5),
        output_tokens: 8,
        ..SimulatorConfig::default()
    };
    let s = start(config).await;
    let url = format!("{}/v1/chat/completions", s.url);
    let requests = (0..4).map(|_| post(&url, chat(true, None)));
    let responses = futures::future::join_all(requests).await;
    for r in responses {
        assert_eq!(r.status(), 200);
        let events = sse_data(&r.text().await.unwrap());
        assert_eq!(events.last().unwrap(), "[DONE]");
    }
    assert_eq!(s.sim.in_flight(), 0);
    assert_eq!(s.sim.requests_total(), 4);
}

#[tokio::test]
async fn serve_simulator_stops_when_shutdown_resolves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(simulator::serve_simulator(
        listener,
        SimulatorConfig::default(),
        async {
            let _ = rx.await;
        },
    ));
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
