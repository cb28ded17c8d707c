//! Autoscaling on `gpu_utilization` with real servers: a gateway with deployments (its placer
//! and task driver) and a `gonka-mlnode` simulator agent with one simulated GPU, whose reported
//! utilisation follows the requests in flight on it. Idle, the group holds its one replica;
//! with three slow streams in flight on its instance the agent reports the GPU 75 % busy, above
//! the policy's 50 % target, and the driver scales the group up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::deploy_fleet::DeployFleet;
use common::sim_agent::sim_config;
use common::{client, eventually_within, test_config};
use gonka_core::deploy::TaskStatus;
use gonka_mlnode::gpu::SimulatedGpus;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use serde_json::json;

/// The utilisation of the agent's GPU 0 as `/api/v1/gpu/devices` reports it.
async fn utilisation(mgmt: &str) -> Option<u64> {
    let report: serde_json::Value = client()
        .get(format!("{mgmt}/api/v1/gpu/devices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["devices"][0]["utilization_percent"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_simulated_gpu_scales_its_group_up() {
    let mut fleet = DeployFleet::start(test_config()).await;
    // Answers stream for minutes: requests stay in flight while the test holds them.
    let base = sim_config("base");
    let agent = MlNodeConfig {
        simulator: SimulatorConfig {
            output_tokens: 10_000,
            inter_token_latency: Duration::from_millis(50),
            ..base.simulator
        },
        sim_gpus: Some(SimulatedGpus {
            count: 1,
            ..SimulatedGpus::default()
        }),
        ..base
    };
    fleet.add_node_with("gpu-1", "base", agent).await;
    let mgmt = fleet.node_mgmt_url("gpu-1");
    eventually_within("the node's GPU known", Duration::from_secs(20), || {
        let known = fleet.gw.pool.gpu_facts("gpu-1").1 == Some(1);
        async move { known }
    })
    .await;
    let created = fleet
        .create_group(json!({
            "name": "gpu-svc", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "min_replicas": 1, "max_replicas": 2,
            "scale_policy": {"metric": "gpu_utilization", "target": 50, "cooldown_seconds": 30}
        }))
        .await;
    let group = created.task_group.id.clone();
    let task = created.tasks[0].id.clone();
    // Placed by the placer on the GPU, launched by the driver.
    eventually_within("the task running", Duration::from_secs(20), || {
        let admin = &fleet.admin;
        let task = task.clone();
        async move { admin.task(&task).await.unwrap().status == TaskStatus::Running }
    })
    .await;
    let placed = fleet.admin.task(&task).await.unwrap();
    assert_eq!(placed.gpu_id.as_deref(), Some("0"), "{placed:?}");
    fleet.wait_running(&group, 1).await;
    assert_eq!(utilisation(&mgmt).await, Some(0), "idle");
    assert_eq!(
        fleet
            .admin
            .task_group(&group)
            .await
            .unwrap()
            .task_group
            .current_replicas,
        1,
        "idle: the group holds"
    );

    // Three streams in flight on the instance (read no further than their heads).
    let http = client();
    let mut held = Vec::new();
    for _ in 0..3 {
        let resp = http
            .post(format!("{}/v1/chat/completions", fleet.public()))
            .json(&common::chat_body("gpu-svc", true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-gonka-node"], "gpu-1");
        held.push(resp);
    }
    assert_eq!(utilisation(&mgmt).await, Some(75));
    eventually_within("the group scaled up", Duration::from_secs(20), || {
        let admin = &fleet.admin;
        let group = group.clone();
        async move {
            admin
                .task_group(&group)
                .await
                .unwrap()
                .task_group
                .current_replicas
                == 2
        }
    })
    .await;
    let detail = fleet.admin.task_group(&group).await.unwrap();
    assert_eq!(detail.tasks.len(), 2, "{:?}", detail.tasks);
    drop(held);
    fleet.gw.shutdown().await;
}
