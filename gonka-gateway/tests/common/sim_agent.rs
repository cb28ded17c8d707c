//! Real ML node agents for the tests: `gonka_mlnode::run` in-process on loopback listeners with
//! the simulator engine (no GPU, no process), registered with a gateway as a node record, and
//! read through their task API (`/api/v1/tasks`).

use std::net::SocketAddr;
use std::time::Duration;

use gonka_core::mlnode_api::{TaskInstance, TaskList};
use gonka_core::NodeConfig;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An agent configuration serving `model` with the simulator (two tokens per answer, no
/// delays) and a short drain on stop.
pub fn sim_config(model: &str) -> MlNodeConfig {
    MlNodeConfig {
        model: Some(model.into()),
        simulator: SimulatorConfig {
            model: model.into(),
            output_tokens: 2,
            ..SimulatorConfig::default()
        },
        drain_timeout: Duration::from_millis(200),
        ..MlNodeConfig::default()
    }
}

/// A running agent; [`SimAgent::stop`] stops it (and its task instances) and waits for that.
/// Dropped without `stop`, it is told to stop and not waited for.
pub struct SimAgent {
    /// Its node id.
    pub id: String,
    /// The management listener (task API, `inference/up`).
    pub mgmt: SocketAddr,
    /// The inference listener (its proxy to the engines and task instances).
    pub inference: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    run: Option<JoinHandle<()>>,
}

impl SimAgent {
    /// Starts agent `id` with `config` on two loopback ports of its own.
    pub async fn start(id: &str, config: MlNodeConfig) -> Self {
        let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mgmt_addr, inference_addr) =
            (mgmt.local_addr().unwrap(), inference.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            let _ = gonka_mlnode::run(config, mgmt, inference, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            id: id.to_owned(),
            mgmt: mgmt_addr,
            inference: inference_addr,
            stop: Some(stop),
            run: Some(run),
        }
    }

    /// Its registry record serving `model` with `slots` concurrent requests.
    pub fn node_config(&self, model: &str, slots: u32) -> NodeConfig {
        NodeConfig::new(&self.id, model)
            .at("127.0.0.1", self.inference.port(), self.mgmt.port())
            .max_concurrent(slots)
    }

    /// The management base URL.
    pub fn mgmt_url(&self) -> String {
        format!("http://{}", self.mgmt)
    }

    /// The inference base URL.
    pub fn inference_url(&self) -> String {
        format!("http://{}", self.inference)
    }

    /// Its task instances, as `GET /api/v1/tasks` answers.
    pub async fn instances(&self) -> Vec<TaskInstance> {
        task_instances(&self.mgmt_url()).await
    }

    /// The instance of `task_id`, if it holds one.
    pub async fn instance(&self, task_id: &str) -> Option<TaskInstance> {
        self.instances()
            .await
            .into_iter()
            .find(|i| i.task_id == task_id)
    }

    /// Stops the agent and waits (at most 30 s) until it has stopped its engines.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(run) = self.run.take() {
            tokio::time::timeout(Duration::from_secs(30), run)
                .await
                .expect("the agent stops within 30 s")
                .unwrap();
        }
    }

    /// Tells the agent to stop without waiting (as a node that goes away).
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The task instances of the agent whose management API is at `mgmt` (`GET /api/v1/tasks`).
pub async fn task_instances(mgmt: &str) -> Vec<TaskInstance> {
    let list: TaskList =
        serde_json::from_value(super::get_json(&format!("{mgmt}/api/v1/tasks")).await).unwrap();
    list.tasks
}
