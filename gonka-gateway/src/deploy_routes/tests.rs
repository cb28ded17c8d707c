#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gonka_core::deploy::{
    queue_priority, GroupStatus, MemoryDeploymentStore, TaskMove, TaskPlacement,
};
use gonka_core::{ManualEpoch, NodeConfig, NodeRecord, NodeState, NodeStatus, RequestInfo};
use serde_json::json;

use super::*;
use crate::pool::Observation;
use crate::schedule::LeastBusy;

const SVC: &str = "svc";

fn pool() -> Arc<NodePool> {
    Arc::new(NodePool::new(
        Arc::new(LeastBusy),
        Arc::new(ManualEpoch::new(0)),
        16,
        3,
    ))
}

fn add_node(pool: &Arc<NodePool>, id: &str, healthy: bool) {
    let g = pool
        .apply(NodeRecord {
            node: NodeConfig::new(id, SVC).max_concurrent(1),
            state: NodeState::new_registered(0),
        })
        .generation;
    pool.observe(
        id,
        g,
        Observation {
            passed: healthy,
            status: NodeStatus::Inference,
            loaded_model: Some(SVC.into()),
            ..Observation::default()
        },
    );
}

/// Creates group `name` (QoS `qos`) in `store`; returns its id, its route and its API key.
async fn group(
    store: &MemoryDeploymentStore,
    name: &str,
    qos: &str,
) -> (String, ModelRoute, String) {
    let spec = serde_json::from_value(json!({
        "name": name, "qos": qos, "replicas": 2, "max_replicas": 4,
        "estimated_gpu_memory_mb": 1000
    }))
    .unwrap();
    let created = gonka_admin::deploy::build(spec, &[], 1).unwrap();
    let c = created.creation.clone();
    store.create_group(created.creation).await.unwrap();
    (c.group.id, c.route, created.api_key.unwrap())
}

/// Moves `group`'s `rank`-th task to `status` on `node`, through pending → scheduled → running.
async fn put_task(
    store: &MemoryDeploymentStore,
    group: &str,
    rank: usize,
    node: &str,
    status: TaskStatus,
) {
    let tasks = store
        .tasks(&TaskFilter {
            group_id: Some(group.into()),
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    let id = tasks[rank].id.clone();
    let step = |from, to, placement| TaskMove {
        from,
        to,
        placement,
        error: None,
        at_ms: 1,
    };
    let placement = TaskPlacement {
        node_id: node.into(),
        gpu_ids: vec!["0".into()],
        engine: "simulator".into(),
        port: 8100,
    };
    store
        .move_task(
            &id,
            step(TaskStatus::Pending, TaskStatus::Scheduled, Some(placement)),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .move_task(&id, step(TaskStatus::Scheduled, TaskStatus::Running, None))
        .await
        .unwrap()
        .unwrap();
    if status == TaskStatus::Sleeping {
        store
            .move_task(&id, step(TaskStatus::Running, TaskStatus::Sleeping, None))
            .await
            .unwrap()
            .unwrap();
    }
}

async fn set_route(
    store: &MemoryDeploymentStore,
    mut r: ModelRoute,
    priority: u32,
    weight: u32,
    version: &str,
) {
    r.model_name = SVC.into();
    r.spec.priority = priority;
    r.spec.weight = weight;
    r.spec.version = version.into();
    store.put_route(r).await.unwrap();
}

fn ids(names: &[&str]) -> Vec<Arc<str>> {
    names.iter().map(|n| Arc::from(*n)).collect()
}

#[tokio::test]
async fn the_snapshot_lists_each_groups_running_and_wakeable_nodes_and_models() {
    let store = MemoryDeploymentStore::new();
    let (g, route, _) = group(&store, "svc-a", "gold").await;
    put_task(&store, &g, 0, "n1", TaskStatus::Running).await;
    put_task(&store, &g, 1, "n2", TaskStatus::Sleeping).await;
    set_route(&store, route, 0, 100, "v1").await;
    let view = DeployRoutes::new(Arc::new(store));
    view.refresh().await.unwrap();
    let snap = view.snapshot();
    let gv = snap.group(&g).unwrap();
    assert_eq!(gv.running, ids(&["n1"]));
    assert_eq!(gv.wakeable, ids(&["n2"]));
    assert_eq!(gv.qos, Qos::Gold);
    assert_eq!(gv.models, vec!["svc".to_string(), "svc-a".to_string()]);
    assert_eq!(snap.routes(SVC).len(), 1);
    assert!(
        snap.routes("svc-a").is_empty(),
        "its route was renamed to svc"
    );
    // The nodes' task models come from the same snapshot: running and sleeping nodes serve the
    // group's name.
    let served = snap.task_models();
    assert_eq!(served.len(), 2, "{served:?}");
    assert_eq!(served["n1"], vec!["svc-a".to_string()]);
    assert_eq!(served["n2"], vec!["svc-a".to_string()]);
}

#[tokio::test]
async fn a_route_is_chosen_by_weight_among_healthy_groups_and_restricted_to_their_nodes() {
    let store = Arc::new(MemoryDeploymentStore::new());
    let (v1, r1, _) = group(&store, "svc-v1", "silver").await;
    let (canary, r2, _) = group(&store, "svc-canary", "bronze").await;
    put_task(&store, &v1, 0, "a", TaskStatus::Running).await;
    put_task(&store, &v1, 1, "b", TaskStatus::Running).await;
    put_task(&store, &canary, 0, "c", TaskStatus::Running).await;
    set_route(&store, r1.clone(), 0, 80, "v1").await;
    set_route(&store, r2.clone(), 0, 20, "canary").await;
    let view = DeployRoutes::new(store.clone());
    view.refresh().await.unwrap();
    let p = pool();
    for n in ["a", "b", "c"] {
        add_node(&p, n, true);
    }
    // Routes sort by id; draws below 80 % of the range land on the first weighted one.
    let (first, second) = if r1.id < r2.id {
        ("v1", "canary")
    } else {
        ("canary", "v1")
    };
    let low = view.choose(SVC, &p, &[], None, 0).unwrap();
    let high = view.choose(SVC, &p, &[], None, u32::MAX).unwrap();
    assert_eq!(
        (low.version.as_str(), high.version.as_str()),
        (first, second)
    );
    let v1_choice = if low.version == "v1" { &low } else { &high };
    assert_eq!(v1_choice.nodes, ids(&["a", "b"]));
    assert_eq!(v1_choice.route_id, r1.id);
    assert_eq!(v1_choice.qos, Qos::Silver);
    // Every node of v1 tried already: canary takes every draw.
    for draw in [0, u32::MAX / 2, u32::MAX] {
        let c = view.choose(SVC, &p, &ids(&["a", "b"]), None, draw).unwrap();
        assert_eq!(
            (c.version.as_str(), c.nodes.clone()),
            ("canary", ids(&["c"]))
        );
    }
    // A canary endpoint key's requests stay on the canary's routes.
    let c = view.choose(SVC, &p, &[], Some(&canary), 0).unwrap();
    assert_eq!(c.group_id, canary);
    // A model without routes is not routed by them.
    assert!(view.choose("other", &p, &[], None, 0).is_none());
    // No healthy group: no route (the pool routes the request as any other).
    assert!(view
        .choose(SVC, &p, &ids(&["a", "b", "c"]), None, 0)
        .is_none());
}

#[tokio::test]
async fn nodes_failing_their_health_checks_are_left_out_and_a_group_with_none_healthy_gives_way() {
    let store = Arc::new(MemoryDeploymentStore::new());
    let (main, r1, _) = group(&store, "svc-main", "silver").await;
    let (backup, r2, _) = group(&store, "svc-backup", "silver").await;
    put_task(&store, &main, 0, "a", TaskStatus::Running).await;
    put_task(&store, &main, 1, "b", TaskStatus::Running).await;
    put_task(&store, &backup, 0, "c", TaskStatus::Running).await;
    set_route(&store, r1, 0, 100, "main").await;
    set_route(&store, r2, 1, 100, "backup").await;
    let view = DeployRoutes::new(store.clone());
    view.refresh().await.unwrap();
    let p = pool();
    for n in ["a", "b", "c"] {
        add_node(&p, n, true);
    }
    let snap = view.snapshot();
    let targets = snap.health_targets().to_vec();
    assert_eq!(targets.len(), 3, "every running task is checked");
    let task_on = |node: &str| {
        targets
            .iter()
            .find(|t| &*t.node_id == node)
            .unwrap()
            .task_id
            .clone()
    };
    let fail = |nodes: &[&str]| {
        nodes
            .iter()
            .map(|n| (task_on(n), Err("GET /health: 404".to_string())))
            .collect::<Vec<_>>()
    };
    // Three failures in a row (the default threshold) on a: b alone serves the main group.
    for at in 1..=3 {
        view.health().record(&targets, fail(&["a"]), at);
    }
    let c = view.choose(SVC, &p, &[], None, 0).unwrap();
    assert_eq!((c.version.as_str(), c.nodes.clone()), ("main", ids(&["b"])));
    // b too: the main group is down, the backup priority takes the request.
    for at in 4..=6 {
        view.health().record(&targets, fail(&["b"]), at);
    }
    let c = view.choose(SVC, &p, &[], None, 0).unwrap();
    assert_eq!(
        (c.version.as_str(), c.nodes.clone()),
        ("backup", ids(&["c"]))
    );
    // One pass on a brings the main group back on a.
    view.health()
        .record(&targets, vec![(task_on("a"), Ok(()))], 7);
    let c = view.choose(SVC, &p, &[], None, 0).unwrap();
    assert_eq!((c.version.as_str(), c.nodes.clone()), ("main", ids(&["a"])));
}

#[tokio::test]
async fn sleeping_nodes_take_requests_only_when_no_running_node_could() {
    let store = Arc::new(MemoryDeploymentStore::new());
    let (g, route, _) = group(&store, "svc-a", "silver").await;
    put_task(&store, &g, 0, "run", TaskStatus::Running).await;
    put_task(&store, &g, 1, "sleep", TaskStatus::Sleeping).await;
    set_route(&store, route, 0, 100, "v1").await;
    let view = DeployRoutes::new(store.clone());
    view.refresh().await.unwrap();
    let p = pool();
    add_node(&p, "run", true);
    add_node(&p, "sleep", true);
    assert_eq!(
        view.choose(SVC, &p, &[], None, 0).unwrap().nodes,
        ids(&["run"])
    );
    add_node(&p, "run", false);
    assert_eq!(
        view.choose(SVC, &p, &[], None, 0).unwrap().nodes,
        ids(&["sleep"])
    );
}

#[tokio::test]
async fn endpoint_keys_resolve_to_their_group_until_it_is_deleted() {
    let store = Arc::new(MemoryDeploymentStore::new());
    let (g, _, key) = group(&store, "svc-a", "silver").await;
    let view = DeployRoutes::new(store.clone());
    view.refresh().await.unwrap();
    let scope = view.resolve_key(&key).await.unwrap();
    assert_eq!(
        (scope.group_id.as_str(), scope.name.as_str()),
        (g.as_str(), "svc-a")
    );
    assert!(view.allows(&scope, "svc-a"));
    assert!(!view.allows(&scope, "svc-b"));
    assert!(view.resolve_key("sk-not-a-deployment-key").await.is_none());
    // Known keys are answered from memory.
    assert!(view.keys().known.contains_key(&hash_api_key(&key)));
    let mut stopped = store.group(&g).await.unwrap();
    stopped.status = GroupStatus::Completed;
    assert!(store
        .update_group(stopped, GroupStatus::Pending)
        .await
        .unwrap());
    store.delete_group(&g).await.unwrap();
    view.refresh().await.unwrap();
    assert!(
        view.resolve_key(&key).await.is_none(),
        "a deleted group's key is forgotten"
    );
}

#[tokio::test]
async fn unknown_keys_cost_a_bounded_number_of_store_look_ups_per_period() {
    let store = Arc::new(MemoryDeploymentStore::new());
    let (_, _, key) = group(&store, "svc-a", "silver").await;
    let view = DeployRoutes::new(store.clone());
    for i in 0..KEY_LOOKUPS_PER_PERIOD {
        assert!(view.resolve_key(&format!("sk-random-{i}")).await.is_none());
    }
    // The budget is spent: even a real key waits for the next period.
    assert!(view.resolve_key(&key).await.is_none());
    view.refresh().await.unwrap();
    assert!(view.resolve_key(&key).await.is_some());
}

/// Queues a request of `priority` on `pool` (every slot held) and waits until it is queued.
async fn queue_up(
    pool: &Arc<NodePool>,
    priority: i32,
    depth: usize,
) -> tokio::task::JoinHandle<Result<crate::pool::Permit, crate::pool::AcquireError>> {
    let p = pool.clone();
    let request = RequestInfo {
        priority,
        ..RequestInfo::for_model(SVC)
    };
    let handle = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        p.acquire(&[request], &[], deadline).await
    });
    for _ in 0..1000 {
        if pool.queue_depth() == depth {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(pool.queue_depth(), depth);
    handle
}

#[tokio::test]
async fn waiting_gold_requests_are_served_first_then_silver_then_bronze_fifo_within_a_class() {
    let p = pool();
    add_node(&p, "only", true);
    let held = p.try_acquire(&[RequestInfo::for_model(SVC)], &[]).unwrap();
    // Arrival order: bronze, silver (asking for a high priority), gold, gold.
    let bronze = queue_up(&p, queue_priority(Qos::Bronze, 0), 1).await;
    let silver = queue_up(&p, queue_priority(Qos::Silver, i32::MAX), 2).await;
    let gold_1 = queue_up(&p, queue_priority(Qos::Gold, 0), 3).await;
    let gold_2 = queue_up(&p, queue_priority(Qos::Gold, 0), 4).await;
    drop(held);
    // The one slot goes to the best waiter, and from each to the next when its permit drops.
    let mut waiting = vec![
        ("gold 1", gold_1),
        ("gold 2", gold_2),
        ("silver", silver),
        ("bronze", bronze),
    ];
    while !waiting.is_empty() {
        let (name, handle) = waiting.remove(0);
        let permit = handle.await.unwrap().unwrap();
        for (other, h) in &waiting {
            assert!(!h.is_finished(), "{other} was served with or before {name}");
        }
        drop(permit);
    }
}
