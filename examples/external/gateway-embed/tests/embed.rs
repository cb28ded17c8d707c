//! gonka-gateway without default features, embedded with this crate's own scheduler, serves
//! OpenAI requests to fake ML nodes on loopback and follows the scheduler's picks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use gateway_embed::LastById;
use gonka_core::{MemoryRegistry, NodeConfig, NodeRegistry};
use gonka_gateway::{Gateway, GatewayConfig, Listeners, RunningGateway};
use serde_json::{json, Value};

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// A fake ML node: the management calls the gateway makes, and chat completions that say which
/// node served them. Returns its registry configuration and its count of answers.
async fn fake_node(id: &'static str) -> (NodeConfig, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let mgmt = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = NodeConfig::new(id, MODEL)
        .at(
            "127.0.0.1",
            inference.local_addr().unwrap().port(),
            mgmt.local_addr().unwrap().port(),
        )
        .max_concurrent(4);
    let ok = || async { Json(json!({"status": "OK"})) };
    let mgmt_app = Router::new()
        .route("/health", get(ok))
        .route(
            "/api/v1/state",
            get(|| async { Json(json!({"state": "INFERENCE", "loaded_model": MODEL})) }),
        )
        .route("/api/v1/inference/up", post(ok))
        .route("/api/v1/stop", post(ok));
    let inference_app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state((id, served.clone()));
    tokio::spawn(async move { axum::serve(mgmt, mgmt_app).await });
    tokio::spawn(async move { axum::serve(inference, inference_app).await });
    (config, served)
}

async fn chat(
    State((id, served)): State<(&'static str, Arc<AtomicUsize>)>,
    Json(request): Json<Value>,
) -> Json<Value> {
    served.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": id}, "finish_reason": "stop"}]
    }))
}

async fn ask(gw: &RunningGateway) -> String {
    let answer: Value = reqwest::Client::builder()
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
    answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_scheduler_passes_the_conformance_suite() {
    gonka_core::testing::scheduler_suite(&LastById);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_gateway_routes_by_this_crates_scheduler() {
    let (a, served_a) = fake_node("node-a").await;
    let (b, served_b) = fake_node("node-b").await;
    let registry = Arc::new(MemoryRegistry::new());
    let mut config = GatewayConfig::new(registry.clone());
    config.health_interval = Duration::from_millis(100);
    let gw = Gateway::builder(config)
        .registry(registry.clone())
        .scheduler(Arc::new(LastById))
        .start(Listeners {
            public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: None,
        })
        .unwrap();
    registry.upsert(a).await.unwrap();
    registry.upsert(b).await.unwrap();
    // Wait (bounded) until both nodes passed a health check.
    let mut routable = 0;
    for _ in 0..500 {
        routable = gw
            .pool
            .snapshot()
            .iter()
            .filter(|s| s.view.routable())
            .count();
        if routable == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(routable, 2, "both nodes routable");
    // The built-in default (least-busy) would pick node-a, registered first, on every tie.
    for _ in 0..4 {
        assert_eq!(ask(&gw).await, "node-b");
    }
    assert_eq!(served_a.load(Ordering::SeqCst), 0);
    assert_eq!(served_b.load(Ordering::SeqCst), 4);
    gw.shutdown().await;
}
