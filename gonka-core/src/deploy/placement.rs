//! Placement: which node and GPUs a task goes to. Pure: the gateway's placement loop gathers the
//! fleet into [`PlacementNode`]s, calls [`place`], and stores the answer with a compare-and-set.
//!
//! Steps, in order: GPU-type filter; load thresholds (CPU, memory, GPU temperature); VRAM fit with
//! co-scheduling (models per GPU, overcommit, QoS exclusivity, optional preemption of lower
//! priority tasks); an engine from the vendor's preference chain; then the score — model
//! locality first (weights already on disk), then the plugin (binpack, spread, topology, preempt).

use std::sync::Arc;

use crate::deploy::engine::{choose_engine, GpuVendor};
use crate::deploy::spec::{CoSchedule, Qos};

/// A task already on a GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    /// Its task id.
    pub task_id: Arc<str>,
    /// GPU memory it holds in MiB (none while it sleeps).
    pub memory_mb: u64,
    /// Its QoS class.
    pub qos: Qos,
    /// Route priority of its group (0 highest).
    pub priority: u32,
    /// Sleeping tasks hold no memory and may be woken elsewhere.
    pub sleeping: bool,
}

/// One GPU of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSlot {
    /// Device id on its node (`"0"`, `"1"`, …).
    pub gpu_id: String,
    /// Marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Vendor.
    pub vendor: GpuVendor,
    /// Total memory in MiB.
    pub total_mb: u64,
    /// CUDA compute capability as `major * 10 + minor`, NVIDIA only.
    pub cuda_capability: Option<u32>,
    /// Temperature in °C, when known.
    pub temperature_c: Option<u32>,
    /// Tasks on it now.
    pub residents: Vec<Resident>,
}

impl GpuSlot {
    /// Memory held by awake residents, in MiB.
    pub fn used_mb(&self) -> u64 {
        self.residents
            .iter()
            .filter(|r| !r.sleeping)
            .map(|r| r.memory_mb)
            .sum()
    }
}

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementNode {
    /// Node id.
    pub id: Arc<str>,
    /// Answers its health checks.
    pub healthy: bool,
    /// Its GPUs.
    pub gpus: Vec<GpuSlot>,
    /// Engines installed on it (`vllm`, `llamacpp`, …).
    pub engines: Vec<String>,
    /// Models whose weights are on its disk.
    pub disk_models: Vec<String>,
    /// CPU use in percent.
    pub cpu_percent: f32,
    /// Host memory use in percent.
    pub memory_percent: f32,
}

/// The task to place.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    /// Its id (for residents it preempts to name it).
    pub task_id: Arc<str>,
    /// Model it serves (for locality).
    pub model: String,
    /// GPUs it needs on one node.
    pub gpus: u32,
    /// GPU filter: a vendor name or a model-name substring, case-insensitive.
    pub gpu_type: Option<String>,
    /// Estimated memory per GPU in MiB.
    pub memory_mb: u64,
    /// QoS class.
    pub qos: Qos,
    /// Route priority (0 highest).
    pub priority: u32,
    /// Co-scheduling rules.
    pub co_schedule: CoSchedule,
    /// Engine asked for, if any.
    pub engine: Option<String>,
}

/// How placement ranks nodes that fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plugin {
    /// Fill used GPUs first, keep whole GPUs free for large tasks (the default).
    #[default]
    Binpack,
    /// Prefer the emptiest GPUs, spreading load and failure domains.
    Spread,
    /// Prefer adjacent GPU ids on one node for multi-GPU tasks (shorter interconnect paths).
    Topology,
    /// Binpack, and when nothing fits, evict lower-priority tasks.
    Preempt,
}

impl Plugin {
    /// Every plugin, in documentation order.
    pub const ALL: [Plugin; 4] = [
        Plugin::Binpack,
        Plugin::Spread,
        Plugin::Topology,
        Plugin::Preempt,
    ];

    /// Its name on the wire and on the command line (`binpack`, `spread`, `topology`,
    /// `preempt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Plugin::Binpack => "binpack",
            Plugin::Spread => "spread",
            Plugin::Topology => "topology",
            Plugin::Preempt => "preempt",
        }
    }
}

impl std::fmt::Display for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin name that is none of [`Plugin::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown placement plugin {name:?}; expected one of binpack, spread, topology, preempt")]
pub struct UnknownPlugin {
    /// The name asked for.
    pub name: String,
}

impl std::str::FromStr for Plugin {
    type Err = UnknownPlugin;

    /// A plugin by its name, case-insensitive, surrounding blanks ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plugin::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownPlugin { name: s.to_owned() })
    }
}

/// Limits beyond which a node takes no new task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// CPU use in percent.
    pub cpu_percent: f32,
    /// Host memory use in percent.
    pub memory_percent: f32,
    /// GPU temperature in °C.
    pub gpu_temperature_c: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            cpu_percent: 90.0,
            memory_percent: 90.0,
            gpu_temperature_c: 85,
        }
    }
}

/// Where a task goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The node.
    pub node_id: Arc<str>,
    /// Its GPUs, ascending.
    pub gpu_ids: Vec<String>,
    /// Engine to run.
    pub engine: String,
    /// Tasks to evict first (preemption), lowest priority first.
    pub preempt: Vec<Arc<str>>,
}

/// Why a task fits nowhere: the first filter that left no node, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoFit {
    /// No healthy node has a GPU of the requested type.
    #[error("no healthy node has a GPU matching gpu_type {0:?}")]
    GpuType(String),
    /// Nodes with matching GPUs are over a load threshold.
    #[error(
        "every node with matching GPUs is over a load threshold (CPU, memory or GPU temperature)"
    )]
    Load,
    /// Not enough GPU memory on any node, even empty.
    #[error("{memory_mb} MiB on {gpus} GPU(s) fits on no node: the largest has {largest_mb} MiB per GPU")]
    Vram {
        /// Memory per GPU asked for.
        memory_mb: u64,
        /// GPUs asked for.
        gpus: u32,
        /// Largest GPU in the fleet.
        largest_mb: u64,
    },
    /// GPUs that could hold it are busy now (retry later, or enable preemption).
    #[error("GPUs that could hold the task are busy")]
    Busy,
    /// No node with room runs an engine of the vendor's chain.
    #[error("no node with room has an engine for its GPUs")]
    Engine,
}

fn matches_type(gpu: &GpuSlot, filter: Option<&str>) -> bool {
    let Some(f) = filter else { return true };
    let f = f.trim();
    gpu.vendor.as_str().eq_ignore_ascii_case(f)
        || gpu
            .name
            .to_ascii_lowercase()
            .contains(&f.to_ascii_lowercase())
}

/// What it takes to put the task on one GPU: `None` when it cannot, else the residents to evict.
fn fit_on(gpu: &GpuSlot, req: &TaskRequest, may_preempt: bool) -> Option<Vec<Arc<str>>> {
    let awake: Vec<&Resident> = gpu.residents.iter().filter(|r| !r.sleeping).collect();
    let capacity = (gpu.total_mb as f64 * req.co_schedule.overcommit.clamp(1.0, 2.0)) as u64;
    let exclusive = req.qos == Qos::Gold || awake.iter().any(|r| r.qos == Qos::Gold);
    let max_models = if exclusive {
        1
    } else {
        req.co_schedule.max_models_per_gpu.max(1)
    } as usize;
    let fits = |residents: &[&Resident]| {
        residents.len() < max_models
            && residents.iter().map(|r| r.memory_mb).sum::<u64>() + req.memory_mb <= capacity
            && (req.qos != Qos::Gold || residents.is_empty())
            && residents.iter().all(|r| r.qos != Qos::Gold)
    };
    if fits(&awake) {
        return Some(Vec::new());
    }
    if !may_preempt || req.memory_mb > gpu.total_mb {
        return None;
    }
    // Evict strictly lower-priority residents, lowest first, until it fits.
    let outranks = |r: &Resident| (r.qos, r.priority) > (req.qos, req.priority);
    let mut victims: Vec<&Resident> = awake.iter().copied().filter(|r| outranks(r)).collect();
    victims.sort_by_key(|r| std::cmp::Reverse((r.qos, r.priority)));
    let mut left: Vec<&Resident> = awake.clone();
    let mut evicted = Vec::new();
    for v in victims {
        left.retain(|r| r.task_id != v.task_id);
        evicted.push(v.task_id.clone());
        if fits(&left) {
            return Some(evicted);
        }
    }
    None
}

/// Places `req` on the best node of `nodes`, or says why it fits nowhere.
///
/// # Errors
/// [`NoFit`] naming the first filter that left no node.
pub fn place(
    req: &TaskRequest,
    nodes: &[PlacementNode],
    plugin: Plugin,
    limits: Thresholds,
) -> Result<Placement, NoFit> {
    let wanted = req.gpus.max(1) as usize;
    let filter = req.gpu_type.as_deref();
    let typed: Vec<&PlacementNode> = nodes
        .iter()
        .filter(|n| n.healthy)
        .filter(|n| n.gpus.iter().filter(|g| matches_type(g, filter)).count() >= wanted)
        .collect();
    if typed.is_empty() {
        return Err(NoFit::GpuType(filter.unwrap_or("any").to_owned()));
    }
    let largest_mb = typed
        .iter()
        .flat_map(|n| n.gpus.iter().filter(|g| matches_type(g, filter)))
        .map(|g| g.total_mb)
        .max()
        .unwrap_or(0);
    let ceiling = (largest_mb as f64 * req.co_schedule.overcommit.clamp(1.0, 2.0)) as u64;
    if req.memory_mb > ceiling {
        return Err(NoFit::Vram {
            memory_mb: req.memory_mb,
            gpus: req.gpus,
            largest_mb,
        });
    }
    let cool = |g: &GpuSlot| g.temperature_c.is_none_or(|t| t < limits.gpu_temperature_c);
    let loaded: Vec<&PlacementNode> = typed
        .into_iter()
        .filter(|n| n.cpu_percent < limits.cpu_percent && n.memory_percent < limits.memory_percent)
        .filter(|n| {
            n.gpus
                .iter()
                .filter(|g| matches_type(g, filter) && cool(g))
                .count()
                >= wanted
        })
        .collect();
    if loaded.is_empty() {
        return Err(NoFit::Load);
    }
    let may_preempt = plugin == Plugin::Preempt || req.co_schedule.preempt;
    let mut best: Option<(i64, Placement)> = None;
    let mut any_room = false;
    for node in loaded {
        let mut candidates: Vec<(&GpuSlot, Vec<Arc<str>>)> = node
            .gpus
            .iter()
            .filter(|g| matches_type(g, filter) && cool(g))
            .filter_map(|g| fit_on(g, req, may_preempt).map(|evict| (g, evict)))
            .collect();
        if candidates.len() < wanted {
            continue;
        }
        any_room = true;
        let vendor = candidates[0].0.vendor;
        let cc = candidates
            .iter()
            .filter_map(|(g, _)| g.cuda_capability)
            .min();
        let engines: Vec<&str> = node.engines.iter().map(String::as_str).collect();
        let Some(engine) = choose_engine(vendor, cc, &engines, req.engine.as_deref()) else {
            continue;
        };
        // Fewest evictions first, then the plugin's GPU order.
        candidates.sort_by_key(|(g, evict)| {
            let used = g.used_mb() as i64;
            let order = match plugin {
                Plugin::Spread => used,
                Plugin::Binpack | Plugin::Preempt => -used,
                Plugin::Topology => 0,
            };
            (
                evict.len(),
                order,
                g.gpu_id.parse::<u64>().unwrap_or(u64::MAX),
            )
        });
        let chosen: Vec<_> = if plugin == Plugin::Topology {
            adjacent(&candidates, wanted)
        } else {
            candidates.into_iter().take(wanted).collect()
        };
        let score = score(node, &chosen, req, plugin);
        let mut gpu_ids: Vec<String> = chosen.iter().map(|(g, _)| g.gpu_id.clone()).collect();
        gpu_ids.sort_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), id.clone()));
        let placement = Placement {
            node_id: node.id.clone(),
            gpu_ids,
            engine: engine.to_owned(),
            preempt: chosen.into_iter().flat_map(|(_, e)| e).collect(),
        };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, placement));
        }
    }
    match best {
        Some((_, p)) => Ok(p),
        None if any_room => Err(NoFit::Engine),
        None => Err(NoFit::Busy),
    }
}

/// The `wanted` candidates with the closest GPU ids (smallest span of indices).
fn adjacent<'a>(
    candidates: &[(&'a GpuSlot, Vec<Arc<str>>)],
    wanted: usize,
) -> Vec<(&'a GpuSlot, Vec<Arc<str>>)> {
    let mut sorted: Vec<_> = candidates.to_vec();
    sorted.sort_by_key(|(g, _)| g.gpu_id.parse::<u64>().unwrap_or(u64::MAX));
    let span = |w: &[(&GpuSlot, Vec<Arc<str>>)]| {
        let id = |i: usize| w[i].0.gpu_id.parse::<u64>().unwrap_or(u64::MAX);
        id(w.len() - 1).saturating_sub(id(0))
    };
    let start = sorted
        .windows(wanted)
        .enumerate()
        .min_by_key(|(_, w)| (span(w), w.iter().map(|(_, e)| e.len()).sum::<usize>()))
        .map(|(i, _)| i)
        .unwrap_or(0);
    sorted.into_iter().skip(start).take(wanted).collect()
}

/// A node's score for the chosen GPUs (higher wins): locality dominates, then fewer evictions,
/// then the plugin's preference.
fn score(
    node: &PlacementNode,
    chosen: &[(&GpuSlot, Vec<Arc<str>>)],
    req: &TaskRequest,
    plugin: Plugin,
) -> i64 {
    let local = node.disk_models.contains(&req.model);
    let evictions: i64 = chosen.iter().map(|(_, e)| e.len() as i64).sum();
    let used: i64 = chosen.iter().map(|(g, _)| g.used_mb() as i64).sum();
    let free_gpus = node.gpus.iter().filter(|g| g.residents.is_empty()).count() as i64;
    let plugin_part = match plugin {
        Plugin::Binpack | Plugin::Preempt => used / 16 - free_gpus,
        Plugin::Spread => -(used / 16) + free_gpus,
        Plugin::Topology => {
            let ids: Vec<i64> = chosen
                .iter()
                .map(|(g, _)| g.gpu_id.parse::<i64>().unwrap_or(i64::MAX / 4))
                .collect();
            let span = ids.iter().max().unwrap_or(&0) - ids.iter().min().unwrap_or(&0);
            -span
        }
    };
    i64::from(local) * 1_000_000_000 - evictions * 1_000_000 + plugin_part
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(id: u32, name: &str, total_mb: u64) -> GpuSlot {
        GpuSlot {
            gpu_id: id.to_string(),
            name: name.into(),
            vendor: GpuVendor::from_gpu_name(name).unwrap_or(GpuVendor::Nvidia),
            total_mb,
            cuda_capability: None,
            temperature_c: Some(50),
            residents: Vec::new(),
        }
    }

    fn node(id: &str, gpus: Vec<GpuSlot>) -> PlacementNode {
        PlacementNode {
            id: id.into(),
            healthy: true,
            gpus,
            engines: vec!["vllm".into(), "llamacpp".into()],
            disk_models: Vec::new(),
            cpu_percent: 10.0,
            memory_percent: 10.0,
        }
    }

    fn resident(task: &str, memory_mb: u64, qos: Qos, priority: u32) -> Resident {
        Resident {
            task_id: task.into(),
            memory_mb,
            qos,
            priority,
            sleeping: false,
        }
    }

    fn task(memory_mb: u64, gpus: u32) -> TaskRequest {
        TaskRequest {
            task_id: "t".into(),
            model: "Qwen/Qwen2.5-7B-Instruct".into(),
            gpus,
            gpu_type: None,
            memory_mb,
            qos: Qos::Silver,
            priority: 0,
            co_schedule: CoSchedule {
                max_models_per_gpu: 4,
                ..CoSchedule::default()
            },
            engine: None,
        }
    }

    const H100: &str = "NVIDIA H100 80GB HBM3";
    const A10: &str = "NVIDIA A10";

    #[test]
    fn gpu_type_filter_and_vram_fit() {
        let fleet = [
            node("a10", vec![gpu(0, A10, 24_000)]),
            node("h100", vec![gpu(0, H100, 81_559)]),
        ];
        let mut t = task(30_000, 1);
        let p = place(&t, &fleet, Plugin::Binpack, Thresholds::default()).unwrap();
        assert_eq!(&*p.node_id, "h100");
        t.gpu_type = Some("A10".into());
        assert_eq!(
            place(&t, &fleet, Plugin::Binpack, Thresholds::default()),
            Err(NoFit::Vram {
                memory_mb: 30_000,
                gpus: 1,
                largest_mb: 24_000
            })
        );
        t.gpu_type = Some("MI300X".into());
        assert!(matches!(
            place(&t, &fleet, Plugin::Binpack, Thresholds::default()),
            Err(NoFit::GpuType(_))
        ));
        t.gpu_type = Some("nvidia".into());
        t.memory_mb = 10_000;
        assert!(place(&t, &fleet, Plugin::Binpack, Thresholds::default()).is_ok());
    }

    #[test]
    fn binpack_fills_and_spread_empties() {
        let mut busy = gpu(0, H100, 81_559);
        busy.residents.push(resident("x", 20_000, Qos::Silver, 0));
        let fleet = [
            node("busy", vec![busy]),
            node("idle", vec![gpu(0, H100, 81_559)]),
        ];
        let t = task(20_000, 1);
        let limits = Thresholds::default();
        assert_eq!(
            &*place(&t, &fleet, Plugin::Binpack, limits).unwrap().node_id,
            "busy"
        );
        assert_eq!(
            &*place(&t, &fleet, Plugin::Spread, limits).unwrap().node_id,
            "idle"
        );
    }

    #[test]
    fn locality_wins_over_the_plugin() {
        let mut warm = node("warm", vec![gpu(0, H100, 81_559)]);
        warm.disk_models.push("Qwen/Qwen2.5-7B-Instruct".into());
        let mut busy = gpu(0, H100, 81_559);
        busy.residents.push(resident("x", 20_000, Qos::Silver, 0));
        let fleet = [node("busy", vec![busy]), warm];
        let p = place(
            &task(20_000, 1),
            &fleet,
            Plugin::Binpack,
            Thresholds::default(),
        )
        .unwrap();
        assert_eq!(&*p.node_id, "warm");
    }

    #[test]
    fn co_scheduling_limits_models_and_overcommit() {
        let mut g = gpu(0, H100, 80_000);
        g.residents.push(resident("a", 50_000, Qos::Silver, 0));
        let fleet = [node("n", vec![g])];
        let mut t = task(40_000, 1);
        assert_eq!(
            place(&t, &fleet, Plugin::Binpack, Thresholds::default()),
            Err(NoFit::Busy)
        );
        t.co_schedule.overcommit = 1.2;
        assert!(place(&t, &fleet, Plugin::Binpack, Thresholds::default()).is_ok());
        t.co_schedule.max_models_per_gpu = 1;
        assert_eq!(
            place(&t, &fleet, Plugin::Binpack, Thresholds::default()),
            Err(NoFit::Busy)
        );
    }

    #[test]
    fn gold_takes_whole_gpus_and_preemption_evicts_lower_priority_first() {
        let mut g = gpu(0, H100, 80_000);
        g.residents.push(resident("bronze", 10_000, Qos::Bronze, 5));
        g.residents.push(resident("silver", 10_000, Qos::Silver, 1));
        let fleet = [node("n", vec![g])];
        let mut gold = task(60_000, 1);
        gold.qos = Qos::Gold;
        assert_eq!(
            place(&gold, &fleet, Plugin::Binpack, Thresholds::default()),
            Err(NoFit::Busy)
        );
        let p = place(&gold, &fleet, Plugin::Preempt, Thresholds::default()).unwrap();
        assert_eq!(
            p.preempt,
            vec![Arc::<str>::from("bronze"), Arc::from("silver")]
        );
        // A silver task needing room evicts only the bronze one.
        let mut silver = task(65_000, 1);
        silver.priority = 0;
        let p = place(&silver, &fleet, Plugin::Preempt, Thresholds::default()).unwrap();
        assert_eq!(p.preempt, vec![Arc::<str>::from("bronze")]);
        // A bronze task preempts nobody of higher rank.
        let mut bronze = task(65_000, 1);
        bronze.qos = Qos::Bronze;
        bronze.priority = 9;
        assert_eq!(
            place(&bronze, &fleet, Plugin::Preempt, Thresholds::default()),
            Err(NoFit::Busy)
        );
    }

    #[test]
    fn load_thresholds_and_engine_chains() {
        let mut hot = node("hot", vec![gpu(0, H100, 80_000)]);
        hot.gpus[0].temperature_c = Some(92);
        let mut cpu = node("cpu", vec![gpu(0, H100, 80_000)]);
        cpu.cpu_percent = 97.0;
        assert_eq!(
            place(
                &task(1_000, 1),
                &[hot, cpu],
                Plugin::Binpack,
                Thresholds::default()
            ),
            Err(NoFit::Load)
        );
        let mut old = node("p100", vec![gpu(0, "Tesla P100", 16_000)]);
        old.gpus[0].cuda_capability = Some(60);
        let p = place(
            &task(1_000, 1),
            std::slice::from_ref(&old),
            Plugin::Binpack,
            Thresholds::default(),
        )
        .unwrap();
        assert_eq!(p.engine, "llamacpp");
        old.engines = vec!["vllm".into()];
        assert_eq!(
            place(
                &task(1_000, 1),
                &[old],
                Plugin::Binpack,
                Thresholds::default()
            ),
            Err(NoFit::Engine)
        );
        let mut ascend = node("npu", vec![gpu(0, "Ascend910B3", 64_000)]);
        ascend.engines = vec!["mindie".into()];
        assert_eq!(
            place(
                &task(1_000, 1),
                &[ascend],
                Plugin::Binpack,
                Thresholds::default()
            )
            .unwrap()
            .engine,
            "mindie"
        );
    }

    #[test]
    fn topology_picks_adjacent_gpus() {
        let mut gpus: Vec<GpuSlot> = (0..8).map(|i| gpu(i, H100, 80_000)).collect();
        for i in [1, 2, 5] {
            gpus[i]
                .residents
                .push(resident("x", 70_000, Qos::Silver, 0));
        }
        let fleet = [node("n", gpus)];
        let p = place(
            &task(40_000, 2),
            &fleet,
            Plugin::Topology,
            Thresholds::default(),
        )
        .unwrap();
        assert_eq!(p.gpu_ids, ["3", "4"]);
        let p = place(
            &task(40_000, 3),
            &fleet,
            Plugin::Topology,
            Thresholds::default(),
        )
        .unwrap();
        assert_eq!(p.gpu_ids, ["3", "4", "6"]);
    }

    #[test]
    fn plugins_parse_by_name_and_print_back() {
        for p in Plugin::ALL {
            assert_eq!(p.as_str().parse::<Plugin>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(" Spread ".parse::<Plugin>(), Ok(Plugin::Spread));
        let e = "fastest".parse::<Plugin>().unwrap_err();
        assert!(e.to_string().contains("binpack, spread"), "{e}");
    }
}
