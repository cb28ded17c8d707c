//! The embedded gateway routes OpenAI requests to fake ML nodes by the example's own scheduler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gonka_core::{MemoryRegistry, NodeRegistry, Scheduler};
use gonka_examples::embed_gateway::{start, PreferPrefix};
use gonka_examples::fake_mlnode::FakeMlNode;
use gonka_gateway::{Listeners, RunningGateway};
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// Waits (bounded) until `n` nodes are routable for the model.
async fn wait_routable(gw: &RunningGateway, n: usize) {
    for _ in 0..500 {
        let routable = gw
            .pool
            .snapshot()
            .iter()
            .filter(|s| s.view.routable() && s.view.serves(MODEL))
            .count();
        if routable == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} nodes never became routable");
}

async fn chat(gw: &RunningGateway) -> String {
    let body: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_example_scheduler_passes_the_scheduler_suite() {
    gonka_core::testing::scheduler_suite(&PreferPrefix::new("n1"));
}

#[test]
fn the_example_scheduler_prefers_its_label_then_the_least_loaded() {
    let s = PreferPrefix::new("fast-");
    let view = |id: &str, in_flight: u32| gonka_core::NodeView {
        in_flight,
        ..gonka_core::testing::scheduler::ready(id, MODEL)
    };
    let request = gonka_core::RequestInfo::for_model(MODEL);
    let nodes = [view("slow-1", 0), view("fast-1", 3), view("fast-2", 2)];
    assert_eq!(s.pick(&request, &nodes), Some(2));
    let nodes = [view("slow-1", 1), view("fast-1", 4), view("slow-2", 0)];
    assert_eq!(
        s.pick(&request, &nodes),
        Some(2),
        "no preferred node has a slot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_honours_the_custom_schedulers_picks() {
    let slow = FakeMlNode::start("slow-1", MODEL).await.unwrap();
    let fast = FakeMlNode::start("fast-1", MODEL).await.unwrap();
    let registry = Arc::new(MemoryRegistry::new());
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: None,
        poc: None,
    };
    let gw = start(registry.clone(), "fast-", listeners).unwrap();
    assert_eq!(gw.pool.scheduler().name(), "prefer-prefix");
    // Registered first: the default least-busy policy would pick `slow-1` on every tie.
    registry.upsert(slow.config("slow-1", 4)).await.unwrap();
    registry.upsert(fast.config("fast-1", 4)).await.unwrap();
    wait_routable(&gw, 2).await;
    for _ in 0..5 {
        assert_eq!(chat(&gw).await, "served by fast-1");
    }
    assert_eq!((fast.served(), slow.served()), (5, 0));
    // Without a preferred node, the scheduler falls back to the others.
    registry.delete("fast-1").await.unwrap();
    wait_routable(&gw, 1).await;
    assert_eq!(chat(&gw).await, "served by slow-1");
    assert_eq!((fast.served(), slow.served()), (5, 1));
    gw.shutdown().await;
}
