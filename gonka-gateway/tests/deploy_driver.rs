//! The task driver of deployments, with the real placer, the real deployments API (typed client)
//! over one store, and ML nodes answering the task API (`/api/v1/tasks`): scheduled tasks are
//! launched and run; sleep, wake and stop asked through the admin API reach the node; idle tasks
//! sleep and a request wakes them; autoscaling adds a replica under load and drains one after the
//! cooldown; a rolling update replaces tasks one at a time, and one whose new version fails its
//! health check rolls back with the old tasks serving throughout; a recreate update.
//!
//! The ML nodes are `deploy_driver_support::task_node`'s stand-in until gonka-mlnode serves the
//! task API (`start_task_node` is the one line to switch); time is a `ManualClock`, so idle
//! timeouts and cooldowns pass without waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "deploy_driver_support/task_node.rs"]
mod task_node;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gonka_admin::client::{TaskAction, TaskQuery};
use gonka_admin::{AdminOptions, Client, ClientError, FleetGpus};
use gonka_core::deploy::placement::{GpuSlot, PlacementNode, Thresholds};
use gonka_core::deploy::{
    DeploymentStore, GpuVendor, GroupStatus, MemoryDeploymentStore, Plugin, RollingUpdateState,
    Task, TaskFilter, TaskStatus, UpdateRequest, UpdateStrategy,
};
use gonka_core::mlnode_api::TaskState;
use gonka_gateway::mlnode_client::MlNodeClient;
use gonka_gateway::placer::Placer;
use gonka_gateway::task_driver::{
    Clock, DriverReport, DriverSettings, ManualClock, NodeDirectory, NodeLoad, TaskDriver,
};
use serde_json::json;
use task_node::{start_task_node, TaskNodeStandIn};

#[derive(Debug)]
struct Fleet(Vec<PlacementNode>);

impl FleetGpus for Fleet {
    fn nodes(&self) -> Vec<PlacementNode> {
        self.0.clone()
    }
}

#[derive(Debug)]
struct Directory {
    urls: HashMap<String, String>,
    loads: Mutex<HashMap<String, NodeLoad>>,
}

impl NodeDirectory for Directory {
    fn node_ids(&self) -> Vec<String> {
        self.urls.keys().cloned().collect()
    }
    fn management_url(&self, node_id: &str) -> Option<String> {
        self.urls.get(node_id).cloned()
    }
    fn instance_url(&self, node_id: &str, port: u16) -> Option<String> {
        self.urls
            .get(node_id)
            .map(|u| format!("{u}/instances/{port}"))
    }
    fn load(&self, node_id: &str) -> Option<NodeLoad> {
        self.loads.lock().unwrap().get(node_id).copied()
    }
}

fn gpu_node(id: &str, gpus: u32) -> PlacementNode {
    PlacementNode {
        id: id.into(),
        healthy: true,
        gpus: (0..gpus)
            .map(|i| GpuSlot {
                gpu_id: i.to_string(),
                name: "NVIDIA A100-SXM4-80GB".into(),
                vendor: GpuVendor::Nvidia,
                total_mb: 80_000,
                cuda_capability: Some(80),
                temperature_c: Some(45),
                residents: Vec::new(),
            })
            .collect(),
        engines: vec!["vllm".into()],
        disk_models: Vec::new(),
        cpu_percent: 10.0,
        memory_percent: 10.0,
    }
}

struct Env {
    store: Arc<dyn DeploymentStore>,
    nodes: HashMap<String, TaskNodeStandIn>,
    placer: Placer,
    driver: TaskDriver,
    directory: Arc<Directory>,
    clock: Arc<ManualClock>,
    admin: Client,
    _admin_stop: tokio::sync::oneshot::Sender<()>,
}

impl Env {
    /// `nodes` ML nodes of 4 GPUs each, a placer, a driver (health checks every tick), and the
    /// deployments API over the same store.
    async fn start(nodes: usize) -> Self {
        Self::start_on(nodes, Arc::new(MemoryDeploymentStore::new())).await
    }

    /// As [`Env::start`] over `store`.
    async fn start_on(nodes: usize, store: Arc<dyn DeploymentStore>) -> Self {
        let mut stand_ins = HashMap::new();
        let mut fleet = Vec::new();
        for i in 0..nodes {
            let id = format!("n{i}");
            fleet.push(gpu_node(&id, 4));
            stand_ins.insert(id, start_task_node().await);
        }
        let directory = Arc::new(Directory {
            urls: stand_ins
                .iter()
                .map(|(id, n)| (id.clone(), n.url.clone()))
                .collect(),
            loads: Mutex::default(),
        });
        let placer = Placer {
            store: store.clone(),
            fleet: Arc::new(Fleet(fleet.clone())),
            plugin: Plugin::Spread,
            thresholds: Thresholds::default(),
            interval: Duration::from_millis(10),
            holder: "replica-a".into(),
        };
        let clock = Arc::new(ManualClock::new());
        let settings = DriverSettings {
            interval: Duration::from_millis(10),
            health_interval: Some(Duration::ZERO),
            health_timeout: Some(Duration::from_secs(5)),
            ..DriverSettings::default()
        };
        let driver = TaskDriver::new(
            store.clone(),
            directory.clone(),
            MlNodeClient::default(),
            "replica-a",
            settings,
        )
        .with_clock(clock.clone());
        let app = gonka_admin::deploy_router(
            store.clone(),
            Some(Arc::new(Fleet(fleet))),
            &AdminOptions::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = Client::new(format!("http://{}", listener.local_addr().unwrap()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(gonka_admin::run(app, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            store,
            nodes: stand_ins,
            placer,
            driver,
            directory,
            clock,
            admin,
            _admin_stop: stop,
        }
    }

    /// One placer tick and one driver tick.
    async fn step(&self) -> DriverReport {
        self.placer.tick().await.unwrap();
        self.driver.tick().await.unwrap()
    }

    /// Steps until `check` holds (at most 40 steps).
    async fn until<F, Fut>(&self, what: &str, mut check: F) -> Vec<DriverReport>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut reports = Vec::new();
        for _ in 0..40 {
            reports.push(self.step().await);
            if check().await {
                return reports;
            }
        }
        panic!(
            "{what}: not reached in 40 steps; last report {:?}",
            reports.last()
        );
    }

    async fn create(&self, spec: serde_json::Value) -> String {
        self.admin
            .create_task_group_json(&spec)
            .await
            .unwrap()
            .task_group
            .id
    }

    async fn tasks(&self, group: &str) -> Vec<Task> {
        self.store
            .tasks(&TaskFilter {
                group_id: Some(group.into()),
                ..TaskFilter::default()
            })
            .await
            .unwrap()
    }

    async fn count(&self, group: &str, status: TaskStatus) -> usize {
        self.tasks(group)
            .await
            .iter()
            .filter(|t| t.status == status)
            .count()
    }

    /// The node stand-in holding `task`.
    fn node_of(&self, task: &Task) -> &TaskNodeStandIn {
        &self.nodes[task.node_id.as_deref().unwrap()]
    }

    /// Instances running on every node.
    fn running_instances(&self) -> Vec<String> {
        self.nodes
            .values()
            .flat_map(|n| n.instances())
            .filter(|i| i.state == TaskState::Running)
            .map(|i| i.task_id)
            .collect()
    }
}

#[tokio::test]
async fn scheduled_tasks_are_launched_from_the_spec_and_run() {
    let env = Env::start(2).await;
    let group = env
        .create(
            json!({"name": "chat", "model_path": "org/chat-7b", "replicas": 2,
            "estimated_gpu_memory_mb": 20_000, "context_length": 8192, "dtype": "bfloat16",
            "engine_args": ["--enforce-eager"]}),
        )
        .await;
    env.until("both tasks running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    for t in env.tasks(&group).await {
        let node = env.node_of(&t);
        let (id, launch) = node
            .launches()
            .into_iter()
            .find(|(id, _)| *id == t.id)
            .unwrap();
        assert_eq!(id, t.id);
        assert_eq!(launch.model, "chat");
        assert_eq!(launch.model_path, "org/chat-7b");
        assert_eq!(launch.engine, "vllm");
        assert_eq!(launch.gpu_ids.join(","), t.gpu_id.clone().unwrap());
        assert_eq!(launch.port, t.ports[0]);
        assert_eq!(launch.max_model_len, 8192);
        assert_eq!(launch.dtype, "bfloat16");
        assert_eq!(launch.args, vec!["--enforce-eager".to_owned()]);
        assert_eq!(node.instance(&t.id).unwrap().state, TaskState::Running);
    }
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Running
    );
    // Nothing is launched twice.
    let launches: usize = env.nodes.values().map(|n| n.launches().len()).sum();
    env.step().await;
    let again: usize = env.nodes.values().map(|n| n.launches().len()).sum();
    assert_eq!(launches, again);
}

#[tokio::test]
async fn a_failing_engine_fails_the_task_with_the_nodes_error_and_retries_are_bounded() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "bad", "model_path": "org/broken-7b",
            "estimated_gpu_memory_mb": 10_000}))
        .await;
    let mut retried = 0;
    let mut failures = Vec::new();
    for _ in 0..40 {
        let r = env.step().await;
        retried += r.retried.len();
        failures.extend(r.failed);
    }
    // One first attempt and three retries, each failing with the engine's error.
    assert_eq!(retried, 3, "{failures:?}");
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures[0].1.contains("engine exited with code 1"),
        "{failures:?}"
    );
    let tasks = env.tasks(&group).await;
    assert_eq!(tasks[0].status, TaskStatus::Failed);
    assert!(tasks[0].error.as_deref().unwrap().contains("engine exited"));
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Failed
    );
    // The failed instance does not stay on the node.
    assert!(env.nodes["n0"].instances().is_empty());
}

#[tokio::test]
async fn sleep_wake_and_stop_through_the_admin_api_reach_the_node() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "svc", "estimated_gpu_memory_mb": 10_000, "replicas": 2}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let tasks = env.tasks(&group).await;
    let (a, b) = (&tasks[0], &tasks[1]);
    let node = &env.nodes["n0"];

    env.admin
        .task_action(&a.id, TaskAction::Sleep)
        .await
        .unwrap();
    env.until("asleep on the node", || async {
        node.instance(&a.id).unwrap().state == TaskState::Sleeping
    })
    .await;
    assert_eq!(
        env.store.task(&a.id).await.unwrap().status,
        TaskStatus::Sleeping
    );
    // It stays asleep: the driver does not take its own sleep for a wake-up.
    for _ in 0..3 {
        env.step().await;
    }
    assert_eq!(node.instance(&a.id).unwrap().state, TaskState::Sleeping);
    assert_eq!(
        env.store.task(&a.id).await.unwrap().status,
        TaskStatus::Sleeping
    );

    env.admin
        .task_action(&a.id, TaskAction::Wake)
        .await
        .unwrap();
    env.until("awake again", || async {
        env.store.task(&a.id).await.unwrap().status == TaskStatus::Running
    })
    .await;
    assert_eq!(node.wakes(), vec![a.id.clone()]);
    assert_eq!(node.instance(&a.id).unwrap().state, TaskState::Running);

    env.admin
        .task_action(&b.id, TaskAction::Stop)
        .await
        .unwrap();
    env.until("stopped on the node", || async {
        node.instance(&b.id).is_none()
    })
    .await;
    assert!(node.deletes().contains(&b.id));

    // Stop the rest, delete the group before the driver looks: its instances still go.
    env.admin
        .task_action(&a.id, TaskAction::Stop)
        .await
        .unwrap();
    env.admin.delete_task_group(&group).await.unwrap();
    env.until("the deleted group's instances are gone", || async {
        node.instances().is_empty()
    })
    .await;
    assert!(node.deletes().contains(&a.id));
}

#[tokio::test]
async fn an_idle_task_sleeps_and_a_request_wakes_it() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "idle", "estimated_gpu_memory_mb": 10_000,
            "idle_timeout_minutes": 1}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let task = env.tasks(&group).await.remove(0);
    let node = &env.nodes["n0"];
    // Busy or recently used: no sleep.
    node.set_traffic(&task.id, 1, 0);
    env.clock.advance(61_000);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Running
    );
    node.set_traffic(&task.id, 0, env.clock.now_ms() - 30_000);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Running
    );

    env.clock.advance(31_000);
    let reports = env
        .until("idle sleep", || async {
            env.store.task(&task.id).await.unwrap().status == TaskStatus::Sleeping
        })
        .await;
    assert!(reports.iter().any(|r| r.idle_slept.contains(&task.id)));
    assert_eq!(node.instance(&task.id).unwrap().state, TaskState::Sleeping);
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Sleeping
    );

    // A request arrives: the node wakes the instance; the driver follows.
    node.request_wakes(&task.id, env.clock.now_ms());
    env.until("running again", || async {
        env.store.task(&task.id).await.unwrap().status == TaskStatus::Running
    })
    .await;
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Running
    );
    // It just served: it is not put back to sleep.
    env.step().await;
    assert_eq!(node.instance(&task.id).unwrap().state, TaskState::Running);
}

#[tokio::test]
async fn autoscaling_adds_a_replica_under_load_and_drains_one_after_the_cooldown() {
    let env = Env::start(2).await;
    let group = env
        .create(json!({"name": "auto", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "min_replicas": 1, "max_replicas": 3,
            "scale_policy": {"metric": "concurrent_requests", "target": 2, "cooldown_seconds": 30}}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let first = env.tasks(&group).await.remove(0);
    // Under load: 5 requests in flight on one replica, target 2.
    env.node_of(&first).set_traffic(&first.id, 5, 0);
    let reports = env
        .until("a second replica runs", || async {
            env.count(&group, TaskStatus::Running).await == 2
        })
        .await;
    assert_eq!(
        reports
            .iter()
            .flat_map(|r| r.scaled.clone())
            .collect::<Vec<_>>(),
        vec![(group.clone(), 1)]
    );
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.current_replicas, 2);
    assert!(g.last_scaled_at_ms.is_some());
    // Still loaded (5 over 2 replicas), but cooling down: no change.
    env.clock.advance(10_000);
    for _ in 0..3 {
        assert!(env.step().await.scaled.is_empty());
    }
    // After the cooldown: a third (max).
    env.clock.advance(21_000);
    env.until("a third replica runs", || async {
        env.count(&group, TaskStatus::Running).await == 3
    })
    .await;
    // More load (9 over 3 replicas): above target, but at max_replicas.
    env.node_of(&first).set_traffic(&first.id, 9, 0);
    env.clock.advance(31_000);
    for _ in 0..3 {
        assert!(env.step().await.scaled.is_empty(), "at max_replicas");
    }

    // The load goes; the highest rank has one request left: it is drained, then stopped.
    env.node_of(&first).set_traffic(&first.id, 0, 0);
    let tasks = env.tasks(&group).await;
    let top = tasks.iter().max_by_key(|t| t.rank).unwrap().clone();
    env.node_of(&top).set_traffic(&top.id, 1, 0);
    let r = env.step().await;
    assert_eq!(r.scaled, vec![(group.clone(), -1)]);
    for _ in 0..3 {
        let r = env.step().await;
        assert!(r.draining.contains(&top.id), "{r:?}");
        assert_eq!(
            env.store.task(&top.id).await.unwrap().status,
            TaskStatus::Running
        );
    }
    env.node_of(&top).set_traffic(&top.id, 0, 0);
    env.until("the drained replica stopped", || async {
        env.store.task(&top.id).await.unwrap().status == TaskStatus::Completed
    })
    .await;
    assert!(env.node_of(&top).instance(&top.id).is_none());
    assert_eq!(env.store.group(&group).await.unwrap().current_replicas, 2);
    // Not below the cooldown, then down to min_replicas, never below.
    assert!(env.step().await.scaled.is_empty());
    env.clock.advance(31_000);
    env.until("one replica left", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    env.clock.advance(31_000);
    for _ in 0..3 {
        assert!(env.step().await.scaled.is_empty(), "at min_replicas");
    }
    assert_eq!(env.count(&group, TaskStatus::Running).await, 1);
}

#[tokio::test]
async fn a_metric_the_gateway_cannot_see_holds_and_the_node_queue_scales() {
    let env = Env::start(1).await;
    let blind = env
        .create(
            json!({"name": "gpu-metric", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "max_replicas": 2,
            "scale_policy": {"metric": "gpu_utilization", "target": 50, "cooldown_seconds": 30}}),
        )
        .await;
    let queued = env
        .create(
            json!({"name": "queue-metric", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "max_replicas": 2,
            "scale_policy": {"metric": "request_queue", "target": 4, "cooldown_seconds": 30}}),
        )
        .await;
    env.until("running", || async {
        env.count(&blind, TaskStatus::Running).await == 1
            && env.count(&queued, TaskStatus::Running).await == 1
    })
    .await;
    env.directory.loads.lock().unwrap().insert(
        "n0".into(),
        NodeLoad {
            in_flight: 3,
            queue_depth: 9,
        },
    );
    let r = env.step().await;
    assert_eq!(r.unsupported_metric, vec![blind.clone()]);
    assert_eq!(r.scaled, vec![(queued.clone(), 1)]);
}

/// Steps an update to its end, checking before every step that at least `serving` instances run
/// (old tasks serve until their replacements are healthy).
async fn roll(env: &Env, group: &str, serving: usize) -> RollingUpdateState {
    for _ in 0..60 {
        let running = env.running_instances().len();
        assert!(running >= serving, "only {running} instance(s) serving");
        env.step().await;
        let g = env.store.group(group).await.unwrap();
        if g.rolling_update_state != RollingUpdateState::Rolling {
            return g.rolling_update_state;
        }
    }
    panic!("the update did not end in 60 steps");
}

#[tokio::test]
async fn a_rolling_update_replaces_tasks_one_at_a_time() {
    rolling_update(Env::start(2).await).await;
}

#[tokio::test]
async fn a_rolling_update_on_sqlite_keeps_its_record_across_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = gonka_admin::SqliteDeploymentStore::open_path(dir.path().join("deploy.db"))
        .await
        .unwrap();
    rolling_update(Env::start_on(2, Arc::new(store)).await).await;
}

async fn rolling_update(env: Env) {
    let group = env
        .create(
            json!({"name": "roll", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000}),
        )
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let update = UpdateRequest {
        model_path: Some("org/v2".into()),
        version: Some("v2".into()),
        ..UpdateRequest::default()
    };
    let g = env.admin.update_task_group(&group, &update).await.unwrap();
    assert_eq!(g.rolling_update_state, RollingUpdateState::Rolling);
    assert_eq!(g.generation, 2);
    // A second update while this one runs is refused.
    let again = env.admin.update_task_group(&group, &update).await;
    assert!(
        matches!(again, Err(ClientError::Conflict { .. })),
        "{again:?}"
    );

    assert_eq!(roll(&env, &group, 2).await, RollingUpdateState::Completed);
    let tasks = env.tasks(&group).await;
    let live: Vec<&Task> = tasks.iter().filter(|t| t.status.is_live()).collect();
    assert_eq!(live.len(), 2);
    for t in &live {
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.model_path, "org/v2");
        assert_eq!(t.generation, 2);
    }
    let old: Vec<&Task> = tasks.iter().filter(|t| t.generation == 1).collect();
    assert_eq!(old.len(), 2);
    for t in old {
        assert_eq!(t.status, TaskStatus::Completed);
        assert!(env.node_of(t).instance(&t.id).is_none());
    }
    let routes = env.admin.model_routes().await.unwrap();
    assert_eq!(routes[0].spec.version, "v2");
    assert_eq!(env.running_instances().len(), 2);
}

#[tokio::test]
async fn a_rolling_update_failing_its_health_check_rolls_back() {
    let env = Env::start(2).await;
    let group = env
        .create(
            json!({"name": "canary", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000}),
        )
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let before: Vec<String> = env.tasks(&group).await.into_iter().map(|t| t.id).collect();
    let update = UpdateRequest {
        model_path: Some("org/v2-unhealthy".into()),
        ..UpdateRequest::default()
    };
    env.admin.update_task_group(&group, &update).await.unwrap();
    assert_eq!(roll(&env, &group, 2).await, RollingUpdateState::Rollback);
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.generation, 1);
    assert_eq!(g.spec.model_path.as_deref(), Some("org/v1"));
    let error = g.update.unwrap().error.unwrap();
    assert!(error.contains("health check"), "{error}");
    // The old tasks still run, untouched; the new one stopped and left its node.
    for id in &before {
        assert_eq!(
            env.store.task(id).await.unwrap().status,
            TaskStatus::Running
        );
    }
    let new: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.generation == 2)
        .collect();
    assert!(!new.is_empty());
    for t in &new {
        assert_eq!(t.status, TaskStatus::Completed);
    }
    let mut running = env.running_instances();
    running.sort();
    let mut expected = before.clone();
    expected.sort();
    assert_eq!(running, expected);
    // Nothing more happens afterwards.
    for _ in 0..3 {
        let r = env.step().await;
        assert!(r.launched.is_empty() && r.update_steps.is_empty(), "{r:?}");
    }
    // A fixed version next: a new generation above the rolled-back one's, then completed.
    let fixed = UpdateRequest {
        model_path: Some("org/v2-fixed".into()),
        ..UpdateRequest::default()
    };
    let g = env.admin.update_task_group(&group, &fixed).await.unwrap();
    assert_eq!(g.generation, 3);
    assert_eq!(roll(&env, &group, 2).await, RollingUpdateState::Completed);
    let live: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.status.is_live())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|t| t.model_path == "org/v2-fixed" && t.status == TaskStatus::Running));
}

#[tokio::test]
async fn a_recreate_update_stops_all_then_starts_all() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "re", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let update = UpdateRequest {
        model_path: Some("org/v2".into()),
        strategy: UpdateStrategy::Recreate,
        ..UpdateRequest::default()
    };
    env.admin.update_task_group(&group, &update).await.unwrap();
    let first = env.step().await;
    assert_eq!(first.deleted.len(), 2, "{first:?}");
    assert!(env.nodes["n0"].instances().is_empty());
    assert_eq!(roll(&env, &group, 0).await, RollingUpdateState::Completed);
    let live: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.status.is_live())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|t| t.model_path == "org/v2" && t.status == TaskStatus::Running));
}

#[tokio::test]
async fn bad_updates_name_the_field_and_change_nothing() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "val", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let bad = UpdateRequest {
        engine: Some("warp-drive".into()),
        ..UpdateRequest::default()
    };
    match env.admin.update_task_group(&group, &bad).await {
        Err(ClientError::Invalid { errors, .. }) => {
            assert_eq!(errors[0].field, "engine", "{errors:?}");
        }
        other => panic!("expected a 400 naming engine, got {other:?}"),
    }
    let nothing = UpdateRequest::default();
    assert!(matches!(
        env.admin.update_task_group(&group, &nothing).await,
        Err(ClientError::Invalid { .. })
    ));
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.generation, 1);
    assert_eq!(g.rolling_update_state, RollingUpdateState::Idle);
    assert!(g.update.is_none());
    let tasks = env.admin.tasks(&TaskQuery::default()).await.unwrap();
    assert_eq!(tasks.len(), 1);
}

#[tokio::test]
async fn one_replica_drives_at_a_time() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "lease", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let other = TaskDriver::new(
        env.store.clone(),
        env.directory.clone(),
        MlNodeClient::default(),
        "replica-b",
        DriverSettings::default(),
    )
    .with_clock(env.clock.clone());
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let r = other.tick().await.unwrap();
    assert!(r.lease_held_elsewhere);
    assert_eq!(env.nodes["n0"].launches().len(), 1);
}

#[tokio::test]
async fn a_task_its_node_never_starts_is_placed_again_after_the_start_timeout() {
    let mut env = Env::start(1).await;
    // The node is gone before the task is placed on it.
    drop(env.nodes.remove("n0"));
    let group = env
        .create(json!({"name": "lost", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let r = env.step().await;
    assert_eq!(r.unreachable.len(), 1, "{r:?}");
    let task = env.tasks(&group).await.remove(0);
    assert_eq!(task.status, TaskStatus::Scheduled);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Scheduled,
        "within the start timeout nothing changes"
    );
    env.clock.advance(11 * 60_000);
    let r = env.step().await;
    assert_eq!(r.requeued, vec![task.id.clone()]);
    let back = env.store.task(&task.id).await.unwrap();
    assert_eq!(back.status, TaskStatus::Pending);
    assert!(back.error.unwrap().contains("did not start"));
}
