//! What an operator asks for when creating a task group, its defaults, and its validation: every
//! problem is reported at once as a [`FieldError`] naming the field, and nothing is created.

use crate::deploy::engine::GpuVendor;
use crate::FieldError;

/// How a group spreads over GPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parallelism {
    /// One task on `world_size` GPUs of one node (`none` on the wire is accepted as well).
    #[default]
    #[serde(alias = "none")]
    Single,
    /// One task over `world_size` GPUs of one node (tensor parallelism).
    TensorParallel,
    /// `world_size` independent tasks of one GPU each, on any nodes.
    Split,
    /// One task per node of up to 8 GPUs each, `⌈world_size / 8⌉` nodes.
    DataParallel,
}

/// Quality-of-service class: GPU exclusivity in placement, queue priority and preemption order.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Qos {
    /// Whole GPUs, never shared; preempted last.
    Gold,
    /// Shared GPUs with driver isolation.
    #[default]
    Silver,
    /// Shared GPUs, best effort; preempted first.
    Bronze,
}

/// A group's health check (defaults: HTTP `GET /health` every 10 s, 3 s timeout, unhealthy after
/// 3 failures in a row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    /// `http` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP path (HTTP checks only).
    pub path: String,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Seconds one check may take.
    pub timeout_seconds: u32,
    /// Failures in a row that make a backend unhealthy.
    pub unhealthy_threshold: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            kind: "http".into(),
            path: "/health".into(),
            interval_seconds: 10,
            timeout_seconds: 3,
            unhealthy_threshold: 3,
        }
    }
}

/// Autoscaling policy: `+1` replica when `metric > target`, `−1` when below, within the group's
/// min/max, at most once per `cooldown_seconds`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalePolicy {
    /// One of [`SCALE_METRICS`].
    pub metric: String,
    /// Target value of the metric per replica.
    pub target: f64,
    /// Seconds between two scaling decisions (at least 30).
    pub cooldown_seconds: u32,
}

impl Default for ScalePolicy {
    fn default() -> Self {
        Self {
            metric: "concurrent_requests".into(),
            target: 8.0,
            cooldown_seconds: 60,
        }
    }
}

/// Metrics autoscaling can follow.
pub const SCALE_METRICS: [&str; 6] = [
    "gpu_utilization",
    "cpu",
    "request_queue",
    "concurrent_requests",
    "vllm_pending_requests",
    "vllm_running_requests",
];

/// Co-scheduling: several models on one GPU.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoSchedule {
    /// Models one GPU may hold at once (1–8).
    pub max_models_per_gpu: u32,
    /// VRAM overcommit factor (1.0 = none, up to 2.0).
    pub overcommit: f64,
    /// Whether this group may preempt lower-priority tasks to fit.
    pub preempt: bool,
}

impl Default for CoSchedule {
    fn default() -> Self {
        Self {
            max_models_per_gpu: 1,
            overcommit: 1.0,
            preempt: false,
        }
    }
}

/// Hours (UTC) in which the group may run; outside them it sleeps. `start == end` means always.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM`, exclusive; before `start` means the window spans midnight.
    pub end: String,
}

impl ScheduleWindow {
    /// Whether minute-of-day `minute` (0..1440, UTC) lies in the window. Invalid windows (see
    /// [`validate_window`]) contain nothing.
    pub fn contains(&self, minute: u32) -> bool {
        let (Some(start), Some(end)) = (parse_hhmm(&self.start), parse_hhmm(&self.end)) else {
            return false;
        };
        match start.cmp(&end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => (start..end).contains(&minute),
            std::cmp::Ordering::Greater => minute >= start || minute < end,
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The routing part of a group's creation: the model route registered for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteSpec {
    /// 0 is highest.
    pub priority: u32,
    /// 0–100; 0 = fallback only.
    pub weight: u32,
    /// Version label, e.g. `v1` or `canary`.
    pub version: String,
    /// `round_robin`, `random` or `least_connections`.
    pub algorithm: String,
}

impl Default for RouteSpec {
    fn default() -> Self {
        Self {
            priority: 0,
            weight: 100,
            version: "v1".into(),
            algorithm: "round_robin".into(),
        }
    }
}

/// Load-balancing algorithms of a route.
pub const ROUTE_ALGORITHMS: [&str; 3] = ["round_robin", "random", "least_connections"];

/// `POST /api/v1/task-groups`: what to serve and how.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGroupSpec {
    /// Service name; clients send it as `model`.
    pub name: String,
    /// Model weights to load (a Hugging Face id or a path on the node); defaults to `name`.
    #[serde(default)]
    pub model_path: Option<String>,
    /// Engine to run; chosen per GPU vendor when absent.
    #[serde(default)]
    pub engine: Option<String>,
    /// Extra engine arguments, passed to the engine as given (`["--enforce-eager"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_args: Vec<String>,
    /// Weight dtype the engine loads (`auto`, `float16`, `bfloat16`, ...; the engine's default
    /// when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// GPUs in all (1–64).
    #[serde(default = "one")]
    pub world_size: u32,
    /// How the GPUs are spread.
    #[serde(default)]
    pub parallelism: Parallelism,
    /// GPU filter: a vendor (`nvidia`) or a model name substring (`H100`).
    #[serde(default)]
    pub gpu_type: Option<String>,
    /// Context window to load the model with, in tokens.
    #[serde(default = "default_context")]
    pub context_length: u32,
    /// Estimated GPU memory per GPU in MiB; computed from the model when absent.
    #[serde(default)]
    pub estimated_gpu_memory_mb: Option<u64>,
    /// Replicas at creation (within min/max).
    #[serde(default = "one")]
    pub replicas: u32,
    /// At least 1.
    #[serde(default = "one")]
    pub min_replicas: u32,
    /// 0 = no limit.
    #[serde(default)]
    pub max_replicas: u32,
    /// Scale between min and max on `scale_policy`.
    #[serde(default)]
    pub auto_scale: bool,
    /// Minutes without requests before the group sleeps; 0 = never.
    #[serde(default)]
    pub idle_timeout_minutes: u32,
    /// Health check of its backends.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Autoscaling policy.
    #[serde(default)]
    pub scale_policy: ScalePolicy,
    /// Co-scheduling.
    #[serde(default)]
    pub co_schedule: CoSchedule,
    /// Hours it may run.
    #[serde(default)]
    pub schedule_window: Option<ScheduleWindow>,
    /// QoS class.
    #[serde(default)]
    pub qos: Qos,
    /// Its model route.
    #[serde(default)]
    pub route: RouteSpec,
    /// Create an endpoint with an API key (`sk-{uuid}`, shown once).
    #[serde(default = "yes")]
    pub create_endpoint: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

fn default_context() -> u32 {
    4096
}

/// The most GPUs one group may ask for.
pub const MAX_WORLD_SIZE: u32 = 64;

/// Tasks and nodes a spec needs per replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Nodes per replica (0 = any number: split tasks go wherever they fit).
    pub node_count: u32,
    /// Tasks per replica.
    pub tasks: u32,
    /// GPUs each task needs.
    pub gpus_per_task: u32,
}

/// How `parallelism` spreads `world_size` GPUs.
pub fn shape(parallelism: Parallelism, world_size: u32) -> Shape {
    let ws = world_size.max(1);
    match parallelism {
        Parallelism::Single | Parallelism::TensorParallel => Shape {
            node_count: 1,
            tasks: 1,
            gpus_per_task: ws,
        },
        Parallelism::Split => Shape {
            node_count: 0,
            tasks: ws,
            gpus_per_task: 1,
        },
        Parallelism::DataParallel => {
            let nodes = ws.div_ceil(8);
            Shape {
                node_count: nodes,
                tasks: nodes,
                gpus_per_task: ws.div_ceil(nodes),
            }
        }
    }
}

/// Known engine names.
pub const ENGINES: [&str; 7] = [
    "vllm",
    "sglang",
    "llamacpp",
    "mindie",
    "vllm-mtt",
    "transformers",
    "simulator",
];

/// A model or service name: 1–256 characters, no control characters or whitespace at the ends.
fn check_name(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(
            field,
            format!("{field} is required and cannot be empty"),
        ));
    } else if value.chars().count() > 256 {
        errors.push(FieldError::new(
            field,
            format!("{field} is longer than 256 characters"),
        ));
    } else if value.chars().any(char::is_control) || value.trim() != value {
        errors.push(FieldError::new(
            field,
            format!("{field} {value:?} has control characters or surrounding whitespace"),
        ));
    }
}

/// Checks a GPU filter: a vendor name or a GPU model name of a known vendor.
pub fn check_gpu_type(value: &str) -> Result<(), FieldError> {
    if value.parse::<GpuVendor>().is_ok() || GpuVendor::from_gpu_name(value).is_some() {
        Ok(())
    } else {
        Err(FieldError::new(
            "gpu_type",
            format!(
                "unknown GPU type {value:?}; expected a vendor (nvidia, amd, hygon, ascend, musa, biren) or a GPU model such as H100 or MI300X"
            ),
        ))
    }
}

/// Checks a schedule window's `HH:MM` fields.
pub fn validate_window(w: &ScheduleWindow, errors: &mut Vec<FieldError>) {
    for (field, value) in [
        ("schedule_window.start", &w.start),
        ("schedule_window.end", &w.end),
    ] {
        if parse_hhmm(value).is_none() {
            errors.push(FieldError::new(
                field,
                format!("{field} {value:?} is not a time HH:MM"),
            ));
        }
    }
}

/// Checks a route's weight, algorithm and version.
pub fn validate_route(route: &RouteSpec, prefix: &str, errors: &mut Vec<FieldError>) {
    if route.weight > 100 {
        errors.push(FieldError::new(
            format!("{prefix}weight"),
            format!(
                "{prefix}weight {} is above 100 (0–100, 0 = fallback only)",
                route.weight
            ),
        ));
    }
    if !ROUTE_ALGORITHMS.contains(&route.algorithm.as_str()) {
        errors.push(FieldError::new(
            format!("{prefix}algorithm"),
            format!(
                "{prefix}algorithm {:?} is unknown; expected round_robin, random or least_connections",
                route.algorithm
            ),
        ));
    }
    check_name(&format!("{prefix}version"), &route.version, errors);
}

impl TaskGroupSpec {
    /// A spec serving `name` with every other field at the default a JSON body leaving it out
    /// gets: one replica of one GPU (single), context 4096, health check `/health` every 10 s,
    /// a route of weight 100, an endpoint. Change fields with struct update syntax:
    /// `TaskGroupSpec { replicas: 2, ..TaskGroupSpec::new("qwen-chat") }`.
    pub fn new(name: impl Into<String>) -> TaskGroupSpec {
        TaskGroupSpec {
            name: name.into(),
            model_path: None,
            engine: None,
            engine_args: Vec::new(),
            dtype: None,
            world_size: one(),
            parallelism: Parallelism::default(),
            gpu_type: None,
            context_length: default_context(),
            estimated_gpu_memory_mb: None,
            replicas: one(),
            min_replicas: one(),
            max_replicas: 0,
            auto_scale: false,
            idle_timeout_minutes: 0,
            health_check: HealthCheck::default(),
            scale_policy: ScalePolicy::default(),
            co_schedule: CoSchedule::default(),
            schedule_window: None,
            qos: Qos::default(),
            route: RouteSpec::default(),
            create_endpoint: yes(),
        }
    }

    /// Every problem of the spec, each naming its field; empty when it is valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_name("name", &self.name, &mut errors);
        if let Some(path) = &self.model_path {
            check_name("model_path", path, &mut errors);
        }
        if let Some(engine) = &self.engine {
            if !ENGINES.contains(&engine.as_str()) {
                errors.push(FieldError::new(
                    "engine",
                    format!(
                        "engine {engine:?} is unknown; expected one of {}",
                        ENGINES.join(", ")
                    ),
                ));
            }
        }
        if let Some(dtype) = &self.dtype {
            check_name("dtype", dtype, &mut errors);
        }
        for (i, arg) in self.engine_args.iter().enumerate() {
            if arg.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    format!("engine_args[{i}]"),
                    format!("engine_args[{i}] has control characters"),
                ));
            }
        }
        if !(1..=MAX_WORLD_SIZE).contains(&self.world_size) {
            errors.push(FieldError::new(
                "world_size",
                format!(
                    "world_size {} is outside 1–{MAX_WORLD_SIZE}",
                    self.world_size
                ),
            ));
        }
        if self.parallelism == Parallelism::TensorParallel && self.world_size > 8 {
            errors.push(FieldError::new(
                "world_size",
                format!(
                    "tensor_parallel keeps all GPUs on one node: world_size {} is above 8",
                    self.world_size
                ),
            ));
        }
        if let Some(gpu) = &self.gpu_type {
            if let Err(e) = check_gpu_type(gpu) {
                errors.push(e);
            }
        }
        if self.context_length == 0 || self.context_length > 10_000_000 {
            errors.push(FieldError::new(
                "context_length",
                format!(
                    "context_length {} is outside 1–10000000",
                    self.context_length
                ),
            ));
        }
        if self.estimated_gpu_memory_mb == Some(0) {
            errors.push(FieldError::new(
                "estimated_gpu_memory_mb",
                "estimated_gpu_memory_mb must be positive when given",
            ));
        }
        self.validate_replicas(&mut errors);
        self.validate_policies(&mut errors);
        validate_route(&self.route, "route.", &mut errors);
        errors
    }

    fn validate_replicas(&self, errors: &mut Vec<FieldError>) {
        if self.min_replicas < 1 {
            errors.push(FieldError::new(
                "min_replicas",
                "min_replicas must be at least 1",
            ));
        }
        if self.max_replicas != 0 && self.min_replicas > self.max_replicas {
            errors.push(FieldError::new(
                "min_replicas",
                format!(
                    "min_replicas {} is above max_replicas {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        let above_max = self.max_replicas != 0 && self.replicas > self.max_replicas;
        if self.replicas < self.min_replicas || above_max {
            errors.push(FieldError::new(
                "replicas",
                format!(
                    "replicas {} is outside min_replicas {} – max_replicas {}",
                    self.replicas, self.min_replicas, self.max_replicas
                ),
            ));
        }
    }

    fn validate_policies(&self, errors: &mut Vec<FieldError>) {
        let hc = &self.health_check;
        if hc.kind != "http" && hc.kind != "tcp" {
            errors.push(FieldError::new(
                "health_check.type",
                format!(
                    "health_check.type {:?} is unknown; expected http or tcp",
                    hc.kind
                ),
            ));
        }
        if hc.kind == "http" && !hc.path.starts_with('/') {
            errors.push(FieldError::new(
                "health_check.path",
                format!("health_check.path {:?} must start with /", hc.path),
            ));
        }
        if hc.interval_seconds == 0 || hc.timeout_seconds == 0 || hc.unhealthy_threshold == 0 {
            errors.push(FieldError::new(
                "health_check",
                "health_check interval_seconds, timeout_seconds and unhealthy_threshold must be positive",
            ));
        }
        let sp = &self.scale_policy;
        if !SCALE_METRICS.contains(&sp.metric.as_str()) {
            errors.push(FieldError::new(
                "scale_policy.metric",
                format!(
                    "scale_policy.metric {:?} is unknown; expected one of {}",
                    sp.metric,
                    SCALE_METRICS.join(", ")
                ),
            ));
        }
        if !(sp.target.is_finite() && sp.target > 0.0) {
            errors.push(FieldError::new(
                "scale_policy.target",
                "scale_policy.target must be a positive number",
            ));
        }
        if sp.cooldown_seconds < 30 {
            errors.push(FieldError::new(
                "scale_policy.cooldown_seconds",
                format!(
                    "scale_policy.cooldown_seconds {} is below 30",
                    sp.cooldown_seconds
                ),
            ));
        }
        let co = &self.co_schedule;
        if !(1..=8).contains(&co.max_models_per_gpu) {
            errors.push(FieldError::new(
                "co_schedule.max_models_per_gpu",
                format!(
                    "co_schedule.max_models_per_gpu {} is outside 1–8",
                    co.max_models_per_gpu
                ),
            ));
        }
        if !(1.0..=2.0).contains(&co.overcommit) {
            errors.push(FieldError::new(
                "co_schedule.overcommit",
                format!(
                    "co_schedule.overcommit {} is outside 1.0–2.0",
                    co.overcommit
                ),
            ));
        }
        if self.qos == Qos::Gold && co.max_models_per_gpu > 1 {
            errors.push(FieldError::new(
                "qos",
                "qos gold takes whole GPUs: co_schedule.max_models_per_gpu must be 1",
            ));
        }
        if let Some(w) = &self.schedule_window {
            validate_window(w, errors);
        }
    }

    /// Tasks and nodes per replica.
    pub fn shape(&self) -> Shape {
        shape(self.parallelism, self.world_size)
    }
}
