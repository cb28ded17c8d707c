//! Building everything a new task group writes (the seed's eight steps) from its spec.

use gonka_core::deploy::model::{api_key_prefix, hash_api_key};
use gonka_core::deploy::placement::{place, NoFit, PlacementNode, TaskRequest, Thresholds};
use gonka_core::deploy::{
    ids, AuditEntry, Endpoint, GroupCreation, GroupStatus, ModelRoute, Plugin, RollingUpdateState,
    Task, TaskGroup, TaskGroupSpec, TaskStatus, VramInput,
};
use gonka_core::{Error, FieldError};
use rand::Rng;

/// A new group's records and its API key (returned once, stored only as a hash).
#[derive(Debug, Clone)]
pub struct Created {
    /// Everything to store in one transaction.
    pub creation: GroupCreation,
    /// The endpoint's API key, when an endpoint was asked for.
    pub api_key: Option<String>,
}

/// Memory per GPU the group's tasks need: the spec's estimate, else the documented formula on
/// the model's name.
///
/// # Errors
/// `Invalid` (field `estimated_gpu_memory_mb`) when the spec gives none and the name announces no
/// size.
pub fn memory_per_gpu(spec: &TaskGroupSpec) -> Result<u64, Error> {
    if let Some(mb) = spec.estimated_gpu_memory_mb {
        return Ok(mb);
    }
    let model = spec.model_path.as_deref().unwrap_or(&spec.name);
    let gpus = spec.shape().gpus_per_task;
    VramInput::for_model_name(model, spec.context_length, 1, gpus)
        .map(|input| gonka_core::deploy::estimate_mib(&input))
        .ok_or_else(|| {
            Error::Invalid(vec![FieldError::new(
                "estimated_gpu_memory_mb",
                format!(
                    "estimated_gpu_memory_mb is required: the model name {model:?} announces no size (like 7B) to estimate it from"
                ),
            )])
        })
}

/// The placement request of one of the group's tasks.
pub fn task_request(spec: &TaskGroupSpec, task_id: &str, memory_mb: u64) -> TaskRequest {
    TaskRequest {
        task_id: task_id.into(),
        model: spec.model_path.clone().unwrap_or_else(|| spec.name.clone()),
        gpus: spec.shape().gpus_per_task,
        gpu_type: spec.gpu_type.clone(),
        memory_mb,
        qos: spec.qos,
        priority: spec.route.priority,
        co_schedule: spec.co_schedule.clone(),
        engine: spec.engine.clone(),
    }
}

/// Refuses a spec that could never be placed on `fleet` even if every GPU were empty: no GPU of
/// its type, or more memory than any such GPU has. An empty fleet refuses nothing (nodes may join
/// later).
///
/// # Errors
/// `Invalid` naming `gpu_type` or `estimated_gpu_memory_mb`.
pub fn check_fits_somewhere(
    spec: &TaskGroupSpec,
    memory_mb: u64,
    fleet: &[PlacementNode],
) -> Result<(), Error> {
    if fleet.is_empty() {
        return Ok(());
    }
    let empty: Vec<PlacementNode> = fleet
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.healthy = true;
            n.cpu_percent = 0.0;
            n.memory_percent = 0.0;
            for g in &mut n.gpus {
                g.residents.clear();
                g.temperature_c = None;
            }
            n
        })
        .collect();
    let request = task_request(spec, "task-check", memory_mb);
    match place(&request, &empty, Plugin::Binpack, Thresholds::default()) {
        Err(e @ NoFit::GpuType(_)) => Err(Error::Invalid(vec![FieldError::new(
            "gpu_type",
            e.to_string(),
        )])),
        Err(e @ NoFit::Vram { .. }) => Err(Error::Invalid(vec![FieldError::new(
            "estimated_gpu_memory_mb",
            e.to_string(),
        )])),
        _ => Ok(()),
    }
}

/// `count` tasks of `group` starting at rank `first_rank`.
pub fn new_tasks(
    group: &TaskGroup,
    first_rank: u32,
    count: u32,
    memory_mb: u64,
    now_ms: u64,
) -> Vec<Task> {
    let mut rng = rand::thread_rng();
    let spec = &group.spec;
    let gpus = spec.shape().gpus_per_task;
    (first_rank..first_rank + count)
        .map(|rank| Task {
            id: ids::task_id(rng.gen(), rank, &group.id),
            group_id: group.id.clone(),
            rank,
            status: TaskStatus::Pending,
            gpu_required: gpus,
            gpu_type: spec.gpu_type.clone(),
            gpu_id: None,
            node_id: None,
            model_path: spec.model_path.clone().unwrap_or_else(|| spec.name.clone()),
            engine: spec.engine.clone(),
            ports: Vec::new(),
            estimated_gpu_memory_mb: memory_mb,
            generation: group.generation,
            error: None,
            updated_at_ms: now_ms,
        })
        .collect()
}

/// Validates `spec` and builds the group, its tasks (replicas × tasks per replica), its model
/// route, its endpoint with a fresh `sk-{uuid}` key, and the audit entry.
///
/// # Errors
/// `Invalid` listing every problem of the spec, or naming why it fits nowhere on `fleet`.
pub fn build(
    mut spec: TaskGroupSpec,
    fleet: &[PlacementNode],
    now_ns: u128,
) -> Result<Created, Error> {
    let problems = spec.validate();
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let memory_mb = memory_per_gpu(&spec)?;
    check_fits_somewhere(&spec, memory_mb, fleet)?;
    spec.estimated_gpu_memory_mb = Some(memory_mb);
    let mut rng = rand::thread_rng();
    let now_ms = u64::try_from(now_ns / 1_000_000).unwrap_or(u64::MAX);
    let id = ids::task_group_id(now_ns, rng.gen());
    let shape = spec.shape();
    let (api_key, endpoint) = if spec.create_endpoint {
        let key = ids::api_key(rng.gen());
        let endpoint = Endpoint {
            id: ids::endpoint_id(rng.gen()),
            name: spec.name.clone(),
            task_group_id: id.clone(),
            protocol: "http".into(),
            algorithm: spec.route.algorithm.clone(),
            api_key_sha256: hash_api_key(&key),
            api_key_prefix: api_key_prefix(&key),
        };
        (Some(key), Some(endpoint))
    } else {
        (None, None)
    };
    let group = TaskGroup {
        id: id.clone(),
        status: GroupStatus::Pending,
        node_count: shape.node_count,
        current_replicas: spec.replicas,
        endpoint: endpoint.as_ref().map(|e| e.id.clone()),
        rolling_update_state: RollingUpdateState::Idle,
        generation: 1,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        last_scaled_at_ms: None,
        update: None,
        spec,
    };
    let tasks = new_tasks(
        &group,
        0,
        group.spec.replicas * shape.tasks,
        memory_mb,
        now_ms,
    );
    let route = ModelRoute {
        id: ids::model_route_id(rng.gen()),
        model_name: group.spec.name.clone(),
        task_group_id: id.clone(),
        engine: group.spec.engine.clone(),
        spec: group.spec.route.clone(),
        active: true,
    };
    let audit = AuditEntry {
        at_ms: now_ms,
        actor: "admin".into(),
        action: "task_group.create".into(),
        target: id,
        detail: format!(
            "{}: {} replica(s) × {} task(s) of {} GPU(s), {memory_mb} MiB per GPU",
            group.spec.name, group.spec.replicas, shape.tasks, shape.gpus_per_task
        ),
    };
    Ok(Created {
        creation: GroupCreation {
            group,
            tasks,
            route,
            endpoint,
            audit,
        },
        api_key,
    })
}
