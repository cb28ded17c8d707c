#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The mock worker answers what the load harness and the gateway's health checker ask of it.

use std::time::Duration;

use gonka_benches::mock_worker::{serve, MockConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn start(
    config: MockConfig,
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, async {
        let _ = rx.await;
    }));
    (base, tx, task)
}

fn config(tokens: usize) -> MockConfig {
    MockConfig {
        model: "m/one".into(),
        latency: Duration::ZERO,
        tokens,
    }
}

#[tokio::test]
async fn chat_completion_without_stream_is_one_json_answer_with_usage() {
    let (base, stop, task) = start(config(3)).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(
            &serde_json::json!({"model": "m/one", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "m/one");
    assert_eq!(body["choices"][0]["message"]["content"], "tok0 tok1 tok2 ");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn streamed_chat_completion_sends_role_tokens_finish_and_done_events() {
    let (base, stop, task) = start(config(2)).await;
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m/one", "stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(events.len(), 5, "{text}");
    assert_eq!(events[4], "[DONE]");
    let content: String = events[..4]
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(e).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "tok0 tok1 ");
    let last: serde_json::Value = serde_json::from_str(events[3]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stream_asking_include_usage_gets_a_usage_event_before_done() {
    let (base, stop, task) = start(config(2)).await;
    let client = reqwest::Client::new();
    let events = |text: String| -> Vec<String> {
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap().to_owned())
            .collect()
    };
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m/one", "stream": true,
            "stream_options": {"include_usage": true}, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let with = events(r.text().await.unwrap());
    assert_eq!(with.len(), 6, "{with:?}");
    assert_eq!(with[5], "[DONE]");
    let usage: serde_json::Value = serde_json::from_str(&with[4]).unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 2);
    assert_eq!(usage["usage"]["prompt_tokens"], 8);
    // Without include_usage no event carries usage.
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m/one", "stream": true,
            "stream_options": {"include_usage": false}, "messages": []}))
        .send()
        .await
        .unwrap();
    let without = events(r.text().await.unwrap());
    assert_eq!(without.len(), 5, "{without:?}");
    assert!(
        without.iter().all(|e| !e.contains("\"usage\"")),
        "{without:?}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn management_endpoints_report_a_healthy_inference_node_serving_the_model() {
    let (base, stop, task) = start(config(1)).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let state: serde_json::Value = client
        .get(format!("{base}/api/v1/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"], "INFERENCE");
    assert_eq!(state["loaded_model"], "m/one");
    assert_eq!(state["inference_healthy"], true);
    let models: serde_json::Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "m/one");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_body_and_unknown_paths_answer_with_an_error_message() {
    let (base, stop, task) = start(config(1)).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    let r = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_gateway_routes_to_a_mock_worker_registered_as_a_node() {
    let worker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = worker.local_addr().unwrap().port();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        worker,
        MockConfig {
            latency: Duration::ZERO,
            ..MockConfig::default()
        },
        async {
            let _ = rx.await;
        },
    ));
    let registry = std::sync::Arc::new(gonka_core::MemoryRegistry::new());
    gonka_core::NodeRegistry::upsert(
        registry.as_ref(),
        gonka_core::NodeConfig::new("w1", gonka_benches::MODEL)
            .at("127.0.0.1", port, port)
            .max_concurrent(8),
    )
    .await
    .unwrap();
    let mut config = gonka_gateway::GatewayConfig::new(registry);
    config.health_interval = Duration::from_millis(50);
    config.queue_timeout = Duration::from_secs(5);
    let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = format!("http://{}", public.local_addr().unwrap());
    let (gw_stop, gw_rx) = oneshot::channel::<()>();
    let gw_task = tokio::spawn(gonka_gateway::run(
        config,
        gonka_gateway::Listeners {
            public,
            admin: None,
            poc: None,
        },
        async {
            let _ = gw_rx.await;
        },
    ));
    let client = reqwest::Client::new();
    let mut last = None;
    for _ in 0..100 {
        let r = client
            .post(format!("{gw}/v1/chat/completions"))
            .json(&serde_json::json!({"model": gonka_benches::MODEL, "messages": [{"role": "user", "content": "hi"}]}))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            let body: serde_json::Value = r.json().await.unwrap();
            last = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = last.expect("the gateway never routed to the mock worker");
    assert_eq!(body["object"], "chat.completion");
    gw_stop.send(()).unwrap();
    let _ = gw_task.await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
