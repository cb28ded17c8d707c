//! The [`Scheduler`] conformance suite: granular checks that every scheduler runs, and the
//! property checks behind them for callers that bring their own generator (e.g. proptest).
//!
//! ```
//! # #[derive(Debug)]
//! # struct FirstEligible;
//! # impl gonka_core::Scheduler for FirstEligible {
//! #     fn name(&self) -> &'static str { "first-eligible" }
//! #     fn pick(&self, r: &gonka_core::RequestInfo, nodes: &[gonka_core::NodeView]) -> Option<usize> {
//! #         nodes.iter().position(|n| n.eligible(r))
//! #     }
//! # }
//! // In a scheduler's tests: one line runs the whole contract.
//! gonka_core::testing::scheduler::scheduler_suite(&FirstEligible);
//! ```
//!
//! Every check panics with a message naming the scheduler and the broken rule. The random cases
//! come from a fixed seed, so a failure reproduces.

use std::sync::Arc;

use crate::{LoadedModel, MemoryPressure, NodeStatus, NodeView, RequestInfo, Scheduler};

/// Random tables and requests each generated check runs over.
pub const CASES: usize = 512;

/// Runs every check of the suite against `scheduler`.
pub fn scheduler_suite(scheduler: &dyn Scheduler) {
    never_picks_an_ineligible_node(scheduler);
    finds_a_node_when_one_is_eligible(scheduler);
    honours_exclusions(scheduler);
    honours_hardware_hints(scheduler);
    index_picks_what_the_scan_picks(scheduler);
}

/// The property behind the suite: `scheduler.pick(request, nodes)` is an eligible node
/// ([`NodeView::eligible`]) when one exists, and `None` otherwise.
///
/// # Panics
/// When the pick is out of range, ineligible, or `None` although a node is eligible.
pub fn check_pick(scheduler: &dyn Scheduler, request: &RequestInfo, nodes: &[NodeView]) {
    let name = scheduler.name();
    let any_eligible = nodes.iter().any(|n| n.eligible(request));
    match scheduler.pick(request, nodes) {
        Some(i) => {
            let view = nodes
                .get(i)
                .unwrap_or_else(|| panic!("{name}: picked {i} of {} nodes", nodes.len()));
            assert!(
                view.eligible(request),
                "{name}: picked node {} at {i}, which is ineligible ({:?}) for {request:?}",
                view.id,
                view.check(request)
            );
        }
        None => assert!(
            !any_eligible,
            "{name}: picked nothing although a node is eligible for {request:?}"
        ),
    }
}

/// One change of a node table, as the table's owner tells its [`SchedulerIndex`](crate::SchedulerIndex).
#[derive(Debug, Clone)]
pub enum TableStep {
    /// The view at `at % len` is replaced (no-op on an empty table).
    Replace {
        /// Position (modulo the table length).
        at: usize,
        /// The new view.
        view: NodeView,
    },
    /// A view is pushed.
    Push(NodeView),
    /// The view at `at % len` is removed with `Vec::swap_remove` (no-op on an empty table).
    SwapRemove {
        /// Position (modulo the table length).
        at: usize,
    },
}

/// The property behind [`index_picks_what_the_scan_picks`]: an index of `scheduler` filled with
/// `initial` and kept in step through `steps` answers `request` (after every step) exactly as
/// `scheduler.pick` does over the same table. Does nothing when the scheduler offers no index.
///
/// # Panics
/// On the first pick where index and scan disagree.
pub fn check_index(
    scheduler: &dyn Scheduler,
    initial: &[NodeView],
    steps: &[(TableStep, RequestInfo)],
) {
    let Some(mut index) = scheduler.index() else {
        return;
    };
    let name = scheduler.name();
    let mut nodes = initial.to_vec();
    for (i, v) in nodes.iter().enumerate() {
        index.update(i, v);
    }
    for (step, request) in steps {
        match step {
            TableStep::Replace { at, view } if !nodes.is_empty() => {
                let i = at % nodes.len();
                nodes[i] = view.clone();
                index.update(i, &nodes[i]);
            }
            TableStep::Push(view) => {
                nodes.push(view.clone());
                index.update(nodes.len() - 1, view);
            }
            TableStep::SwapRemove { at } if !nodes.is_empty() => {
                let i = at % nodes.len();
                let len = nodes.len();
                nodes.swap_remove(i);
                index.swap_remove(i, len);
            }
            _ => {}
        }
        assert_eq!(
            index.pick(request, &nodes),
            scheduler.pick(request, &nodes),
            "{name}: index and scan disagree for {request:?} over {nodes:?}"
        );
    }
}

/// Over [`CASES`] random tables and requests (hints and exclusions included), the scheduler
/// never picks an ineligible node and never picks nothing when a node is eligible
/// ([`check_pick`]); each table is asked three times (stateful schedulers move on).
pub fn never_picks_an_ineligible_node(scheduler: &dyn Scheduler) {
    let mut g = Gen::new(0x5eed_0001);
    for _ in 0..CASES {
        let nodes = g.table(12);
        let request = g.request();
        for _ in 0..3 {
            check_pick(scheduler, &request, &nodes);
        }
    }
}

/// A table where exactly one node, at a random position among ineligible ones, can take the
/// request: the scheduler always finds it.
pub fn finds_a_node_when_one_is_eligible(scheduler: &dyn Scheduler) {
    let name = scheduler.name();
    let mut g = Gen::new(0x5eed_0002);
    let request = RequestInfo::for_model("m0");
    for len in 1..10 {
        let only = g.below(len);
        let nodes: Vec<NodeView> = (0..len)
            .map(|i| {
                let v = ready(&format!("n{i}"), "m0");
                if i == only {
                    v
                } else {
                    // Each of the other nodes fails the rule in a different way.
                    match i % 4 {
                        0 => NodeView {
                            healthy: false,
                            ..v
                        },
                        1 => NodeView {
                            in_flight: v.max_concurrent,
                            ..v
                        },
                        2 => NodeView {
                            status: NodeStatus::Poc,
                            ..v
                        },
                        _ => NodeView {
                            admitted: false,
                            ..v
                        },
                    }
                }
            })
            .collect();
        for _ in 0..len + 1 {
            assert_eq!(
                scheduler.pick(&request, &nodes),
                Some(only),
                "{name}: the only eligible node is at {only} of {len}"
            );
        }
    }
}

/// Nodes named in [`RequestInfo::exclude`] are never picked, whatever else they offer; when every
/// eligible node is excluded the pick is `None`.
pub fn honours_exclusions(scheduler: &dyn Scheduler) {
    let name = scheduler.name();
    let mut g = Gen::new(0x5eed_0003);
    for len in 1..8 {
        let nodes: Vec<NodeView> = (0..len).map(|i| ready(&format!("n{i}"), "m0")).collect();
        for _ in 0..16 {
            let exclude: Vec<Arc<str>> = nodes
                .iter()
                .filter(|_| g.below(2) == 0)
                .map(|v| Arc::clone(&v.id))
                .collect();
            let request = RequestInfo {
                exclude: exclude.clone(),
                ..RequestInfo::for_model("m0")
            };
            let picked = scheduler.pick(&request, &nodes);
            match picked {
                Some(i) => assert!(
                    !exclude.contains(&nodes[i].id),
                    "{name}: picked excluded node {}",
                    nodes[i].id
                ),
                None => assert_eq!(
                    exclude.len(),
                    nodes.len(),
                    "{name}: picked nothing although some node is not excluded"
                ),
            }
        }
    }
}

/// GPU type, VRAM and engine hints route to the one node that has the hardware, and a hint no
/// node meets (or one on a property no node reports) gives `None`.
pub fn honours_hardware_hints(scheduler: &dyn Scheduler) {
    let name = scheduler.name();
    let a10 = NodeView {
        gpu_type: Some("NVIDIA A10".into()),
        vram_mb: Some(24_000),
        engine: Some("sglang".into()),
        ..ready("a10", "m0")
    };
    let h100 = NodeView {
        gpu_type: Some("NVIDIA H100 80GB HBM3".into()),
        vram_mb: Some(81_559),
        engine: Some("vllm".into()),
        ..ready("h100", "m0")
    };
    let unknown = ready("unknown", "m0");
    let nodes = [a10, unknown, h100];
    let hinted = |gpu: Option<&str>, vram: Option<u64>, engine: Option<&str>| RequestInfo {
        gpu_type: gpu.map(str::to_owned),
        min_vram_mb: vram,
        engine: engine.map(str::to_owned),
        ..RequestInfo::for_model("m0")
    };
    let cases = [
        (hinted(Some("h100"), None, None), Some(2)),
        (hinted(None, Some(40_000), None), Some(2)),
        (hinted(None, None, Some("SGLang")), Some(0)),
        (hinted(Some("a10"), Some(20_000), Some("sglang")), Some(0)),
        (hinted(Some("b200"), None, None), None),
        (hinted(None, Some(100_000), None), None),
        (hinted(None, None, Some("llamacpp")), None),
    ];
    for (request, want) in cases {
        for _ in 0..4 {
            assert_eq!(
                scheduler.pick(&request, &nodes),
                want,
                "{name}: hints of {request:?}"
            );
        }
    }
}

/// When the scheduler offers an index ([`Scheduler::index`]), it picks what the scan picks
/// through [`CASES`] random sequences of changes, pushes and swap-removes ([`check_index`]).
/// Schedulers without an index pass trivially.
pub fn index_picks_what_the_scan_picks(scheduler: &dyn Scheduler) {
    if scheduler.index().is_none() {
        return;
    }
    let mut g = Gen::new(0x5eed_0004);
    for _ in 0..CASES / 4 {
        let initial = g.table(16);
        let steps: Vec<(TableStep, RequestInfo)> = (0..g.below(40) + 1)
            .map(|_| {
                let step = match g.below(4) {
                    0 => TableStep::Replace {
                        at: g.below(64),
                        view: g.view(),
                    },
                    1 => TableStep::Push(g.view()),
                    2 => TableStep::SwapRemove { at: g.below(64) },
                    _ => TableStep::Replace {
                        at: g.below(64),
                        view: NodeView {
                            in_flight: g.below(5) as u32,
                            ..g.view()
                        },
                    },
                };
                (step, g.request())
            })
            .collect();
        check_index(scheduler, &initial, &steps);
    }
}

/// An admitted, healthy, idle `INFERENCE` node `id` serving `model`, with 4 slots.
pub fn ready(id: &str, model: &str) -> NodeView {
    NodeView {
        id: id.into(),
        models: vec![Arc::<str>::from(model)].into(),
        max_concurrent: 4,
        status: NodeStatus::Inference,
        healthy: true,
        admitted: true,
        availability: 1.0,
        ..NodeView::default()
    }
}

/// A small deterministic generator of node views and requests (splitmix64), so the suite needs
/// no randomness crate and every failure reproduces.
#[derive(Debug, Clone)]
pub struct Gen(u64);

impl Gen {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// A random view: ids `n0..n5`, models `m0..m2`, every rule of the eligibility rule both met
    /// and failed, hardware known or not, random load and quality signals.
    pub fn view(&mut self) -> NodeView {
        let statuses = [
            NodeStatus::Inference,
            NodeStatus::Inference,
            NodeStatus::Poc,
            NodeStatus::Stopped,
            NodeStatus::Unknown,
        ];
        let gpus = [None, Some("NVIDIA H100 80GB"), Some("NVIDIA A10")];
        let engines = [None, Some("vllm"), Some("sglang")];
        let mut models: Vec<Arc<str>> = vec![Arc::from(format!("m{}", self.below(3)))];
        if self.below(4) == 0 {
            models.push(Arc::from(format!("m{}", self.below(3))));
        }
        let max_concurrent = self.below(5) as u32;
        let latency = self.below(10_000) as f32;
        let error_rate = self.below(101) as f32 / 100.0;
        let id = format!("n{}", self.below(6));
        let in_flight = self.below(max_concurrent as usize + 2) as u32;
        let status = statuses[self.below(statuses.len())];
        let healthy = self.below(4) != 0;
        let admitted = self.below(4) != 0;
        let queue_depth = self.below(20) as u32;
        let gpu_type = gpus[self.below(3)].map(Arc::from);
        let vram_mb = [None, Some(24_000), Some(81_559)][self.below(3)];
        let engine = engines[self.below(3)].map(Arc::from);
        // Memory and model residency: hot (loaded, with or without a known context), warm (on
        // disk) or neither, under every pressure class.
        let mut loaded = Vec::new();
        for m in &models {
            if self.below(2) == 0 {
                loaded.push(LoadedModel {
                    name: m.clone(),
                    context_length: [0, 2048, 32_768][self.below(3)],
                });
            }
        }
        let disk_models: Vec<Arc<str>> = (0..self.below(3))
            .map(|_| Arc::from(format!("m{}", self.below(3))))
            .collect();
        let memory_total_mb = [None, Some(24_000), Some(81_559)][self.below(3)];
        let memory_free_mb = memory_total_mb.map(|t| t * self.below(101) as u64 / 100);
        let memory_pressure = [
            MemoryPressure::Normal,
            MemoryPressure::Elevated,
            MemoryPressure::Critical,
        ][self.below(3)];
        NodeView {
            id: id.into(),
            models: models.into(),
            in_flight,
            max_concurrent,
            status,
            healthy,
            admitted,
            queue_depth,
            latency_p50_ms: latency / 2.0,
            latency_p95_ms: latency,
            latency_p75_ms: latency * 0.75,
            error_rate,
            availability: 1.0 - error_rate,
            gpu_type,
            vram_mb,
            engine,
            loaded: loaded.into(),
            disk_models: disk_models.into(),
            memory_total_mb,
            memory_free_mb,
            memory_pressure,
        }
    }

    /// A table of up to `max_len - 1` random views.
    pub fn table(&mut self, max_len: usize) -> Vec<NodeView> {
        (0..self.below(max_len)).map(|_| self.view()).collect()
    }

    /// A random request: model `m0..m2`, with or without each hint, excluding up to two of the
    /// ids [`Gen::view`] uses.
    pub fn request(&mut self) -> RequestInfo {
        let pick = |g: &mut Self, options: &[&str]| {
            let i = g.below(options.len() + 1);
            options.get(i).map(|s| (*s).to_owned())
        };
        RequestInfo {
            model: format!("m{}", self.below(3)),
            prompt_tokens: self.below(4096) as u32,
            priority: self.below(3) as i32 - 1,
            gpu_type: if self.below(3) == 0 {
                pick(self, &["h100", "A10"])
            } else {
                None
            },
            min_vram_mb: if self.below(3) == 0 {
                Some(self.below(90_000) as u64)
            } else {
                None
            },
            engine: if self.below(3) == 0 {
                pick(self, &["VLLM", "sglang"])
            } else {
                None
            },
            exclude: (0..self.below(3))
                .map(|_| Arc::from(format!("n{}", self.below(6))))
                .collect(),
        }
    }
}
