//! The gateway's placement plugin (`--placement`, `GatewayConfig::placement_plugin`) decides
//! where a group's tasks go on a real devnet (a gateway and two `gonka-mlnode` simulator agents
//! with two simulated 80 GB GPUs each): with `spread` two replicas land on two nodes, with
//! `binpack` (the default) on one node's two GPUs. Either way both replicas run: the two agents
//! share one host, so their engines get different ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gonka_admin::client::TaskQuery;
use gonka_admin::Client;
use gonka_core::deploy::{Plugin, TaskStatus};
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use serde_json::json;

/// The nodes the two replicas of a group land on, placed by a devnet gateway using `plugin`,
/// once both run; asserts their engine ports differ.
async fn nodes_of_two_replicas(plugin: Plugin) -> BTreeSet<String> {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: 2,
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    config.gateway.health_interval = Duration::from_millis(100);
    config.gateway.placement_plugin = plugin;
    let net = devnet::start(config, listeners).await.unwrap();
    let admin = Client::new(format!("http://{}", net.gateway.admin_addr.unwrap()));
    // Placement needs both nodes' GPUs: wait until the gateway has read them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !net
        .gateway
        .pool
        .ids()
        .iter()
        .all(|id| net.gateway.pool.gpu_facts(id).1 == Some(2))
        || net.gateway.pool.node_count() < 2
    {
        assert!(Instant::now() < deadline, "GPUs never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One 60 GB task per replica: one per GPU.
    let created = admin
        .create_task_group_json(&json!({
            "name": "placed-svc", "estimated_gpu_memory_mb": 60_000, "replicas": 2
        }))
        .await
        .unwrap();
    let query = TaskQuery {
        group: Some(created.task_group.id.clone()),
        ..TaskQuery::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let tasks = loop {
        let tasks = admin.tasks(&query).await.unwrap();
        if tasks.len() == 2 && tasks.iter().all(|t| t.status == TaskStatus::Running) {
            break tasks;
        }
        assert!(Instant::now() < deadline, "tasks never ran: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    net.shutdown().await;
    assert_ne!(tasks[0].ports, tasks[1].ports, "{tasks:?}");
    tasks.into_iter().filter_map(|t| t.node_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_places_two_replicas_on_two_nodes() {
    let nodes = nodes_of_two_replicas(Plugin::Spread).await;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binpack_places_two_replicas_on_one_node() {
    let nodes = nodes_of_two_replicas(Plugin::Binpack).await;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
}
