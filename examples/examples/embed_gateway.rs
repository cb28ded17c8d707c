//! Runs the gateway-embedding example: two loopback fake ML nodes, a gateway routing with the
//! example's `PreferPrefix` scheduler, one OpenAI request, and shutdown.
//!
//! `cargo run -p gonka-examples --example embed_gateway`

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::{MemoryRegistry, NodeRegistry};
use gonka_examples::embed_gateway::start;
use gonka_examples::fake_mlnode::FakeMlNode;
use gonka_gateway::Listeners;

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let slow = FakeMlNode::start("slow-1", MODEL).await?;
    let fast = FakeMlNode::start("fast-1", MODEL).await?;
    let registry = Arc::new(MemoryRegistry::new());
    let gw = start(
        registry.clone(),
        "fast-",
        Listeners {
            public: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            admin: None,
            poc: None,
        },
    )?;
    registry.upsert(slow.config("slow-1", 4)).await?;
    registry.upsert(fast.config("fast-1", 4)).await?;
    // Wait (bounded) for the first health checks.
    for _ in 0..250 {
        if gw
            .pool
            .snapshot()
            .iter()
            .filter(|s| s.view.routable())
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&serde_json::json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await?
        .json()
        .await?;
    println!("{}", answer["choices"][0]["message"]["content"]);
    gw.shutdown().await;
    Ok(())
}
