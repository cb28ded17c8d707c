//! Devnet's ML nodes report simulated GPUs: placement sees each node's count and vendor from its
//! `/api/v1/gpu/devices`, and a task group created on a fresh devnet is placed on them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::eventually;
use gonka_admin::client::TaskQuery;
use gonka_admin::{Client, FleetGpus};
use gonka_core::deploy::GpuVendor;
use gonka_gateway::admin::PoolGpus;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use gonka_mlnode::gpu::SimulatedGpus;
use serde_json::json;

async fn start(nodes: usize, sim_gpus: Option<SimulatedGpus>) -> devnet::Devnet {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let mut config = DevnetConfig {
        ml_nodes: nodes,
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    if let Some(gpus) = sim_gpus {
        config.sim_gpus = Some(gpus);
    }
    config.gateway.health_interval = Duration::from_millis(100);
    devnet::start(config, listeners).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_devnet_places_a_task_group_on_its_simulated_gpus() {
    let net = start(2, None).await;
    let fleet = PoolGpus(net.gateway.pool.clone());
    eventually("both nodes' GPUs known to placement", || async {
        fleet.nodes().len() == 2
    })
    .await;
    for node in fleet.nodes() {
        assert_eq!(node.gpus.len(), 2, "{node:?}");
        assert!(node.gpus.iter().all(|g| g.vendor == GpuVendor::Nvidia
            && g.total_mb == 81_920
            && g.name == "NVIDIA A100-SXM4-80GB"));
        assert!(node.engines.iter().any(|e| e == "vllm"), "{node:?}");
    }

    let admin = Client::new(format!("http://{}", net.gateway.admin_addr.unwrap()));
    let created = admin
        .create_task_group_json(&json!({
            "name": "chat-svc",
            "model_path": "Qwen/Qwen2.5-7B-Instruct",
            "estimated_gpu_memory_mb": 60_000,
            "replicas": 3,
            "min_replicas": 1,
            "max_replicas": 4
        }))
        .await
        .unwrap();
    let group = created.task_group.id.clone();
    let query = TaskQuery {
        group: Some(group.clone()),
        ..TaskQuery::default()
    };
    eventually("the group's three tasks placed", || async {
        let tasks = admin.tasks(&query).await.unwrap();
        tasks.len() == 3
            && tasks
                .iter()
                .all(|t| t.node_id.is_some() && t.gpu_id.is_some())
    })
    .await;
    // 60 GB each on 80 GB GPUs: three different GPUs, on devnet nodes.
    let tasks = admin.tasks(&query).await.unwrap();
    let placed: HashSet<(String, String)> = tasks
        .iter()
        .map(|t| (t.node_id.clone().unwrap(), t.gpu_id.clone().unwrap()))
        .collect();
    assert_eq!(placed.len(), 3, "{tasks:?}");
    for (node, gpu) in &placed {
        assert!(node.starts_with("devnet-"), "{node}");
        assert!(gpu == "0" || gpu == "1", "{gpu}");
    }
    net.shutdown().await;
}

/// The vendor and count come from the node's GPU report, not from the GPU name (which names no
/// vendor here) nor from the registry (which declares no hardware).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_takes_vendor_and_count_from_the_gpu_report() {
    let net = start(
        1,
        Some(SimulatedGpus {
            count: 3,
            name: "Simulated accelerator".into(),
            vendor: GpuVendor::Ascend,
            memory_mb: 65_536,
        }),
    )
    .await;
    let fleet = PoolGpus(net.gateway.pool.clone());
    eventually("the node's GPUs known to placement", || async {
        fleet.nodes().len() == 1
    })
    .await;
    let node = &fleet.nodes()[0];
    assert_eq!(node.gpus.len(), 3);
    assert!(node
        .gpus
        .iter()
        .all(|g| g.vendor == GpuVendor::Ascend && g.total_mb == 65_536));
    // A simulator node stands in for the vendor's engines.
    assert_eq!(node.engines, ["mindie"]);
    net.shutdown().await;
}
