//! Continuous health checks of running deployment tasks, with real servers: a gateway with
//! deployments and simulator ML nodes running the tasks' engine instances. Model `svc` is served
//! by group `svc` (priority 0, node main-a) and falls back to group `svc-backup` (priority 1,
//! node backup-b). When the primary's instance fails its health check (its check path answers
//! 404: a real answer of the real instance) `unhealthy_threshold` times in a row, the task is
//! unhealthy (admin API, metrics) and every request goes to the fallback without a failure;
//! when the check passes again, traffic comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::deploy_fleet::DeployFleet;
use common::phased_load::PhasedLoad;
use common::{client, eventually_within, test_config};
use gonka_core::deploy::{DeploymentStore, HealthStatus, TaskHealth};
use gonka_gateway::task_health::HealthSettings;
use serde_json::json;

const SVC: &str = "svc";

/// Phases of the test, as each request saw it when it started.
const HEALTHY: u8 = 0;
const BREAKING: u8 = 1;
const MARKED: u8 = 2;
const HEALING: u8 = 3;
const HEALED: u8 = 4;

/// Sets group `id`'s health check path in the store (the view picks it up within a second).
async fn set_check_path(fleet: &DeployFleet, id: &str, path: &str) {
    let mut g = fleet.store.group(id).await.unwrap();
    let status = g.status;
    g.spec.health_check.path = path.into();
    assert!(fleet.store.update_group(g, status).await.unwrap());
}

/// The task's health as the admin API shows it.
async fn health_of(fleet: &DeployFleet, task: &str) -> Option<TaskHealth> {
    fleet.admin.task_with_health(task).await.unwrap().1
}

/// Waits (at most 20 s) until `task`'s health, as the admin API shows it, satisfies `holds`.
async fn wait_health(fleet: &DeployFleet, task: &str, what: &str, holds: fn(&TaskHealth) -> bool) {
    eventually_within(what, Duration::from_secs(20), || async {
        health_of(fleet, task).await.is_some_and(|h| holds(&h))
    })
    .await;
}

/// The `gonka_gateway_deploy_task_healthy` line of `task` in `/metrics`.
async fn metric_of(fleet: &DeployFleet, task: &str) -> Option<String> {
    let text = client()
        .get(format!("{}/metrics", fleet.public()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("gonka_gateway_deploy_task_healthy{") && l.contains(task))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_failing_its_health_check_gets_no_requests_until_it_passes_again() {
    let mut config = test_config();
    config.task_health = HealthSettings {
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(500)),
    };
    let mut fleet = DeployFleet::start(config).await;
    for n in ["main-a", "backup-b"] {
        fleet.add_node(n, SVC).await;
    }
    let mut groups = Vec::new();
    for (name, node, priority) in [("svc", "main-a", 0), ("svc-backup", "backup-b", 1)] {
        let g = fleet
            .create_group(json!({"name": name, "estimated_gpu_memory_mb": 1000,
                                 "health_check": {"unhealthy_threshold": 3}}))
            .await;
        fleet.run_group_on(&g, &[node]).await;
        fleet
            .put_route(
                &g.model_route.id,
                &g.task_group.id,
                SVC,
                priority,
                100,
                name,
            )
            .await;
        fleet.wait_running(&g.task_group.id, 1).await;
        groups.push(g);
    }
    fleet
        .wait_weights(SVC, &[("svc", 100), ("svc-backup", 100)])
        .await;
    let primary = groups[0].task_group.id.clone();
    let task = groups[0].tasks[0].id.clone();
    // Checked and healthy.
    wait_health(&fleet, &task, "the primary task checked", |h| {
        h.status == HealthStatus::Healthy && h.checked_at_ms > 0
    })
    .await;
    assert!(metric_of(&fleet, &task).await.unwrap().ends_with(" 1"));

    // Requests all along (4 clients, at most 20,000 each), each noting the phase it started in.
    let load = PhasedLoad::start(&fleet.public(), SVC, 4, 20_000, HEALTHY);
    let wait_answers = |p: u8| load.wait_count(p, 50, Duration::from_secs(30));
    wait_answers(HEALTHY).await;

    // The primary's check path answers 404 from now on.
    load.set_phase(BREAKING);
    set_check_path(&fleet, &primary, "/no-such-check").await;
    wait_health(&fleet, &task, "the primary task unhealthy", |h| {
        h.status == HealthStatus::Unhealthy
    })
    .await;
    load.set_phase(MARKED);
    let h = health_of(&fleet, &task).await.unwrap();
    assert!(h.consecutive_failures >= 3, "{h:?}");
    let error = h.last_error.unwrap();
    assert!(
        error.contains("/no-such-check") && error.contains("404"),
        "{error}"
    );
    assert!(metric_of(&fleet, &task).await.unwrap().ends_with(" 0"));
    wait_answers(MARKED).await;

    // The check passes again: one pass heals it.
    load.set_phase(HEALING);
    set_check_path(&fleet, &primary, "/health").await;
    wait_health(&fleet, &task, "the primary task healthy again", |h| {
        h.status == HealthStatus::Healthy
    })
    .await;
    load.set_phase(HEALED);
    wait_answers(HEALED).await;
    let seen = load.stop().await;
    assert!(metric_of(&fleet, &task).await.unwrap().ends_with(" 1"));

    let failed: Vec<_> = seen.iter().filter(|(_, a)| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        seen.len(),
        failed.first()
    );
    let nodes_in = |p: u8| {
        let mut nodes: Vec<String> = seen
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, a)| a.node.clone().unwrap())
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    };
    assert_eq!(nodes_in(HEALTHY), ["main-a"]);
    // Once marked, the primary's node takes nothing: priority 1 serves.
    assert_eq!(nodes_in(MARKED), ["backup-b"]);
    assert!(seen
        .iter()
        .filter(|(q, _)| *q == MARKED)
        .all(|(_, a)| a.version.as_deref() == Some("svc-backup")));
    // Healthy again: back to the primary.
    assert_eq!(nodes_in(HEALED), ["main-a"]);
    fleet.gw.shutdown().await;
}
