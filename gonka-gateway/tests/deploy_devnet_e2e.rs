//! A deployment end to end on a devnet (a real gateway and real `gonka-mlnode` simulator agents
//! with simulated GPUs): a task group is placed on the GPUs, its tasks are launched as engine
//! instances on the agents and run; requests for the group's name are routed to them and say
//! where they went; put to sleep through the admin API, the instances are woken by the next
//! request, which is answered; stopped, the group is deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sim_agent::task_instances;
use gonka_admin::client::{TaskAction, TaskQuery};
use gonka_admin::Client;
use gonka_core::deploy::TaskStatus;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use serde_json::json;

/// Waits (at most 60 s, the placer and the driver tick every second) until `check` holds.
async fn wait_for<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::eventually_within(what, Duration::from_secs(60), check).await;
}

async fn chat(public: &str, model: &str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let resp = common::client()
        .post(format!("{public}/v1/chat/completions"))
        .json(&json!({"model": model, "max_tokens": 4,
                      "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or_default();
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_placed_launched_routed_slept_woken_and_stopped() {
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
    let net = devnet::start(config, listeners).await.unwrap();
    let public = format!("http://{}", net.gateway.public_addr);
    let admin = Client::new(format!("http://{}", net.gateway.admin_addr.unwrap()));

    let created = admin
        .create_task_group_json(&json!({
            "name": "chat-svc",
            "model_path": "Qwen/Qwen2.5-7B-Instruct",
            "estimated_gpu_memory_mb": 60_000,
            "replicas": 2,
            "min_replicas": 1,
            "max_replicas": 4
        }))
        .await
        .unwrap();
    let group = created.task_group.id.clone();
    let route = created.model_route.id.clone();
    let query = TaskQuery {
        group: Some(group.clone()),
        ..TaskQuery::default()
    };
    let all_in = |status: TaskStatus| {
        let (admin, query) = (&admin, &query);
        async move {
            let tasks = admin.tasks(query).await.unwrap();
            tasks.len() == 2 && tasks.iter().all(|t| t.status == status)
        }
    };
    wait_for("both tasks placed, launched and running", || {
        all_in(TaskStatus::Running)
    })
    .await;
    let tasks = admin.tasks(&query).await.unwrap();
    let nodes: Vec<String> = tasks.iter().map(|t| t.node_id.clone().unwrap()).collect();

    // The group's name is a model clients send; answers name the node and the route.
    wait_for("the deployment's model routable", || async {
        chat(&public, "chat-svc").await.0 == 200
    })
    .await;
    for _ in 0..10 {
        let (status, headers, body) = chat(&public, "chat-svc").await;
        assert_eq!(status, 200, "{body}");
        let node = headers["x-gonka-node"].to_str().unwrap();
        assert!(nodes.iter().any(|n| n == node), "{node} not in {nodes:?}");
        assert_eq!(headers["x-gonka-route"].to_str().unwrap(), route);
        assert!(headers.contains_key("x-gonka-route-version"));
        assert_eq!(body["model"], "chat-svc", "{body}");
    }

    // Asleep through the admin API: the driver puts the instances to sleep on the agents.
    for t in &tasks {
        admin.task_action(&t.id, TaskAction::Sleep).await.unwrap();
    }
    wait_for("both tasks asleep", || all_in(TaskStatus::Sleeping)).await;
    // ... and the instances on the agents too (the driver carries the sleep out on its tick).
    let mgmt: Vec<String> = net
        .nodes
        .iter()
        .map(|n| format!("http://{}", n.mgmt_addr))
        .collect();
    wait_for("both instances asleep on their agents", || async {
        let mut asleep = 0;
        for base in &mgmt {
            asleep += task_instances(base)
                .await
                .iter()
                .filter(|i| i.state == gonka_core::mlnode_api::TaskState::Sleeping)
                .count();
        }
        asleep == 2
    })
    .await;
    // A request for the sleeping model wakes an instance on its node and is answered.
    let (status, headers, body) = chat(&public, "chat-svc").await;
    assert_eq!(status, 200, "a request for a sleeping deployment: {body}");
    assert!(nodes
        .iter()
        .any(|n| n == headers["x-gonka-node"].to_str().unwrap()));
    wait_for("the woken task seen running again", || async {
        admin
            .tasks(&query)
            .await
            .unwrap()
            .iter()
            .any(|t| t.status == TaskStatus::Running)
    })
    .await;

    // Stopped and deleted: the model is no longer served, the agents hold no instance.
    for t in admin.tasks(&query).await.unwrap() {
        admin.task_action(&t.id, TaskAction::Stop).await.unwrap();
    }
    wait_for("both tasks completed", || all_in(TaskStatus::Completed)).await;
    wait_for("the group completed", || async {
        admin.delete_task_group(&group).await.is_ok()
    })
    .await;
    wait_for("the deployment's model gone", || async {
        chat(&public, "chat-svc").await.0 == 404
    })
    .await;
    wait_for("the agents' instances stopped", || async {
        let mut left = 0;
        for base in &mgmt {
            left += task_instances(base).await.len();
        }
        left == 0
    })
    .await;
    net.shutdown().await;
}
