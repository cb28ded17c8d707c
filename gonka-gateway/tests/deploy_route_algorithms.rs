//! A model route's `algorithm` chooses among its group's nodes, with real servers: a gateway
//! with deployments (routing policy least-busy, which alone would send sequential requests all
//! to one node) and simulator ML nodes running the group's task instances. Round robin
//! alternates evenly; least connections sends to the idle node while the other holds slow
//! streams; random spreads within a bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::deploy_fleet::{ask, count_by, Answer, DeployFleet};
use common::sim_agent::sim_config;
use common::{client, test_config};
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use serde_json::json;

const SVC: &str = "svc";

/// A fleet whose group `svc` (route algorithm `algorithm`) runs on nodes `a` and `b`.
async fn two_node_group(algorithm: &str) -> DeployFleet {
    let mut fleet = DeployFleet::start(test_config()).await;
    for n in ["a", "b"] {
        fleet.add_node(n, SVC).await;
    }
    let g = fleet
        .create_group(
            json!({"name": SVC, "replicas": 2, "estimated_gpu_memory_mb": 1000,
                             "route": {"algorithm": algorithm}}),
        )
        .await;
    assert_eq!(g.model_route.spec.algorithm, algorithm);
    fleet.run_group_on(&g, &["a", "b"]).await;
    fleet.wait_running(&g.task_group.id, 2).await;
    fleet
}

/// `n` requests for `model`, one after another.
async fn sequential(base: &str, model: &str, n: usize) -> Vec<Answer> {
    let http = client();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let a = ask(&http, base, model, None).await;
        assert_eq!(a.status, 200, "{a:?}");
        out.push(a);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_alternates_evenly_over_the_groups_nodes() {
    let fleet = two_node_group("round_robin").await;
    let answers = sequential(&fleet.public(), SVC, 40).await;
    let nodes: Vec<String> = answers.iter().map(|a| a.node.clone().unwrap()).collect();
    let by_node = count_by(&answers, |a| a.node.clone());
    assert_eq!(by_node.get("a"), Some(&20), "{by_node:?}");
    assert_eq!(by_node.get("b"), Some(&20), "{by_node:?}");
    // In turn: no node twice in a row.
    assert!(nodes.windows(2).all(|w| w[0] != w[1]), "{nodes:?}");
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_spreads_within_a_bound() {
    let fleet = two_node_group("random").await;
    let answers = sequential(&fleet.public(), SVC, 400).await;
    let by_node = count_by(&answers, |a| a.node.clone());
    // Binomial(400, 0.5): standard deviation 10; 120..=280 is 8 of them either side.
    for n in ["a", "b"] {
        let k = by_node.get(n).copied().unwrap_or(0);
        assert!((120..=280).contains(&k), "{by_node:?}");
    }
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_sends_to_the_idle_node_while_the_other_holds_slow_streams() {
    let mut fleet = DeployFleet::start(test_config()).await;
    // Node `busy` also serves its own model `slow`, whose answers stream for minutes; node
    // `idle` is a plain simulator node.
    let base = sim_config("slow");
    let slow = MlNodeConfig {
        simulator: SimulatorConfig {
            output_tokens: 10_000,
            inter_token_latency: Duration::from_millis(50),
            ..base.simulator
        },
        ..base
    };
    fleet.add_node_with("busy", "slow", slow).await;
    fleet.add_node("idle", SVC).await;
    let g = fleet
        .create_group(
            json!({"name": SVC, "replicas": 2, "estimated_gpu_memory_mb": 1000,
                             "route": {"algorithm": "least_connections"}}),
        )
        .await;
    fleet.run_group_on(&g, &["busy", "idle"]).await;
    fleet.wait_running(&g.task_group.id, 2).await;
    let base = fleet.public();
    // Quick requests (one token each) alone: both nodes take some (ties go in turn).
    let before = count_by(&sequential(&base, SVC, 20).await, |a| a.node.clone());
    assert_eq!(before.len(), 2, "{before:?}");
    // Three streams held open on `busy` (read no further than their heads).
    let http = client();
    let mut held = Vec::new();
    for _ in 0..3 {
        let resp = http
            .post(format!("{base}/v1/chat/completions"))
            .json(&common::chat_body("slow", true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-gonka-node"], "busy");
        held.push(resp);
    }
    let in_flight = |id: &str| {
        fleet
            .gw
            .pool
            .snapshot()
            .iter()
            .find(|s| &*s.view.id == id)
            .map_or(0, |s| s.view.in_flight)
    };
    assert_eq!(in_flight("busy"), 3);
    let during = sequential(&base, SVC, 30).await;
    let by_node = count_by(&during, |a| a.node.clone());
    assert_eq!(by_node.get("idle"), Some(&30), "{by_node:?}");
    drop(held);
    fleet.gw.shutdown().await;
}
