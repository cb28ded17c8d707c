//! ML node faults at the TCP level: a node that accepts connections and never answers (hung) and
//! one that answers garbage bytes instead of HTTP. The gateway keeps serving every request from
//! the healthy node, records both faulty nodes as FAILED with a reason, and routes to them again
//! once a real ML node answers on their addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use gonka_core::NodeStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Clone, Copy)]
enum Fault {
    /// Accepts, reads, never answers, keeps the connection open.
    Hung,
    /// Answers every connection with bytes that are not HTTP, then closes.
    Garbage,
}

/// A faulty "ML node": both of its ports (management, inference) behave as `fault`.
struct FaultyNode {
    mgmt: SocketAddr,
    inference: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl FaultyNode {
    async fn start(fault: Fault) -> Self {
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            tasks.push(tokio::spawn(async move {
                let mut held = Vec::new();
                loop {
                    let Ok((mut s, _)) = listener.accept().await else {
                        return;
                    };
                    match fault {
                        Fault::Hung => held.push(tokio::spawn(async move {
                            let mut buf = [0u8; 4096];
                            while let Ok(n) = s.read(&mut buf).await {
                                if n == 0 {
                                    break;
                                }
                            }
                        })),
                        Fault::Garbage => {
                            let mut buf = [0u8; 4096];
                            let _ = s.read(&mut buf).await;
                            let _ = s.write_all(b"\x00\xffnot http at all\r\n\r\n{{{").await;
                        }
                    }
                }
            }));
        }
        Self {
            mgmt: addrs[0],
            inference: addrs[1],
            tasks,
        }
    }

    fn config(&self, id: &str) -> gonka_core::NodeConfig {
        gonka_core::NodeConfig::new(id, MODEL)
            .at("127.0.0.1", self.inference.port(), self.mgmt.port())
            .max_concurrent(4)
    }

    /// Stops listening (the ports are free for a real node).
    async fn stop(self) {
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

async fn chat_status(addr: SocketAddr) -> u16 {
    client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hung_and_garbage_nodes_are_marked_failed_others_keep_serving_and_they_recover() {
    let good = FakeMlNode::start(FakeOptions::serving(MODEL));
    let hung = FaultyNode::start(Fault::Hung).await;
    let garbage = FaultyNode::start(Fault::Garbage).await;
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, hung.config("hung")).await;
    register(&registry, garbage.config("garbage")).await;
    register(&registry, good.config("good", 4)).await;
    wait_routable(&gw, MODEL, 1).await;

    for id in ["hung", "garbage"] {
        eventually(
            &format!("{id} recorded as FAILED with a reason"),
            || async {
                let s = registry.get(id).await.unwrap().state;
                s.current_status == NodeStatus::Failed && !s.failure_reason.is_empty()
            },
        )
        .await;
        println!(
            "{id}: {}",
            registry.get(id).await.unwrap().state.failure_reason
        );
    }
    for _ in 0..10 {
        assert_eq!(chat_status(gw.public_addr).await, 200);
    }
    assert_eq!(
        good.state.received(),
        10,
        "every request went to the healthy node"
    );

    // Real ML nodes come up on the faulty nodes' addresses: both are used again.
    let (hung_addrs, garbage_addrs) = (
        (hung.mgmt, hung.inference),
        (garbage.mgmt, garbage.inference),
    );
    hung.stop().await;
    garbage.stop().await;
    let back1 = FakeMlNode::start_on(FakeOptions::serving(MODEL), hung_addrs.0, hung_addrs.1);
    let back2 = FakeMlNode::start_on(
        FakeOptions::serving(MODEL),
        garbage_addrs.0,
        garbage_addrs.1,
    );
    wait_routable(&gw, MODEL, 3).await;
    for id in ["hung", "garbage"] {
        eventually(&format!("{id} back in INFERENCE"), || async {
            registry.get(id).await.unwrap().state.current_status == NodeStatus::Inference
        })
        .await;
    }
    for _ in 0..12 {
        assert_eq!(chat_status(gw.public_addr).await, 200);
    }
    assert!(
        back1.state.received() + back2.state.received() >= 1,
        "the recovered nodes take requests again"
    );
    gw.shutdown().await;
}
