//! `gonka-gateway devnet`: a whole network node on one machine. Starts the gateway (public,
//! admin and PoC listeners, SQLite registry in a temporary or given directory) plus N
//! `gonka-mlnode` agents as in-process tasks on their own loopback ports, registers them through
//! the admin API, and waits until the broker has brought every one to INFERENCE and the gateway
//! routes to it. The agents run the simulator engine, or ([`DevnetEngine::Llamacpp`]) each
//! supervises a real llama.cpp `llama-server` process serving a GGUF file under the devnet
//! model's name (by default a tiny random model generated into the data directory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::{NodeConfig, NodeStatus};
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::gpu::SimulatedGpus;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{GatewayConfig, Listeners, RunningGateway, StartupError};

mod engine;

use engine::resolve_engine;
pub use engine::{DevnetEngine, LlamacppEngine};

/// The model devnet serves by default.
pub const DEFAULT_MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// Simulated GPUs per devnet ML node by default.
pub const DEFAULT_SIM_GPUS: u32 = 2;

/// Configuration of a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Number of simulated ML nodes (default 3).
    pub ml_nodes: usize,
    /// Model every node serves (default [`DEFAULT_MODEL`]).
    pub model: String,
    /// `max_concurrent` of every node (default 16).
    pub max_concurrent: u32,
    /// Directory of the SQLite registry; `None` uses a temporary directory removed at shutdown.
    pub data_dir: Option<PathBuf>,
    /// Simulator behaviour of every node (its `model` is replaced by `model`).
    pub simulator: SimulatorConfig,
    /// The gateway's settings (its registry is replaced by the devnet's SQLite registry).
    pub gateway: GatewayConfig,
    /// How long to wait for every node to become routable (default 60 s).
    pub ready_timeout: Duration,
    /// The engine of every ML node (default: the simulator).
    pub engine: DevnetEngine,
    /// Simulated GPUs of every ML node (default: 2 × NVIDIA A100-SXM4-80GB, 80 GB each), reported
    /// by its `/api/v1/gpu/devices` so that deployments are placed on the devnet out of the box;
    /// `None`: the nodes report the host's GPUs.
    pub sim_gpus: Option<SimulatedGpus>,
    /// Proof-of-Compute epochs (default: off). With it, the epoch clock starts once every node
    /// is ready, and each epoch switches the enabled nodes to PoC for its generate phase.
    pub poc: Option<crate::poc::DevnetPoc>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        let gateway = GatewayConfig {
            health_interval: Duration::from_secs(1),
            reconcile_interval: Duration::from_secs(10),
            ..GatewayConfig::default()
        };
        Self {
            ml_nodes: 3,
            model: DEFAULT_MODEL.to_owned(),
            max_concurrent: 16,
            data_dir: None,
            simulator: SimulatorConfig {
                time_to_first_token: Duration::from_millis(150),
                inter_token_latency: Duration::from_millis(25),
                output_tokens: 32,
                ..SimulatorConfig::default()
            },
            gateway,
            ready_timeout: Duration::from_secs(60),
            engine: DevnetEngine::Simulator,
            sim_gpus: Some(SimulatedGpus {
                count: DEFAULT_SIM_GPUS,
                ..SimulatedGpus::default()
            }),
            poc: None,
        }
    }
}

/// One ML node of a devnet.
#[derive(Debug)]
pub struct DevnetNode {
    /// Registry id (`devnet-0`, ...).
    pub id: String,
    /// Management API address.
    pub mgmt_addr: SocketAddr,
    /// Inference API address.
    pub inference_addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Result<(), gonka_mlnode::RunError>>,
}

impl DevnetNode {
    /// Stops this node's agent (as if the process exited) and waits for it.
    pub async fn stop(self) {
        self.stop.cancel();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(node = %self.id, error = %e, "ML node stopped with an error")
            }
            Err(e) => tracing::warn!(node = %self.id, error = %e, "ML node task failed"),
        }
    }
}

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// The gateway.
    pub gateway: RunningGateway,
    /// The ML nodes.
    pub nodes: Vec<DevnetNode>,
    /// The model served.
    pub model: String,
    /// Where the registry lives (and the generated model and engine logs, with llama.cpp).
    pub data_dir: PathBuf,
    /// The engine the nodes run.
    pub engine: EngineKind,
    /// The simulated GPUs of every node, if any.
    pub sim_gpus: Option<SimulatedGpus>,
    _temp: Option<tempfile::TempDir>,
}

fn startup<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    what: &str,
) -> impl FnOnce(E) -> StartupError + '_ {
    move |e| StartupError::devnet(what, e)
}

/// Starts a devnet on `listeners` (the admin listener is required: nodes are registered through
/// it) and returns once every node is routable.
///
/// # Errors
/// [`StartupError::Devnet`] naming the step that failed: data directory, registry, llama-server or model file
/// missing, a node's listeners, the admin registration, or nodes not ready within
/// `ready_timeout` (with llama.cpp, the engines' last errors are in the message).
pub async fn start(config: DevnetConfig, listeners: Listeners) -> Result<Devnet, StartupError> {
    let (data_dir, temp) = match &config.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(startup("cannot create the data directory"))?;
            (dir.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("gonka-devnet-")
                .tempdir()
                .map_err(startup("cannot create a temporary directory"))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let engine = resolve_engine(&config, &data_dir).await?;
    let url = format!("sqlite://{}", data_dir.join("registry.db").display());
    let registry = gonka_admin::open_registry(&url)
        .await
        .map_err(startup("cannot open the registry"))?;
    if listeners.admin.is_none() {
        return Err(StartupError::devnet_failed(
            "the admin listener is required",
        ));
    }
    let mut gateway_config = config.gateway.clone();
    gateway_config.registry = registry.clone();
    if gateway_config.traces.is_some() {
        gateway_config.traces = Some(
            gonka_admin::open_trace_store(&url)
                .await
                .map_err(startup("cannot open the trace store"))?,
        );
    }
    if gateway_config.deployments.is_some() {
        gateway_config.deployments = Some(
            gonka_admin::open_deployment_store(&url)
                .await
                .map_err(startup("cannot open the deployment store"))?,
        );
    }
    let mut poc_clock = None;
    if let Some(poc) = &config.poc {
        let (clock, poc_config) = poc
            .gateway_config(&data_dir)
            .await
            .map_err(startup("cannot open the PoC store"))?;
        gateway_config.epoch = Arc::new(clock.clone());
        gateway_config.poc = Some(poc_config);
        poc_clock = Some(clock);
    }
    let admin_token = gateway_config.admin_token.clone();
    let gateway = crate::start(gateway_config, listeners)?;
    let admin = gateway
        .admin_addr
        .ok_or_else(|| StartupError::devnet_failed("no admin address"))?;

    let mut nodes = Vec::with_capacity(config.ml_nodes);
    for i in 0..config.ml_nodes {
        nodes.push(start_node(i, &config, &data_dir, engine.as_ref()).await?);
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(startup("cannot build the HTTP client"))?;
    for n in &nodes {
        let mut node = NodeConfig::new(n.id.clone(), config.model.clone())
            .at("127.0.0.1", n.inference_addr.port(), n.mgmt_addr.port())
            .max_concurrent(config.max_concurrent);
        if let Some((_, args)) = &engine {
            node = node.model(config.model.clone(), args.clone());
        }
        let mut req = http
            .post(format!("http://{admin}/admin/v1/nodes"))
            .json(&node);
        if let Some(token) = &admin_token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(startup("admin API unreachable"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(StartupError::devnet_failed(format!(
                "registering {} answered {status}: {body}",
                n.id
            )));
        }
    }

    let devnet = Devnet {
        gateway,
        nodes,
        model: config.model.clone(),
        data_dir,
        engine: if engine.is_some() {
            EngineKind::Llamacpp
        } else {
            EngineKind::Simulator
        },
        sim_gpus: config.sim_gpus.clone().filter(|g| g.count > 0),
        _temp: temp,
    };
    let deadline = tokio::time::Instant::now() + config.ready_timeout;
    loop {
        if devnet.ready(registry.as_ref()).await {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let why = devnet.node_errors(&http).await;
            return Err(StartupError::devnet_failed(format!(
                "nodes not routable within {} s{why}",
                config.ready_timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(clock) = poc_clock {
        clock.start();
        tracing::info!("devnet PoC epoch clock started");
    }
    tracing::info!(nodes = devnet.nodes.len(), model = %devnet.model, "devnet ready");
    Ok(devnet)
}

async fn start_node(
    i: usize,
    config: &DevnetConfig,
    data_dir: &std::path::Path,
    engine: Option<&(PathBuf, Vec<String>)>,
) -> Result<DevnetNode, StartupError> {
    let mgmt = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(startup("cannot bind an ML node management port"))?;
    let inference = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(startup("cannot bind an ML node inference port"))?;
    let mgmt_addr = mgmt.local_addr().map_err(startup("listener address"))?;
    let inference_addr = inference
        .local_addr()
        .map_err(startup("listener address"))?;
    let mut node_config = MlNodeConfig {
        simulator: SimulatorConfig {
            model: config.model.clone(),
            seed: config.simulator.seed + i as u64,
            ..config.simulator.clone()
        },
        drain_timeout: Duration::from_secs(1),
        sim_gpus: config.sim_gpus.clone().filter(|g| g.count > 0),
        poc: config
            .poc
            .as_ref()
            .map(|p| p.mlnode.clone())
            .unwrap_or_default(),
        ..MlNodeConfig::default()
    };
    if let (DevnetEngine::Llamacpp(llama), Some((file, _))) = (&config.engine, engine) {
        node_config.engine = EngineKind::Llamacpp;
        node_config.engine_cmd = Some(llama.server.to_string_lossy().into_owned());
        node_config.model_files = [(config.model.clone(), file.clone())].into();
        node_config.log_dir = Some(data_dir.join(format!("devnet-{i}")));
        node_config.grace_period = Duration::from_secs(5);
        node_config.startup_timeout = config.ready_timeout;
        node_config.poll_interval = Duration::from_millis(50);
        node_config.health_interval = Duration::from_secs(2);
    }
    let stop = CancellationToken::new();
    let task = tokio::spawn(gonka_mlnode::run(
        node_config,
        mgmt,
        inference,
        stop.clone().cancelled_owned(),
    ));
    Ok(DevnetNode {
        id: format!("devnet-{i}"),
        mgmt_addr,
        inference_addr,
        stop,
        task,
    })
}

impl Devnet {
    async fn ready(&self, registry: &dyn gonka_core::NodeRegistry) -> bool {
        let routable = self
            .gateway
            .pool
            .snapshot()
            .iter()
            .filter(|n| n.view.routable() && n.view.serves(&self.model))
            .count();
        if routable < self.nodes.len() {
            return false;
        }
        match registry.list().await {
            Ok(records) => {
                records.len() >= self.nodes.len()
                    && records
                        .iter()
                        .all(|r| r.state.current_status == NodeStatus::Inference)
            }
            Err(_) => false,
        }
    }

    /// The ML nodes' last errors (`; node: error` each), read from their management APIs.
    async fn node_errors(&self, http: &reqwest::Client) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let url = format!("http://{}/api/v1/state", n.mgmt_addr);
            let state = match http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok(),
                Err(_) => None,
            };
            if let Some(error) = state.as_ref().and_then(|s| s["last_error"].as_str()) {
                out.push_str(&format!("; {}: {error}", n.id));
            }
        }
        out
    }

    /// Human-readable addresses and a first request to try.
    pub fn summary(&self) -> String {
        let public = self.gateway.public_addr;
        let kind = match self.engine {
            EngineKind::Llamacpp => "llama.cpp",
            _ => "simulated",
        };
        let mut s = format!(
            "gonka devnet ready: {} {kind} ML node(s) serving {}\n\
             \x20 OpenAI API:  http://{public}/v1   (models: http://{public}/v1/models, metrics: http://{public}/metrics)\n",
            self.nodes.len(),
            self.model,
        );
        if let Some(g) = &self.sim_gpus {
            s.push_str(&format!(
                "  GPUs:        {} × {} ({}, {} MiB) simulated per node\n",
                g.count, g.name, g.vendor, g.memory_mb
            ));
        }
        if let Some(admin) = self.gateway.admin_addr {
            s.push_str(&format!("  admin API:   http://{admin}/admin/v1/nodes\n"));
            s.push_str(&format!("  dashboard:   http://{admin}/dashboard\n"));
        }
        if let Some(poc) = self.gateway.poc_addr {
            s.push_str(&format!("  PoC:         http://{poc}\n"));
        }
        for n in &self.nodes {
            s.push_str(&format!(
                "  {}: management http://{}  inference http://{}\n",
                n.id, n.mgmt_addr, n.inference_addr
            ));
        }
        s.push_str(&format!("  registry:    {}\n", self.data_dir.display()));
        if self.engine == EngineKind::Llamacpp {
            s.push_str(&format!(
                "  engine logs: {}/devnet-N/engine-llamacpp-0.log\n",
                self.data_dir.display()
            ));
        }
        s.push_str(&format!(
            "try:\n  curl http://{public}/v1/chat/completions -H 'content-type: application/json' \\\n    -d '{{\"model\":\"{}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'\n",
            self.model
        ));
        s
    }

    /// Drains the gateway, then stops every ML node.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        for n in self.nodes {
            n.stop().await;
        }
    }
}
