//! A gateway with deployments over a memory store, and simulator ML nodes (real `gonka-mlnode`
//! agents, each serving one model) added and stopped by id. Tasks are placed on chosen nodes
//! through the store (pending → scheduled, as the placer would); the gateway's task driver then
//! launches each as a real task instance on its node's agent and moves it to `running`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gonka_admin::client::CreatedTaskGroup;
use gonka_core::deploy::{
    DeploymentStore, MemoryDeploymentStore, TaskMove, TaskPlacement, TaskStatus,
};
use gonka_core::NodeRegistry;
use gonka_gateway::deploy_routes::Snapshot;
use gonka_gateway::{GatewayConfig, RunningGateway};
use gonka_mlnode::MlNodeConfig;
use tokio::net::TcpListener;

use super::sim_agent::{sim_config, SimAgent};
use super::{eventually, eventually_within, start};

/// Slots of every simulator node.
pub const NODE_SLOTS: u32 = 64;

/// The gateway, its deployment store, its admin client and the ML nodes.
pub struct DeployFleet {
    pub gw: RunningGateway,
    pub store: Arc<MemoryDeploymentStore>,
    pub admin: gonka_admin::Client,
    registry: Arc<dyn NodeRegistry>,
    agents: HashMap<String, SimAgent>,
}

impl DeployFleet {
    /// Starts a gateway with `config` and a fresh memory deployment store.
    pub async fn start(mut config: GatewayConfig) -> Self {
        let store = Arc::new(MemoryDeploymentStore::new());
        config.deployments = Some(store.clone());
        let registry = config.registry.clone();
        let gw = start(config).await;
        let admin = gonka_admin::Client::new(format!("http://{}", gw.admin_addr.unwrap()));
        Self {
            gw,
            store,
            admin,
            registry,
            agents: HashMap::new(),
        }
    }

    /// The public API's base URL.
    pub fn public(&self) -> String {
        format!("http://{}", self.gw.public_addr)
    }

    /// Starts a simulator ML node `id` serving `model` (no delays), registers it and waits until
    /// the gateway routes to it.
    pub async fn add_node(&mut self, id: &str, model: &str) {
        self.add_node_with(id, model, sim_config(model)).await;
    }

    /// As [`add_node`](Self::add_node), the agent started with `config` (e.g. [`sim_config`]
    /// with slower answers or simulated GPUs).
    pub async fn add_node_with(&mut self, id: &str, model: &str, config: MlNodeConfig) {
        let agent = SimAgent::start(id, config).await;
        self.registry
            .upsert(agent.node_config(model, NODE_SLOTS))
            .await
            .unwrap();
        self.agents.insert(id.to_owned(), agent);
        self.wait_node(id, true).await;
    }

    /// The management base URL of node `id`'s agent.
    pub fn node_mgmt_url(&self, id: &str) -> String {
        self.agents[id].mgmt_url()
    }

    /// Stops node `id`'s agent (as a crashed node) and waits until the gateway stops routing
    /// to it.
    pub async fn stop_node(&mut self, id: &str) {
        self.agents.remove(id).unwrap().stop().await;
        self.wait_node(id, false).await;
    }

    /// Waits until node `id` is routable (or not).
    pub async fn wait_node(&self, id: &str, routable: bool) {
        eventually(&format!("node {id} routable: {routable}"), || async {
            self.gw
                .pool
                .snapshot()
                .iter()
                .any(|s| &*s.view.id == id && s.view.routable() == routable)
        })
        .await;
    }

    /// Creates a task group through the admin API.
    pub async fn create_group(&self, spec: serde_json::Value) -> CreatedTaskGroup {
        self.admin.create_task_group_json(&spec).await.unwrap()
    }

    /// Places task `id` on `node` through the store's compare-and-set moves (whatever placed it
    /// before: a task placed elsewhere is failed and placed again) on a free loopback port, then
    /// waits (at most 30 s) until the task driver has launched it on the node's agent and moved
    /// it to `running`.
    pub async fn run_task_on(&self, id: &str, node: &str) {
        let what = format!("task {id} running on {node}");
        eventually_within(&what, Duration::from_secs(30), || {
            self.move_towards(id, node)
        })
        .await;
    }

    /// One move of task `id` towards running on `node`; whether it runs there.
    async fn move_towards(&self, id: &str, node: &str) -> bool {
        let task = self.store.task(id).await.unwrap();
        let here = task.node_id.as_deref() == Some(node);
        let (to, placement) = match task.status {
            TaskStatus::Running if here => return true,
            TaskStatus::Pending => (
                TaskStatus::Scheduled,
                Some(TaskPlacement {
                    node_id: node.into(),
                    gpu_ids: Vec::new(),
                    engine: "simulator".into(),
                    port: free_port().await,
                }),
            ),
            // The driver is launching it.
            TaskStatus::Scheduled if here => return false,
            TaskStatus::Failed => (TaskStatus::Pending, None),
            TaskStatus::Completed => panic!("task {id} completed"),
            _ => (TaskStatus::Failed, None),
        };
        let m = TaskMove {
            from: task.status,
            to,
            placement,
            error: None,
            // Now: the driver times a scheduled task's start from its last move.
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        };
        self.store.move_task(id, m).await.unwrap();
        false
    }

    /// Every task of `group` running on the node of the same index in `nodes`.
    pub async fn run_group_on(&self, created: &CreatedTaskGroup, nodes: &[&str]) {
        assert_eq!(created.tasks.len(), nodes.len(), "one node per task");
        for (t, n) in created.tasks.iter().zip(nodes) {
            self.run_task_on(&t.id, n).await;
        }
    }

    /// Waits until the gateway's deployment view satisfies `check`.
    pub async fn wait_view(&self, what: &str, check: impl Fn(&Snapshot) -> bool) {
        let routes = self.gw.deploy_routes.clone().unwrap();
        eventually(what, || {
            let ok = check(&routes.snapshot());
            async move { ok }
        })
        .await;
    }

    /// Sets route `id` of `group` to serve `model` at `priority` and `weight` as `version`.
    pub async fn put_route(
        &self,
        id: &str,
        group: &str,
        model: &str,
        priority: u32,
        weight: u32,
        version: &str,
    ) {
        let body = serde_json::json!({
            "model_name": model, "task_group_id": group,
            "priority": priority, "weight": weight, "version": version
        });
        self.admin.put_model_route(id, &body).await.unwrap();
    }

    /// Waits until the view routes `model` by exactly `weights` (version → weight).
    pub async fn wait_weights(&self, model: &str, weights: &[(&str, u32)]) {
        let mut want: Vec<(String, u32)> =
            weights.iter().map(|(v, w)| (v.to_string(), *w)).collect();
        want.sort();
        self.wait_view(&format!("{model} routed by {want:?}"), |s| {
            let mut have: Vec<(String, u32)> = s
                .routes(model)
                .iter()
                .map(|r| (r.spec.version.clone(), r.spec.weight))
                .collect();
            have.sort();
            have == want
        })
        .await;
    }

    /// Waits until the view sees every task of `group` running.
    pub async fn wait_running(&self, group: &str, nodes: usize) {
        self.wait_view(&format!("{group} running on {nodes} nodes"), |s| {
            s.group(group).is_some_and(|g| g.running.len() == nodes)
        })
        .await;
    }
}

/// A loopback port free now (bound and released).
async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// What one proxied answer said: status, node, route version.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub node: Option<String>,
    pub route: Option<String>,
    pub version: Option<String>,
}

/// Sends one small non-streamed chat completion for `model` (with `key` as bearer when given).
pub async fn ask(http: &reqwest::Client, base: &str, model: &str, key: Option<&str>) -> Answer {
    let mut req = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({
            "model": model, "max_tokens": 1,
            "messages": [{"role": "user", "content": "hi"}]
        }));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let answer = Answer {
        status: resp.status().as_u16(),
        node: header("x-gonka-node"),
        route: header("x-gonka-route"),
        version: header("x-gonka-route-version"),
    };
    let _ = resp.bytes().await.unwrap();
    answer
}

/// Sends `n` requests for `model`, `concurrency` at a time; their answers in completion order.
pub async fn load(base: &str, model: &str, n: usize, concurrency: usize) -> Vec<Answer> {
    use futures::StreamExt;
    let http = super::client();
    futures::stream::iter(0..n)
        .map(|_| ask(&http, base, model, None))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Count of answers per value of `key`.
pub fn count_by(
    answers: &[Answer],
    key: impl Fn(&Answer) -> Option<String>,
) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for a in answers {
        *out.entry(key(a).unwrap_or_else(|| "-".into())).or_default() += 1;
    }
    out
}
