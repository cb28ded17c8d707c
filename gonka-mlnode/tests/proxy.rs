//! The inference proxy over real HTTP, in front of the simulator engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{eventually, sse_data, sse_text, Node};
use futures::StreamExt;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn slow_sim(itl_ms: u64, tokens: u32) -> SimulatorConfig {
    SimulatorConfig {
        inter_token_latency: Duration::from_millis(itl_ms),
        output_tokens: tokens,
        ..SimulatorConfig::default()
    }
}

async fn node_with_model(config: MlNodeConfig) -> Node {
    let node = Node::start(MlNodeConfig {
        model: Some("sim-model".into()),
        ..config
    })
    .await;
    node.wait_inference_healthy().await;
    node
}

async fn sim_stats(node: &Node, base_url: &str) -> Value {
    node.client
        .get(format!("{base_url}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_engine_up_answers_503_in_openai_error_shape() {
    let node = Node::start(MlNodeConfig::default()).await;
    let r = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no inference engine"));
    assert_eq!(body["error"]["type"], "service_unavailable_error");
    assert!(body["error"]["code"].is_string());
    let health = node
        .client
        .get(format!("{}/health", node.inference))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn proxy_serves_models_and_health_once_up_and_404s_other_paths() {
    let node = node_with_model(MlNodeConfig::default()).await;
    let models: Value = node
        .client
        .get(format!("{}/v1/models", node.inference))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "sim-model");
    let health = node
        .client
        .get(format!("{}/health", node.inference))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let other = node
        .client
        .get(format!("{}/admin", node.inference))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    node.stop().await.unwrap();
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[tokio::test]
async fn raw_http_stream_through_the_proxy_delivers_every_token() {
    let node = node_with_model(MlNodeConfig::default()).await;
    let request = json!({
        "model": "sim-model",
        "messages": [{"role": "user", "content": "count for me"}],
        "max_tokens": 10,
        "seed": 7,
    });
    // The same request without streaming gives the reference text.
    let full: Value = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(full["usage"]["completion_tokens"], 10);

    let mut streaming = request.clone();
    streaming["stream"] = json!(true);
    let body = serde_json::to_vec(&streaming).unwrap();
    let addr = node.inference.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: text/event-stream"),
        "{headers}"
    );
    let payload = if headers.contains("transfer-encoding: chunked") {
        dechunk(&raw[split + 4..])
    } else {
        raw[split + 4..].to_vec()
    };
    let events = sse_data(&String::from_utf8(payload).unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let tokens = events
        .iter()
        .filter(|e| e.contains("\"content\":\"") && !e.contains("\"role\""))
        .count();
    assert_eq!(tokens, 10);
    assert_eq!(sse_text(&events), expected);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_engine_request() {
    let config = MlNodeConfig {
        simulator: slow_sim(20, 10_000),
        ..MlNodeConfig::default()
    };
    let node = node_with_model(config).await;
    let base_url = node.state().await["replicas"][0]["base_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"messages": [{"role": "user", "content": "long"}], "stream": true}))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    assert_eq!(sim_stats(&node, &base_url).await["in_flight"], 1);
    assert_eq!(node.state().await["replicas"][0]["in_flight"], 1);
    drop(stream);
    eventually(
        "engine in-flight back to 0 after the client left",
        || async { (sim_stats(&node, &base_url).await["in_flight"] == 0).then_some(()) },
    )
    .await;
    eventually("proxy in-flight back to 0", || async {
        (node.state().await["replicas"][0]["in_flight"] == 0).then_some(())
    })
    .await;
    node.stop().await.unwrap();
}

#[tokio::test]
async fn requests_go_to_the_replica_with_the_fewest_connections() {
    let config = MlNodeConfig {
        simulator: slow_sim(20, 10_000),
        replicas: 2,
        ..MlNodeConfig::default()
    };
    let node = node_with_model(config).await;
    let state = node.state().await;
    let urls: Vec<String> = state["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["base_url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_ne!(urls[0], urls[1]);
    // One long stream occupies a replica...
    let long = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"messages": [{"role": "user", "content": "long"}], "stream": true}))
        .send()
        .await
        .unwrap();
    let mut long = long.bytes_stream();
    long.next().await.unwrap().unwrap();
    // ...so every short request goes to the other one.
    for _ in 0..3 {
        let r = node
            .client
            .post(format!("{}/v1/chat/completions", node.inference))
            .json(&json!({"messages": [{"role": "user", "content": "short"}], "max_tokens": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let mut totals = Vec::new();
    for url in &urls {
        totals.push(
            sim_stats(&node, url).await["requests_total"]
                .as_u64()
                .unwrap(),
        );
    }
    totals.sort_unstable();
    assert_eq!(totals, [1, 3]);
    drop(long);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn equally_loaded_replicas_share_sequential_requests() {
    let config = MlNodeConfig {
        replicas: 2,
        ..MlNodeConfig::default()
    };
    let node = node_with_model(config).await;
    for _ in 0..4 {
        let r = node
            .client
            .post(format!("{}/v1/chat/completions", node.inference))
            .json(&json!({"messages": [{"role": "user", "content": "short"}], "max_tokens": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let state = node.state().await;
    for replica in state["replicas"].as_array().unwrap() {
        let url = replica["base_url"].as_str().unwrap();
        assert_eq!(sim_stats(&node, url).await["requests_total"], 2, "{url}");
    }
    node.stop().await.unwrap();
}

/// The open stream would run for 400 × 20 ms = 8 s; the drain time is 200 ms. `run` must return
/// by cutting the stream, so the client never sees it complete: if `run` waited for the stream
/// (the regression), the stream would end with `[DONE]` before `stop` returned and this fails.
#[tokio::test]
async fn run_returns_promptly_on_shutdown_even_with_an_open_stream() {
    let config = MlNodeConfig {
        simulator: slow_sim(20, 400),
        drain_timeout: Duration::from_millis(200),
        ..MlNodeConfig::default()
    };
    let node = node_with_model(config).await;
    let response = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"messages": [{"role": "user", "content": "long"}], "stream": true}))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    node.stop().await.unwrap();
    // `run` has returned; read what is left of the stream (bounded: at most 400 chunks).
    let mut rest = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        rest.extend_from_slice(&chunk);
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("[DONE]"),
        "the stream completed before run returned: shutdown waited for it"
    );
}
