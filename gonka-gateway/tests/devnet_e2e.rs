//! Devnet end to end: the gateway with real simulated `gonka-mlnode` agents, driven over HTTP and
//! by the `openai` Python SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::client;
use futures::StreamExt;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use gonka_mlnode::simulator::SimulatorConfig;
use serde_json::Value;

const INTER_TOKEN: Duration = Duration::from_millis(40);

async fn start_devnet(nodes: usize) -> devnet::Devnet {
    start_devnet_with(
        nodes,
        SimulatorConfig {
            time_to_first_token: Duration::from_millis(20),
            inter_token_latency: INTER_TOKEN,
            output_tokens: 12,
            ..SimulatorConfig::default()
        },
    )
    .await
}

async fn start_devnet_with(nodes: usize, simulator: SimulatorConfig) -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let mut config = DevnetConfig {
        ml_nodes: nodes,
        max_concurrent: 4,
        simulator,
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    devnet::start(config, listeners).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devnet_serves_streams_incrementally_and_admin_shows_inference() {
    let net = start_devnet(3).await;
    let public = net.gateway.public_addr;
    let admin = net.gateway.admin_addr.unwrap();

    let nodes: Value = client()
        .get(format!("http://{admin}/admin/v1/nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for n in nodes {
        assert_eq!(n["state"]["current_status"], "INFERENCE", "{n}");
    }

    let models: Value = client()
        .get(format!("http://{public}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], devnet::DEFAULT_MODEL);

    let resp = client()
        .post(format!("http://{public}/v1/chat/completions"))
        .json(&serde_json::json!({
            "model": devnet::DEFAULT_MODEL, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    let start = Instant::now();
    while let Some(chunk) = body.next().await {
        arrivals.push(start.elapsed());
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    // 12 tokens 40 ms apart: a buffering proxy would deliver them in one burst. Chunks forwarded
    // as generated span at least part of the generation time.
    assert!(
        arrivals.len() >= 6,
        "chunks arrive separately: {arrivals:?}"
    );
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        spread >= INTER_TOKEN * 5,
        "first chunk long before the last: {spread:?}"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openai_python_sdk_streams_and_non_streams_through_devnet() {
    let Ok(python) = std::env::var("GONKA_PYTHON") else {
        println!("skipped: GONKA_PYTHON unset");
        return;
    };
    let net = start_devnet(2).await;
    let base = format!("http://{}/v1", net.gateway.public_addr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&base)
        .arg(devnet::DEFAULT_MODEL)
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
    assert_eq!(out["models"], serde_json::json!([devnet::DEFAULT_MODEL]));
    assert!(!out["non_stream_content"].as_str().unwrap().is_empty());
    assert_eq!(out["non_stream_model"], devnet::DEFAULT_MODEL);
    let pieces = out["stream_pieces"].as_array().unwrap();
    assert_eq!(pieces.len(), 12, "{out}");
    let arrivals: Vec<f64> = out["stream_arrivals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Tokens arrive incrementally: the first one well before the last was generated.
    assert!(
        arrivals[11] - arrivals[0] >= INTER_TOKEN.as_secs_f64() * 5.0,
        "{arrivals:?}"
    );
    assert_eq!(out["unknown_model_error"], "NotFoundError");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_streams_on_three_simulated_nodes_spread_four_each_and_a_thirteenth_waits() {
    // Each answer takes ~5 s, so all twelve streams are open together.
    let net = start_devnet_with(
        3,
        SimulatorConfig {
            time_to_first_token: Duration::from_millis(10),
            inter_token_latency: Duration::from_millis(500),
            output_tokens: 10,
            ..SimulatorConfig::default()
        },
    )
    .await;
    let public = net.gateway.public_addr;
    let body = serde_json::json!({
        "model": devnet::DEFAULT_MODEL, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let mut streams = Vec::new();
    for _ in 0..12 {
        let resp = client()
            .post(format!("http://{public}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut s = resp.bytes_stream();
        s.next().await.unwrap().unwrap();
        streams.push(s);
    }
    let per_node: Vec<u32> = net
        .gateway
        .pool
        .snapshot()
        .iter()
        .map(|n| n.view.in_flight)
        .collect();
    assert_eq!(per_node, vec![4, 4, 4]);

    let thirteenth = tokio::spawn({
        let body = body.clone();
        async move {
            let resp = client()
                .post(format!("http://{public}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    });
    common::eventually("the 13th waits in the queue", || async {
        net.gateway.pool.queue_depth() == 1
    })
    .await;
    // While it waits, no node goes above its max_concurrent of 4.
    for _ in 0..1500 {
        if thirteenth.is_finished() {
            break;
        }
        for n in net.gateway.pool.snapshot() {
            assert!(n.view.in_flight <= 4, "{:?}", n.view);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, text) = tokio::time::timeout(Duration::from_secs(30), thirteenth)
        .await
        .expect("the 13th is served once a stream ends")
        .unwrap();
    assert_eq!(status, 200);
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    for mut s in streams {
        while let Some(chunk) = s.next().await {
            chunk.unwrap();
        }
    }
    net.shutdown().await;
}
