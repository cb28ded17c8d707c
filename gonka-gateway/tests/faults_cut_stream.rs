//! A node that dies part way through an answer: the client gets an OpenAI-shaped error naming
//! the node, in a response that ends properly (an SSE error event then `data: [DONE]` and the
//! terminating chunk for a stream; a clean 502 for a non-streamed answer), never a truncated
//! body. The answer is not run again on another node; a request that had not started on the
//! dying node is (see also `faults.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::fake_mlnode::{Cut, FakeMlNode, FakeOptions};
use common::*;
use serde_json::Value;

/// A streamed chat completion read whole: status and body. Panics when the body does not end
/// properly (a truncated chunked body is an error here).
async fn stream_whole(addr: SocketAddr) -> (u16, String) {
    let resp = client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&chat_body(MODEL, true))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .expect("the body ends properly (terminating chunk), not cut");
    (status, body)
}

/// The `data:` payloads of an SSE body, in order.
fn data_events(body: &str) -> Vec<&str> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap_or(e))
        .collect()
}

/// Two nodes, `a` registered first (so an idle pool picks it), both routable.
async fn two_nodes() -> (FakeMlNode, FakeMlNode, gonka_gateway::RunningGateway) {
    let a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 4)).await;
    register(&registry, b.config("b", 4)).await;
    wait_routable(&gw, MODEL, 2).await;
    (a, b, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_cut_by_a_dying_node_ends_with_an_error_event_naming_the_node_then_done() {
    let (a, b, gw) = two_nodes().await;
    a.state.set_cut(Some(Cut::AfterEvents(2)));

    let (status, body) = stream_whole(gw.public_addr).await;
    assert_eq!(status, 200, "{body}");
    let events = data_events(&body);
    assert_eq!(events.len(), 4, "two tokens, the error, [DONE]: {body}");
    for token in &events[..2] {
        let v: Value = serde_json::from_str(token).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk", "{body}");
    }
    let error: Value = serde_json::from_str(events[2]).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("node a failed mid-stream"),
        "the error names the node and the failure: {message}"
    );
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(error["error"]["code"], "upstream_error");
    assert_eq!(events[3], "[DONE]");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    // The answer had started on `a`: it is not generated again elsewhere.
    assert_eq!(a.state.received(), 1);
    assert_eq!(b.state.received(), 0);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_cut_inside_an_event_passes_on_only_whole_events_before_the_error() {
    let (a, _b, gw) = two_nodes().await;
    a.state.set_cut(Some(Cut::MidEvent(3)));

    let (status, body) = stream_whole(gw.public_addr).await;
    assert_eq!(status, 200, "{body}");
    let events = data_events(&body);
    assert_eq!(events.len(), 5, "three tokens, the error, [DONE]: {body}");
    // Every event parses: the half event the node sent before dying was held back.
    for event in &events[..4] {
        let _: Value = serde_json::from_str(event)
            .unwrap_or_else(|e| panic!("{e}: event {event:?} of {body}"));
    }
    assert!(events[3].contains("node a failed mid-stream"), "{body}");
    assert_eq!(events[4], "[DONE]");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_non_streamed_answer_cut_part_way_is_a_clean_502_naming_the_node() {
    let (a, b, gw) = two_nodes().await;
    a.state.set_cut(Some(Cut::AfterEvents(1)));

    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("a complete error body");
    assert_eq!(status, 502, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("node a failed mid-response"), "{message}");
    assert_eq!(error["error"]["code"], "upstream_error");
    assert_eq!(a.state.received(), 1);
    assert_eq!(b.state.received(), 0, "a started answer is not run again");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openai_python_sdk_raises_an_api_error_naming_the_node_when_a_stream_is_cut() {
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    let (a, _b, gw) = two_nodes().await;
    a.state.set_cut(Some(Cut::AfterEvents(2)));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/cut_stream.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("http://{}/v1", gw.public_addr))
        .arg(MODEL)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["error_class"], "APIError", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("node a failed mid-stream"),
        "{out}"
    );
    assert_eq!(
        out["pieces"],
        serde_json::json!(["tok0 ", "tok1 "]),
        "{out}"
    );
    gw.shutdown().await;
}
