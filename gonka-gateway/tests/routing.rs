//! Routing through the gateway to fake ML nodes (real HTTP servers on loopback).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use futures::StreamExt;
use serde_json::Value;

async fn post_chat(gw: &gonka_gateway::RunningGateway, body: &Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Reads an SSE response until its first data chunk arrives; returns the stream for the rest.
async fn first_chunk(
    resp: reqwest::Response,
) -> futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>> {
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream().boxed();
    let chunk = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&chunk).starts_with("data: "));
    stream
}

async fn read_rest(
    mut stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
) -> String {
    let mut out = String::new();
    while let Some(chunk) = stream.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_streams_spread_four_per_node_and_a_thirteenth_waits_then_is_served() {
    let nodes: Vec<FakeMlNode> = (0..3)
        .map(|_| {
            FakeMlNode::start(FakeOptions {
                gated: true,
                ..FakeOptions::serving(MODEL)
            })
        })
        .collect();
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    for (i, n) in nodes.iter().enumerate() {
        register(&registry, n.config(&format!("node{i}"), 4)).await;
    }
    wait_routable(&gw, MODEL, 3).await;

    let mut streams = Vec::new();
    for _ in 0..12 {
        streams.push(first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await);
    }
    for n in &nodes {
        assert_eq!(n.state.active(), 4, "each node holds exactly 4 streams");
    }

    let gw_addr = gw.public_addr;
    let thirteenth = tokio::spawn(async move {
        let resp = client()
            .post(format!("http://{gw_addr}/v1/chat/completions"))
            .json(&chat_body(MODEL, true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    });
    eventually("the 13th request waits in the queue", || async {
        gw.pool.queue_depth() == 1
    })
    .await;
    for n in &nodes {
        assert_eq!(n.state.active(), 4, "no node goes above max_concurrent");
    }
    assert!(!thirteenth.is_finished());

    // One node's streams finish: the 13th is served there.
    nodes[1].state.open_gate();
    let body = tokio::time::timeout(Duration::from_secs(10), thirteenth)
        .await
        .expect("13th served after a slot freed")
        .unwrap();
    assert!(
        body.contains("tok0") && body.ends_with("data: [DONE]\n\n"),
        "{body}"
    );
    assert_eq!(nodes[1].state.received(), 5);

    for n in &nodes {
        n.state.open_gate();
    }
    for s in streams {
        let rest = read_rest(s).await;
        assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    }
    for n in &nodes {
        assert_eq!(n.state.max_active.load(Ordering::SeqCst), 4);
    }
    assert_eq!(gw.pool.queue_depth(), 0);
    eventually("every slot released", || async { gw.pool.in_flight() == 0 }).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn streamed_chunks_arrive_before_the_upstream_finishes() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    // The upstream sends its first token, then waits for the gate: we must see that token now.
    let stream = first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await;
    assert_eq!(node.state.active(), 1, "upstream still generating");
    node.state.open_gate();
    assert!(read_rest(stream).await.contains("tok4"));
    gw.shutdown().await;
}

#[tokio::test]
async fn queue_timeout_answers_503_in_openai_error_shape() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.queue_timeout = Duration::from_millis(300);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 1)).await;
    wait_routable(&gw, MODEL, 1).await;
    let _held = first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await;
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_capacity");
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"]["message"].as_str().unwrap().contains(MODEL));
    node.state.open_gate();
    gw.shutdown().await;
}

#[tokio::test]
async fn a_full_holding_queue_answers_429() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.queue_capacity = 1;
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 1)).await;
    wait_routable(&gw, MODEL, 1).await;
    let _held = first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await;
    let addr = gw.public_addr;
    let waiting = tokio::spawn(async move {
        client()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&chat_body(MODEL, false))
            .send()
            .await
            .unwrap()
            .status()
    });
    eventually("one request queued", || async {
        gw.pool.queue_depth() == 1
    })
    .await;
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full");
    node.state.open_gate();
    assert_eq!(waiting.await.unwrap(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn non_streaming_chat_and_text_completions_are_proxied() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "tok tok tok tok tok "
    );
    let resp = client()
        .post(format!("http://{}/v1/completions", gw.public_addr))
        .json(&serde_json::json!({"model": MODEL, "prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(node.state.received(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_model_and_bad_bodies_answer_4xx_in_openai_shape() {
    let gw = start(test_config()).await;
    let resp = post_chat(&gw, &chat_body("nobody/serves-this", false)).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nobody/serves-this"));

    let resp = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));

    let resp = post_chat(&gw, &serde_json::json!({"messages": []})).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("model"));
    gw.shutdown().await;
}

#[tokio::test]
async fn oversized_body_answers_413() {
    let mut config = test_config();
    config.body_limit = 1024;
    let gw = start(config).await;
    let big = serde_json::json!({"model": MODEL, "prompt": "x".repeat(4096)});
    let resp = client()
        .post(format!("http://{}/v1/completions", gw.public_addr))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("1024"));
    gw.shutdown().await;
}

#[tokio::test]
async fn fallback_model_serves_when_the_primary_has_no_eligible_node() {
    let other = FakeMlNode::start(FakeOptions::serving(OTHER_MODEL));
    let mut config = test_config();
    config
        .add_fallback(&format!("{MODEL}={OTHER_MODEL}"))
        .unwrap();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, other.config("other", 2)).await;
    wait_routable(&gw, OTHER_MODEL, 1).await;
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["model"], OTHER_MODEL,
        "the fallback model was asked for"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn api_keys_are_required_when_configured() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    config.api_keys = gonka_gateway::config::parse_api_keys("sk-good\n");
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    let resp = client()
        .post(&url)
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let resp = client()
        .post(&url)
        .bearer_auth("sk-bad")
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client()
        .post(&url)
        .bearer_auth("sk-good")
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Health and metrics stay open for probes and scrapers.
    let resp = client()
        .get(format!("http://{}/health", gw.public_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let gw = start(test_config()).await;
    let resp = client()
        .get(format!("http://{}/v1/models", gw.public_addr))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-123");
    let resp = client()
        .get(format!("http://{}/v1/models", gw.public_addr))
        .send()
        .await
        .unwrap();
    assert!(!resp.headers()["x-request-id"].is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn models_lists_only_models_with_an_eligible_node() {
    let up = FakeMlNode::start(FakeOptions::serving(MODEL));
    let down = FakeMlNode::start(FakeOptions {
        state: "STOPPED",
        ..FakeOptions::serving(OTHER_MODEL)
    });
    down.state.hang_up.store(true, Ordering::SeqCst);
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, up.config("up", 2)).await;
    register(&registry, down.config("down", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let body: Value = client()
        .get(format!("http://{}/v1/models", gw.public_addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![MODEL]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_5xx_before_the_first_byte_is_retried_on_another_node() {
    let a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let b = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 2)).await;
    register(&registry, b.config("b", 2)).await;
    wait_routable(&gw, MODEL, 2).await;
    // least-busy breaks ties by registration order: the first try goes to `a`, which fails.
    a.state.fail_next.store(1, Ordering::SeqCst);
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(a.state.received(), 1);
    assert_eq!(b.state.received(), 1);
    let metrics = client()
        .get(format!("http://{}/metrics", gw.public_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "gonka_gateway_retries_total{{model=\"{MODEL}\"}} 1"
        )),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn when_every_try_fails_the_last_upstream_error_is_returned() {
    let a = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a.config("a", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    a.state.fail_next.store(10, Ordering::SeqCst);
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.unwrap(), "injected failure");
    // Only one node: no point retrying it.
    assert_eq!(a.state.received(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_and_frees_the_slot() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 1)).await;
    wait_routable(&gw, MODEL, 1).await;
    let stream = first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await;
    assert_eq!(gw.pool.in_flight(), 1);
    drop(stream);
    eventually("upstream stream cancelled", || async {
        node.state.active() == 0
    })
    .await;
    eventually("slot released", || async { gw.pool.in_flight() == 0 }).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_expose_requests_latency_ttft_and_node_gauges() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 2)).await;
    wait_routable(&gw, MODEL, 1).await;
    let resp = post_chat(&gw, &chat_body(MODEL, true)).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let metrics = client()
        .get(format!("http://{}/metrics", gw.public_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        format!("gonka_gateway_requests_total{{model=\"{MODEL}\",node=\"n1\",status=\"200\"}} 1"),
        format!("gonka_gateway_request_duration_seconds_count{{model=\"{MODEL}\"}} 1"),
        format!("gonka_gateway_time_to_first_token_seconds_count{{model=\"{MODEL}\"}} 1"),
        "gonka_gateway_in_flight{node=\"n1\"} 0".to_owned(),
        "gonka_gateway_node_healthy{node=\"n1\"} 1".to_owned(),
        "gonka_gateway_breaker_open{node=\"n1\"} 0".to_owned(),
        "gonka_gateway_queue_depth 0".to_owned(),
    ] {
        assert!(metrics.contains(&needle), "missing {needle} in\n{metrics}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn policies_route_through_the_whole_gateway() {
    for policy in gonka_gateway::schedule::POLICIES {
        let nodes: Vec<FakeMlNode> = (0..2)
            .map(|_| FakeMlNode::start(FakeOptions::serving(MODEL)))
            .collect();
        let mut config = test_config();
        config.scheduler = gonka_gateway::scheduler_by_name(policy).unwrap();
        let registry = config.registry.clone();
        let gw = start(config).await;
        for (i, n) in nodes.iter().enumerate() {
            register(&registry, n.config(&format!("n{i}"), 2)).await;
        }
        wait_routable(&gw, MODEL, 2).await;
        for _ in 0..4 {
            let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
            assert_eq!(resp.status(), 200, "{policy}");
        }
        let total: usize = nodes.iter().map(|n| n.state.received()).sum();
        assert_eq!(total, 4, "{policy}");
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn hardware_headers_route_to_nodes_with_that_gpu_and_vram() {
    let a10 = FakeMlNode::start(FakeOptions {
        gpu: Some(("NVIDIA A10", 24_000)),
        ..FakeOptions::serving(MODEL)
    });
    let h100 = FakeMlNode::start(FakeOptions {
        gpu: Some(("NVIDIA H100 80GB HBM3", 81_559)),
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.queue_timeout = Duration::from_millis(200);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a10.config("a10", 4)).await;
    register(&registry, h100.config("h100", 4)).await;
    wait_routable(&gw, MODEL, 2).await;
    eventually("GPU facts learned", || async {
        gw.pool.snapshot().iter().all(|n| n.view.vram_mb.is_some())
    })
    .await;
    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    let send = |header: &'static str, value: &'static str| {
        client()
            .post(&url)
            .header(header, value)
            .json(&chat_body(MODEL, false))
            .send()
    };
    assert_eq!(
        send("x-gonka-gpu-type", "h100").await.unwrap().status(),
        200
    );
    assert_eq!(
        send("x-gonka-min-vram-mb", "40000").await.unwrap().status(),
        200
    );
    assert_eq!(h100.state.received(), 2);
    assert_eq!(a10.state.received(), 0);
    assert_eq!(
        send("x-gonka-gpu-type", "B200").await.unwrap().status(),
        503
    );
    let resp = send("x-gonka-min-vram-mb", "lots").await.unwrap();
    assert_eq!(resp.status(), 400);
    gw.shutdown().await;
}

/// Regression: the retry path decided "another node could take this" with a rule of its own
/// that ignored the GPU/VRAM/engine hints, so a retry of a filtered request waited out the whole
/// queue timeout for a node that could never take it. Now it uses the one eligibility rule: with
/// no other node meeting the hints, the retry does not queue and the upstream error comes back.
#[tokio::test]
async fn a_retry_of_a_filtered_request_does_not_wait_for_nodes_the_hints_exclude() {
    let a10 = FakeMlNode::start(FakeOptions {
        gpu: Some(("NVIDIA A10", 24_000)),
        ..FakeOptions::serving(MODEL)
    });
    let h100 = FakeMlNode::start(FakeOptions {
        gpu: Some(("NVIDIA H100 80GB HBM3", 81_559)),
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    // Long enough that a request waiting it out would outlive the bounded wait below.
    config.queue_timeout = Duration::from_secs(3600);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, a10.config("a10", 4)).await;
    register(&registry, h100.config("h100", 4)).await;
    wait_routable(&gw, MODEL, 2).await;
    eventually("GPU facts learned", || async {
        gw.pool.snapshot().iter().all(|n| n.view.vram_mb.is_some())
    })
    .await;
    h100.state.fail_next.store(10, Ordering::SeqCst);
    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    let request = tokio::spawn(
        client()
            .post(&url)
            .header("x-gonka-gpu-type", "h100")
            .json(&chat_body(MODEL, false))
            .send(),
    );
    // Wait (bounded) until the request is answered or sits in the holding queue.
    let pool = gw.pool.clone();
    eventually("the request answered or queued", || {
        let done = request.is_finished();
        let queued = pool.queue_depth() > 0;
        async move { done || queued }
    })
    .await;
    assert_eq!(
        gw.pool.queue_depth(),
        0,
        "the retry waits in the holding queue for a node its hints exclude"
    );
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.unwrap(), "injected failure");
    assert_eq!(h100.state.received(), 1);
    assert_eq!(a10.state.received(), 0, "the hints exclude the A10");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_try_is_not_retried_because_it_may_still_run() {
    let slow = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let other = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    config.request_timeout = Duration::from_millis(200);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, slow.config("slow", 4)).await;
    register(&registry, other.config("other", 4)).await;
    wait_routable(&gw, MODEL, 2).await;
    // Non-streaming answers of a gated node wait for the gate: no response within the timeout.
    let resp = post_chat(&gw, &chat_body(MODEL, false)).await;
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(slow.state.received(), 1);
    assert_eq!(other.state.received(), 0);
    slow.state.open_gate();
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_that_gives_up_while_queued_leaves_the_queue() {
    let node = FakeMlNode::start(FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    });
    let mut config = test_config();
    config.queue_timeout = Duration::from_secs(30);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 1)).await;
    wait_routable(&gw, MODEL, 1).await;
    let _held = first_chunk(post_chat(&gw, &chat_body(MODEL, true)).await).await;
    let addr = gw.public_addr;
    let queued = tokio::spawn(async move {
        client()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&chat_body(MODEL, false))
            .send()
            .await
    });
    eventually("one request queued", || async {
        gw.pool.queue_depth() == 1
    })
    .await;
    queued.abort();
    eventually("the abandoned request left the queue", || async {
        gw.pool.queue_depth() == 0
    })
    .await;
    assert_eq!(node.state.received(), 1, "nothing was sent upstream for it");
    node.state.open_gate();
    gw.shutdown().await;
}

/// `header_read_timeout` (`--header-read-timeout`) is what the listeners apply: a client that
/// sends half a request head and stalls is disconnected after the configured 300 ms, long before
/// the 30 s default would cut it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_header_read_timeout_disconnects_a_stalled_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = test_config();
    config.header_read_timeout = Duration::from_millis(300);
    let gw = start(config).await;
    let mut stream = tokio::net::TcpStream::connect(gw.public_addr)
        .await
        .unwrap();
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a stalled head was not cut within 10 s with a 300 ms header read timeout"
    );
    gw.shutdown().await;
}
