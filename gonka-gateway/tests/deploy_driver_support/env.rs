//! The driver tests' environment: real ML node agents (in-process `gonka-mlnode` simulator
//! agents), a placer and a task driver stepped by the test on a manual clock, the deployments API
//! over one store, and, where a test asks, a real gateway serving the deployments (it does not
//! drive them); with live request streams and the checks the tests share.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gonka_admin::{AdminOptions, Client, FleetGpus};
use gonka_core::deploy::placement::{GpuSlot, PlacementNode, Thresholds};
use gonka_core::deploy::{
    DeploymentStore, GpuVendor, MemoryDeploymentStore, Plugin, RollingUpdateState, Task,
    TaskFilter, TaskStatus,
};
use gonka_core::mlnode_api::{TaskInstance, TaskState};
use gonka_gateway::mlnode_client::MlNodeClient;
use gonka_gateway::placer::Placer;
use gonka_gateway::task_driver::{
    DriverReport, DriverSettings, ManualClock, NodeDirectory, NodeLoad, TaskDriver,
};
use gonka_gateway::RunningGateway;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

use crate::common;
use crate::common::sim_agent::{sim_config, SimAgent};

/// The driver tests run one at a time (task instances take ports from 8100 on loopback).
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The model the agents' own engine serves (the deployments' models are their groups' names).
pub const BASE: &str = "base";

#[derive(Debug)]
pub struct Fleet(pub Vec<PlacementNode>);

impl FleetGpus for Fleet {
    fn nodes(&self) -> Vec<PlacementNode> {
        self.0.clone()
    }
}

/// The agents' management URLs; instances on loopback at their port; the load the gateway would
/// see, as a test sets it (only the node-queue metric reads it).
#[derive(Debug)]
pub struct Directory {
    pub urls: HashMap<String, String>,
    pub loads: Mutex<HashMap<String, NodeLoad>>,
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
            .contains_key(node_id)
            .then(|| format!("http://127.0.0.1:{port}"))
    }
    fn load(&self, node_id: &str) -> Option<NodeLoad> {
        self.loads.lock().unwrap().get(node_id).copied()
    }
}

pub fn gpu_node(id: &str, gpus: u32) -> PlacementNode {
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

/// An agent whose engines answer `tokens` tokens, `itl` apart (requests that stay in flight).
pub fn slow_agent(tokens: u32, itl: Duration) -> MlNodeConfig {
    let mut config = sim_config(BASE);
    config.simulator.output_tokens = tokens;
    config.simulator.inter_token_latency = itl;
    config
}

pub struct Env {
    pub store: Arc<dyn DeploymentStore>,
    pub agents: HashMap<String, SimAgent>,
    pub placer: Placer,
    pub driver: TaskDriver,
    pub directory: Arc<Directory>,
    pub clock: Arc<ManualClock>,
    pub admin: Client,
    pub gateway: Option<RunningGateway>,
    pub _admin_stop: tokio::sync::oneshot::Sender<()>,
    pub _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Env {
    /// `nodes` ML node agents (4 GPUs each to the placer), a placer, a driver (health checks
    /// every tick), and the deployments API over the same store.
    pub async fn start(nodes: usize) -> Self {
        Self::build(
            nodes,
            sim_config(BASE),
            Arc::new(MemoryDeploymentStore::new()),
            false,
        )
        .await
    }

    /// As [`Env::start`] over `store`.
    pub async fn start_on(nodes: usize, store: Arc<dyn DeploymentStore>) -> Self {
        Self::build(nodes, sim_config(BASE), store, false).await
    }

    /// As [`Env::start`] with agents of `agent` config, and with `gateway` a real gateway over
    /// the same store and registry of the agents, serving requests (it does not drive).
    pub async fn build(
        nodes: usize,
        agent: MlNodeConfig,
        store: Arc<dyn DeploymentStore>,
        gateway: bool,
    ) -> Self {
        let serial = SERIAL.lock().await;
        let mut agents = HashMap::new();
        let mut fleet = Vec::new();
        for i in 0..nodes {
            let id = format!("n{i}");
            fleet.push(gpu_node(&id, 4));
            agents.insert(id.clone(), SimAgent::start(&id, agent.clone()).await);
        }
        let directory = Arc::new(Directory {
            urls: agents
                .iter()
                .map(|(id, a)| (id.clone(), a.mgmt_url()))
                .collect(),
            loads: Mutex::default(),
        });
        let gateway = if gateway {
            let mut config = common::test_config();
            config.deployments = Some(store.clone());
            config.drive_deployments = false;
            let registry = config.registry.clone();
            let gw = common::start(config).await;
            for a in agents.values() {
                registry.upsert(a.node_config(BASE, 64)).await.unwrap();
            }
            common::wait_routable(&gw, BASE, nodes).await;
            Some(gw)
        } else {
            None
        };
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
            agents,
            placer,
            driver,
            directory,
            clock,
            admin,
            gateway,
            _admin_stop: stop,
            _serial: serial,
        }
    }

    /// Stops the gateway and the agents (their instances with them) and waits for that.
    pub async fn stop(mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.shutdown().await;
        }
        for (_, agent) in self.agents.drain() {
            agent.stop().await;
        }
    }

    /// The gateway's public base URL.
    pub fn public(&self) -> String {
        format!("http://{}", self.gateway.as_ref().unwrap().public_addr)
    }

    /// One placer tick and one driver tick.
    pub async fn step(&self) -> DriverReport {
        self.placer.tick().await.unwrap();
        self.driver.tick().await.unwrap()
    }

    /// Steps (20 ms apart: the agents start and stop engines in the background) until `check`
    /// holds, at most 500 steps and 30 s.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F) -> Vec<DriverReport>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut reports = Vec::new();
        for _ in 0..500 {
            reports.push(self.step().await);
            if check().await {
                return reports;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{what}: not reached in {} steps; last report {:?}",
            reports.len(),
            reports.last()
        );
    }

    pub async fn create(&self, spec: Value) -> String {
        self.admin
            .create_task_group_json(&spec)
            .await
            .unwrap()
            .task_group
            .id
    }

    pub async fn tasks(&self, group: &str) -> Vec<Task> {
        self.store
            .tasks(&TaskFilter {
                group_id: Some(group.into()),
                ..TaskFilter::default()
            })
            .await
            .unwrap()
    }

    pub async fn count(&self, group: &str, status: TaskStatus) -> usize {
        self.tasks(group)
            .await
            .iter()
            .filter(|t| t.status == status)
            .count()
    }

    /// The agent holding `task`.
    pub fn node_of(&self, task: &Task) -> &SimAgent {
        &self.agents[task.node_id.as_deref().unwrap()]
    }

    /// The instance of `task` on its agent.
    pub async fn instance(&self, task: &Task) -> Option<TaskInstance> {
        self.node_of(task).instance(&task.id).await
    }

    /// Every instance on every agent.
    pub async fn instances(&self) -> Vec<TaskInstance> {
        let mut all = Vec::new();
        for a in self.agents.values() {
            all.extend(a.instances().await);
        }
        all
    }

    /// Task ids of the instances running on the agents.
    pub async fn running_instances(&self) -> Vec<String> {
        self.instances()
            .await
            .into_iter()
            .filter(|i| i.state == TaskState::Running)
            .map(|i| i.task_id)
            .collect()
    }
}

/// `GET` on an instance's own engine (the simulator on its port).
pub async fn engine_get(port: u16, path: &str) -> (u16, Value) {
    let r = common::client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// One chat completion for `model` at `base` (a gateway or an agent's inference port), at most
/// `max_tokens` tokens: its status and body.
pub async fn chat(
    http: &reqwest::Client,
    base: &str,
    model: &str,
    max_tokens: u32,
) -> (u16, String) {
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// A streamed chat completion for `model` at `base`, started: it is in flight once this returns
/// (its first chunk arrived). Reading the rest with [`finish_stream`] ends it.
pub async fn start_stream(base: &str, model: &str) -> reqwest::Response {
    let mut r = common::client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": model, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap();
    assert!(first.is_some(), "the stream ended before its first chunk");
    r
}

/// Reads a stream to its end: whether it ended with `data: [DONE]`.
pub async fn finish_stream(mut r: reqwest::Response) -> bool {
    let mut rest = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&rest).contains("data: [DONE]")
}

/// Live requests: `workers` clients sending chat completions for `model` to `base` one after
/// another (each at most `per_worker` requests) until stopped; every answer's status is kept.
pub struct Stream {
    pub stop: Arc<AtomicBool>,
    pub statuses: Arc<Mutex<Vec<(u16, String)>>>,
    pub workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Stream {
    pub fn start(
        base: &str,
        model: &str,
        workers: usize,
        per_worker: usize,
        max_tokens: u32,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let statuses: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
        let workers = (0..workers)
            .map(|_| {
                let (stop, statuses) = (stop.clone(), statuses.clone());
                let (base, model) = (base.to_owned(), model.to_owned());
                tokio::spawn(async move {
                    let http = common::client();
                    for _ in 0..per_worker {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let answer = chat(&http, &base, &model, max_tokens).await;
                        statuses.lock().unwrap().push(answer);
                    }
                })
            })
            .collect();
        Self {
            stop,
            statuses,
            workers,
        }
    }

    /// Answers so far.
    pub fn answered(&self) -> usize {
        self.statuses.lock().unwrap().len()
    }

    /// Stops the workers, waits for their last requests, and returns every answer.
    pub async fn finish(self) -> Vec<(u16, String)> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.await.unwrap();
        }
        std::mem::take(&mut *self.statuses.lock().unwrap())
    }
}

/// Asserts every answer was a 200 (and that there were some); returns how many.
pub fn all_ok(answers: &[(u16, String)]) -> usize {
    let failed: Vec<&(u16, String)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, e.g. {:?}",
        failed.len(),
        answers.len(),
        failed.first()
    );
    assert!(!answers.is_empty());
    answers.len()
}

/// What a roll saw.
#[derive(Debug, Default)]
pub struct Rolled {
    /// Most live tasks of the group at once.
    pub most_live: usize,
    /// Task ids of the new generation seen running on an agent.
    pub new_running: Vec<String>,
}

/// Steps an update to its end (20 ms apart, at most 500 steps), checking before every step that
/// at least `serving` instances run on the agents (old tasks serve until their replacements are
/// healthy).
pub async fn roll(env: &Env, group: &str, serving: usize) -> (RollingUpdateState, Rolled) {
    let mut seen = Rolled::default();
    for _ in 0..500 {
        let running = env.running_instances().await;
        assert!(
            running.len() >= serving,
            "only {} instance(s) serving",
            running.len()
        );
        let g = env.store.group(group).await.unwrap();
        let tasks = env.tasks(group).await;
        seen.most_live = seen
            .most_live
            .max(tasks.iter().filter(|t| t.status.is_live()).count());
        for t in tasks.iter().filter(|t| t.generation == g.generation) {
            if running.contains(&t.id) && !seen.new_running.contains(&t.id) {
                seen.new_running.push(t.id.clone());
            }
        }
        env.step().await;
        let g = env.store.group(group).await.unwrap();
        if g.rolling_update_state != RollingUpdateState::Rolling {
            return (g.rolling_update_state, seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the update did not end in 500 steps");
}
