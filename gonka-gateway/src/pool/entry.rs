//! One node in the pool: its registry record, what health checks observed, breaker and stats, and
//! how those make up the [`NodeView`] the scheduler sees.

use std::sync::Arc;

use gonka_core::mlnode_api::StateReport;
use gonka_core::{LoadedModel, MemoryPressure, NodeRecord, NodeStatus, NodeView};

use super::breaker::Breaker;
use super::stats::NodeStats;

/// What the last health check of a node saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// `/health` and `/api/v1/state` both answered 2xx.
    pub passed: bool,
    /// State reported by `/api/v1/state`.
    pub status: NodeStatus,
    /// Model the engine has loaded, when reported.
    pub loaded_model: Option<String>,
    /// GPU name from `/api/v1/gpu/devices`, when known.
    pub gpu_type: Option<String>,
    /// Smallest total GPU memory among the node's devices in MiB, when known.
    pub vram_mb: Option<u64>,
    /// GPU vendor (`nvidia`, `amd`, ...) the node's `/api/v1/gpu/devices` reports, when it
    /// says.
    pub gpu_vendor: Option<String>,
    /// Available devices in the node's `/api/v1/gpu/devices`, when it lists any.
    pub gpu_count: Option<u32>,
    /// Engine kind reported by the node, when known.
    pub engine: Option<String>,
    /// Requests waiting in the engine, when reported.
    pub queue_depth: Option<u32>,
    /// `gpu_type` / `vram_mb` come from a completed `/api/v1/gpu/devices` call (which may list no
    /// device); when false the pool keeps what it learned before.
    pub hardware_probed: bool,
    /// Models in the engine's memory with their context windows
    /// ([`StateReport::resident_models`]).
    pub loaded: Arc<[LoadedModel]>,
    /// Models on the node's disk, when reported.
    pub disk_models: Arc<[Arc<str>]>,
    /// Total engine memory in MiB, when reported.
    pub memory_total_mb: Option<u64>,
    /// Free engine memory in MiB, when reported.
    pub memory_free_mb: Option<u64>,
    /// The node's memory pressure class (`Normal` when not reported).
    pub memory_pressure: MemoryPressure,
}

impl Observation {
    /// What a passed check (or a heartbeat) that answered `state` tells about the node: status,
    /// loaded model, engine, queue depth, resident and disk models, memory. Hardware is not
    /// part of the state (`hardware_probed` is false: the pool keeps what it knew).
    pub fn from_state(state: &StateReport) -> Self {
        Self {
            passed: true,
            status: state.node_status(),
            loaded_model: state.model().map(str::to_owned),
            gpu_type: None,
            vram_mb: None,
            gpu_vendor: None,
            gpu_count: None,
            engine: state.engine_kind().map(str::to_owned),
            queue_depth: state.queue_depth,
            hardware_probed: false,
            loaded: state.resident_models().into(),
            disk_models: state
                .disk_models
                .iter()
                .map(|m| Arc::<str>::from(m.as_str()))
                .collect(),
            memory_total_mb: state.memory.map(|m| m.total_mb),
            memory_free_mb: state.memory.map(|m| m.free_mb),
            memory_pressure: state.memory.map(|m| m.pressure).unwrap_or_default(),
        }
    }
}

/// How the gateway learned of a node and keeps hearing from it (`/fleet/status`'s `source`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeSource {
    /// Registered through the admin API or a registry file; watched by health checks only.
    #[default]
    Registry,
    /// Its agent heartbeats (`gonka-mlnode --gateway-url`).
    Heartbeat,
    /// Its agent found the gateway by mDNS (`gonka-mlnode --discover`) and heartbeats.
    Mdns,
}

/// The last heartbeat of a node's agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    /// Wall-clock time it arrived, Unix milliseconds.
    pub at_ms: u64,
    /// When the node leaves the routable set unless another heartbeat (or a passed health
    /// check) arrives first.
    pub expires: tokio::time::Instant,
    /// The expiry took the node out of routing already (done once per missed run).
    pub expired: bool,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub generation: u64,
    /// Last heartbeat of the node's agent, when it sends them.
    pub heartbeat: Option<Heartbeat>,
    /// How the node is known (see [`NodeSource`]).
    pub source: NodeSource,
    /// In-flight slots by serial → when each was taken (the zombie reaper returns old ones).
    pub slots: std::collections::HashMap<u64, tokio::time::Instant>,
    pub record: NodeRecord,
    pub inference_url: Arc<str>,
    pub configured_models: Arc<[Arc<str>]>,
    /// Models of the deployment task instances running (or asleep) on the node, which its
    /// agent routes to by name ([`super::NodePool::set_task_models`]); sorted, no duplicates.
    pub task_models: Arc<[Arc<str>]>,
    pub observed: Observation,
    pub breaker: Breaker,
    pub stats: NodeStats,
}

impl Entry {
    pub fn new(generation: u64, record: NodeRecord) -> Self {
        let mut e = Self {
            generation,
            heartbeat: None,
            source: NodeSource::Registry,
            slots: std::collections::HashMap::new(),
            inference_url: Arc::from(""),
            configured_models: Arc::from(Vec::new()),
            task_models: Arc::from(Vec::new()),
            record,
            observed: Observation::default(),
            breaker: Breaker::default(),
            stats: NodeStats::default(),
        };
        e.set_record(e.record.clone());
        e
    }

    /// Replaces the registry record; returns true when what the broker acts on changed
    /// (configuration, admin state or intended status) rather than only observed status.
    pub fn set_record(&mut self, record: NodeRecord) -> bool {
        let changed = self.record.node != record.node
            || self.record.state.admin_state != record.state.admin_state
            || self.record.state.intended_status != record.state.intended_status
            || self.record.state.poc_intended_status != record.state.poc_intended_status;
        self.inference_url = Arc::from(record.node.inference_url());
        self.configured_models = record
            .node
            .models
            .keys()
            .map(|m| Arc::<str>::from(m.as_str()))
            .collect();
        self.record = record;
        changed
    }

    /// Admission for `epoch`: the core rule ([`gonka_core::AdminState::admits`]).
    pub fn admitted(&self, epoch: u64) -> bool {
        self.record.state.admin_state.admits(epoch)
    }

    /// Writes the scheduler's view of this node into `view`, keeping `in_flight`; its
    /// `max_concurrent` is this replica's `share` of the node's.
    pub fn fill_view(&self, view: &mut NodeView, epoch: u64, share: super::ReplicaShare) {
        let node = &self.record.node;
        if view.id.as_ref() != node.id {
            view.id = Arc::from(node.id.as_str());
        }
        view.models = match &self.observed.loaded_model {
            Some(m) if node.serves(m) => {
                if view.models.len() == 1 && view.models[0].as_ref() == m {
                    view.models.clone()
                } else {
                    Arc::from(vec![Arc::<str>::from(m.as_str())])
                }
            }
            // Serving a model the registry no longer lists: nothing to route until the broker
            // has reloaded it.
            Some(_) => Arc::from(Vec::new()),
            None => self.configured_models.clone(),
        };
        if !self.task_models.is_empty() {
            let missing: Vec<Arc<str>> = self
                .task_models
                .iter()
                .filter(|m| !view.models.contains(m))
                .cloned()
                .collect();
            if !missing.is_empty() {
                view.models = view.models.iter().cloned().chain(missing).collect();
            }
        }
        view.max_concurrent = share.of(node.max_concurrent);
        view.status = if self.record.state.intended_status == NodeStatus::Inference {
            self.observed.status
        } else {
            self.record.state.intended_status
        };
        view.healthy = self.observed.passed && !self.breaker.is_open();
        view.admitted = self.admitted(epoch);
        view.queue_depth = self.observed.queue_depth.unwrap_or(0);
        view.latency_p50_ms = self.stats.p50_ms;
        view.latency_p75_ms = self.stats.p75_ms;
        view.latency_p95_ms = self.stats.p95_ms;
        view.error_rate = self.stats.error_rate;
        view.availability = self.stats.availability;
        let declared_gpu = node.hardware.first().map(|h| h.kind.as_str());
        view.gpu_type = self
            .observed
            .gpu_type
            .as_deref()
            .or(declared_gpu)
            .map(Arc::from);
        view.vram_mb = self.observed.vram_mb;
        view.engine = self.observed.engine.as_deref().map(Arc::from);
        if !Arc::ptr_eq(&view.loaded, &self.observed.loaded) {
            view.loaded = Arc::clone(&self.observed.loaded);
        }
        if !Arc::ptr_eq(&view.disk_models, &self.observed.disk_models) {
            view.disk_models = Arc::clone(&self.observed.disk_models);
        }
        view.memory_total_mb = self.observed.memory_total_mb;
        view.memory_free_mb = self.observed.memory_free_mb;
        view.memory_pressure = self.observed.memory_pressure;
    }
}
