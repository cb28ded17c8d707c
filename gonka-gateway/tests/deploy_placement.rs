//! The deployments placement loop: pending tasks are placed on the fleet's GPUs (binpack, VRAM
//! fit, co-scheduling), each GPU's memory is never overbooked, a gold group preempts bronze
//! tasks, a schedule window holds tasks back, and two placers (two gateway replicas) on one
//! SQLite database place every task exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gonka_admin::{FleetGpus, SqliteDeploymentStore};
use gonka_core::deploy::placement::{GpuSlot, PlacementNode, Thresholds};
use gonka_core::deploy::{
    DeploymentStore, GpuVendor, GroupStatus, MemoryDeploymentStore, Plugin, TaskFilter, TaskStatus,
};
use gonka_gateway::placer::Placer;
use serde_json::json;

#[derive(Debug)]
struct Fleet(Vec<PlacementNode>);

impl FleetGpus for Fleet {
    fn nodes(&self) -> Vec<PlacementNode> {
        self.0.clone()
    }
}

fn node(id: &str, gpus: u32, total_mb: u64) -> PlacementNode {
    PlacementNode {
        id: id.into(),
        healthy: true,
        gpus: (0..gpus)
            .map(|i| GpuSlot {
                gpu_id: i.to_string(),
                name: "NVIDIA A100-SXM4-80GB".into(),
                vendor: GpuVendor::Nvidia,
                total_mb,
                cuda_capability: Some(80),
                temperature_c: Some(45),
                residents: Vec::new(),
            })
            .collect(),
        engines: vec!["vllm".into(), "llamacpp".into()],
        disk_models: Vec::new(),
        cpu_percent: 10.0,
        memory_percent: 10.0,
    }
}

fn placer(store: Arc<dyn DeploymentStore>, fleet: Vec<PlacementNode>) -> Placer {
    named_placer(store, fleet, "replica-a")
}

fn named_placer(
    store: Arc<dyn DeploymentStore>,
    fleet: Vec<PlacementNode>,
    holder: &str,
) -> Placer {
    Placer {
        holder: holder.into(),
        store,
        fleet: Arc::new(Fleet(fleet)),
        plugin: Plugin::Binpack,
        thresholds: Thresholds::default(),
        interval: Duration::from_millis(10),
    }
}

async fn create(store: &dyn DeploymentStore, spec: serde_json::Value) -> String {
    let built = gonka_admin::deploy::build(serde_json::from_value(spec).unwrap(), &[], 1).unwrap();
    let mut c = built.creation;
    // Unique ids per call (build draws random ids; the clock part is fixed here).
    let id = c.group.id.clone();
    store.create_group(c.clone()).await.unwrap();
    c.group.id = id.clone();
    id
}

/// Memory booked on each (node, GPU) by tasks holding GPUs.
async fn booked(store: &dyn DeploymentStore) -> HashMap<(String, String), u64> {
    let mut out = HashMap::new();
    for t in store.tasks(&TaskFilter::default()).await.unwrap() {
        if !t.status.holds_gpu() {
            continue;
        }
        for g in t.gpu_id.as_deref().unwrap().split(',') {
            *out.entry((t.node_id.clone().unwrap(), g.to_owned()))
                .or_default() += t.estimated_gpu_memory_mb;
        }
    }
    out
}

#[tokio::test]
async fn pending_tasks_are_placed_without_overbooking_any_gpu() {
    let store: Arc<dyn DeploymentStore> = Arc::new(MemoryDeploymentStore::new());
    let fleet = vec![node("n1", 2, 80_000), node("n2", 2, 80_000)];
    let p = placer(store.clone(), fleet);
    let a = create(
        store.as_ref(),
        json!({"name": "a", "replicas": 3, "estimated_gpu_memory_mb": 50_000}),
    )
    .await;
    let b = create(
        store.as_ref(),
        json!({"name": "b", "replicas": 2, "estimated_gpu_memory_mb": 60_000,
        "co_schedule": {"max_models_per_gpu": 2}}),
    )
    .await;
    let report = p.tick().await.unwrap();
    // 4 GPUs of 80 GB: three 50 GB tasks take three GPUs; one 60 GB task takes the last; the
    // second 60 GB task fits nowhere (no GPU has 60 GB left).
    assert_eq!(report.placed.len(), 4, "{report:?}");
    assert_eq!(report.unplaced.len(), 1, "{report:?}");
    assert!(report.unplaced[0].1.contains("busy"), "{report:?}");
    for ((node, gpu), mb) in booked(store.as_ref()).await {
        assert!(mb <= 80_000, "{node}/{gpu} booked {mb} MiB");
    }
    let tasks = store.tasks(&TaskFilter::default()).await.unwrap();
    let scheduled: Vec<_> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Scheduled)
        .collect();
    for t in &scheduled {
        assert_eq!(t.engine.as_deref(), Some("vllm"));
        assert_eq!(t.ports.len(), 1);
    }
    // Ports are distinct per node.
    let mut ports: Vec<_> = scheduled
        .iter()
        .map(|t| (t.node_id.clone(), t.ports[0]))
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), scheduled.len());
    assert_eq!(
        store.group(&a).await.unwrap().status,
        GroupStatus::Scheduling
    );
    assert_eq!(
        store.group(&b).await.unwrap().status,
        GroupStatus::Scheduling
    );
    // Nothing changes on the next tick: the last task still fits nowhere.
    let again = p.tick().await.unwrap();
    assert!(again.placed.is_empty());
}

#[tokio::test]
async fn a_gold_group_preempts_bronze_tasks_which_retry() {
    let store: Arc<dyn DeploymentStore> = Arc::new(MemoryDeploymentStore::new());
    let p = placer(store.clone(), vec![node("n1", 1, 80_000)]);
    create(
        store.as_ref(),
        json!({"name": "batch", "qos": "bronze", "estimated_gpu_memory_mb": 30_000,
        "route": {"priority": 5}}),
    )
    .await;
    assert_eq!(p.tick().await.unwrap().placed.len(), 1);
    let gold = create(
        store.as_ref(),
        json!({"name": "prod", "qos": "gold", "estimated_gpu_memory_mb": 40_000,
        "co_schedule": {"preempt": true}}),
    )
    .await;
    let report = p.tick().await.unwrap();
    assert_eq!(report.preempted.len(), 1, "{report:?}");
    assert_eq!(report.placed.len(), 1, "{report:?}");
    let tasks = store
        .tasks(&TaskFilter {
            group_id: Some(gold),
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks[0].status, TaskStatus::Scheduled);
    let victim = store.task(&report.preempted[0]).await.unwrap();
    assert_eq!(victim.status, TaskStatus::Failed);
    assert!(victim.error.unwrap().contains("preempted"));
}

#[tokio::test]
async fn a_schedule_window_holds_tasks_back() {
    let store: Arc<dyn DeploymentStore> = Arc::new(MemoryDeploymentStore::new());
    let p = placer(store.clone(), vec![node("n1", 1, 80_000)]);
    // A window of one minute, twelve hours from now: never open during the test.
    let now_min = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
        % 1440) as u32;
    let start = (now_min + 720) % 1440;
    let end = (start + 1) % 1440;
    let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    create(
        store.as_ref(),
        json!({"name": "night", "estimated_gpu_memory_mb": 1000,
        "schedule_window": {"start": hhmm(start), "end": hhmm(end)}}),
    )
    .await;
    let report = p.tick().await.unwrap();
    assert!(report.placed.is_empty());
    assert_eq!(report.outside_window.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_placers_on_one_database_place_each_task_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.db");
    let a: Arc<dyn DeploymentStore> =
        Arc::new(SqliteDeploymentStore::open_path(&path).await.unwrap());
    let b: Arc<dyn DeploymentStore> =
        Arc::new(SqliteDeploymentStore::open_path(&path).await.unwrap());
    let fleet: Vec<PlacementNode> = (0..8).map(|i| node(&format!("n{i}"), 4, 80_000)).collect();
    create(a.as_ref(), json!({"name": "wide", "replicas": 24, "max_replicas": 32, "estimated_gpu_memory_mb": 70_000})).await;
    let pa = named_placer(a.clone(), fleet.clone(), "replica-a");
    let pb = named_placer(b.clone(), fleet, "replica-b");
    let (ra, rb) = tokio::join!(pa.tick(), pb.tick());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // One replica holds the placement lease and places; the other places nothing.
    assert!(
        ra.lease_held_elsewhere != rb.lease_held_elsewhere,
        "{ra:?} / {rb:?}"
    );
    assert_eq!(ra.placed.len() + rb.placed.len(), 24);
    let tasks = a.tasks(&TaskFilter::default()).await.unwrap();
    assert!(
        tasks.iter().all(|t| t.status == TaskStatus::Scheduled),
        "every task placed"
    );
    // No GPU booked twice: 70 GB tasks on 80 GB GPUs.
    for ((node, gpu), mb) in booked(a.as_ref()).await {
        assert!(mb <= 80_000, "{node}/{gpu} booked {mb} MiB");
    }
    // The holder keeps the lease on its next tick; the other still waits.
    assert!(
        !pb.tick().await.unwrap().lease_held_elsewhere
            || !pa.tick().await.unwrap().lease_held_elsewhere
    );
}
