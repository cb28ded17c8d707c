use std::sync::Arc;

use gonka_core::{NodeStatus, NodeView, RequestInfo, Scheduler};
use proptest::prelude::*;

use super::*;

const M: &str = "Qwen/Qwen3-32B-FP8";

fn node(id: &str, in_flight: u32, max: u32) -> NodeView {
    NodeView {
        id: id.into(),
        models: vec![Arc::<str>::from(M)].into(),
        in_flight,
        max_concurrent: max,
        status: NodeStatus::Inference,
        healthy: true,
        admitted: true,
        availability: 1.0,
        ..NodeView::default()
    }
}

fn req() -> RequestInfo {
    RequestInfo::for_model(M)
}

#[test]
fn least_busy_picks_lowest_load_ratio_not_lowest_count() {
    // a: 2/4 = 0.5, b: 3/10 = 0.3 → b although it has more requests.
    let nodes = [node("a", 2, 4), node("b", 3, 10), node("c", 4, 4)];
    assert_eq!(LeastBusy.pick(&req(), &nodes), Some(1));
}

#[test]
fn least_busy_breaks_ties_by_registration_order() {
    let nodes = [node("a", 1, 4), node("b", 1, 4)];
    assert_eq!(LeastBusy.pick(&req(), &nodes), Some(0));
}

#[test]
fn least_busy_skips_full_unhealthy_and_wrong_model_nodes() {
    let mut wrong = node("w", 0, 4);
    wrong.models = vec![Arc::<str>::from("other")].into();
    let sick = NodeView {
        healthy: false,
        ..node("s", 0, 4)
    };
    let nodes = [node("full", 4, 4), wrong, sick, node("ok", 3, 4)];
    assert_eq!(LeastBusy.pick(&req(), &nodes), Some(3));
    assert_eq!(LeastBusy.pick(&req(), &nodes[..3]), None);
}

#[test]
fn round_robin_cycles_through_eligible_nodes() {
    let rr = RoundRobin::default();
    let nodes = [node("a", 0, 4), node("b", 0, 4), node("c", 0, 4)];
    let picks: Vec<_> = (0..6).map(|_| rr.pick(&req(), &nodes)).collect();
    assert_eq!(
        picks,
        vec![Some(0), Some(1), Some(2), Some(0), Some(1), Some(2)]
    );
}

#[test]
fn round_robin_skips_ineligible_nodes() {
    let rr = RoundRobin::default();
    let nodes = [node("a", 0, 4), node("b", 4, 4), node("c", 0, 4)];
    for _ in 0..9 {
        assert_ne!(rr.pick(&req(), &nodes), Some(1));
    }
}

#[test]
fn power_of_two_prefers_the_less_loaded_of_its_two_draws() {
    // With two eligible nodes, both draws land on distinct nodes, so the idle one always wins.
    let p2 = PowerOfTwo::with_seed(7);
    let nodes = [node("busy", 3, 4), node("idle", 0, 4)];
    for _ in 0..50 {
        assert_eq!(p2.pick(&req(), &nodes), Some(1));
    }
}

#[test]
fn power_of_two_spreads_over_equal_nodes() {
    let p2 = PowerOfTwo::with_seed(42);
    let nodes = [
        node("a", 0, 4),
        node("b", 0, 4),
        node("c", 0, 4),
        node("d", 0, 4),
    ];
    let mut seen = [0u32; 4];
    for _ in 0..400 {
        seen[p2.pick(&req(), &nodes).unwrap()] += 1;
    }
    assert!(seen.iter().all(|&n| n > 0), "every node picked: {seen:?}");
}

#[test]
fn scored_prefers_fast_reliable_available_nodes() {
    let s = Scored::default();
    let slow = NodeView {
        latency_p50_ms: 4000.0,
        latency_p95_ms: 9000.0,
        ..node("slow", 1, 4)
    };
    let flaky = NodeView {
        error_rate: 0.5,
        ..node("flaky", 1, 4)
    };
    let fast = NodeView {
        latency_p50_ms: 200.0,
        latency_p95_ms: 400.0,
        ..node("fast", 1, 4)
    };
    assert_eq!(
        s.pick(&req(), &[slow.clone(), flaky.clone(), fast]),
        Some(2)
    );
    let rarely_up = NodeView {
        availability: 0.2,
        ..node("rare", 1, 4)
    };
    assert_eq!(s.pick(&req(), &[rarely_up, node("up", 1, 4)]), Some(1));
    let queued = NodeView {
        queue_depth: 10,
        ..node("queued", 0, 4)
    };
    assert_eq!(s.pick(&req(), &[queued, node("free", 1, 4)]), Some(1));
}

#[test]
fn scored_explains_its_score_signal_by_signal() {
    let s = Scored::default();
    let view = NodeView {
        latency_p50_ms: 300.0,
        latency_p95_ms: 900.0,
        queue_depth: 3,
        error_rate: 0.25,
        availability: 0.5,
        ..node("n", 2, 4)
    };
    let breakdown = s.explain(&req(), &view).expect("scored explains");
    assert_eq!(breakdown.total, s.score(&view));
    let names: Vec<_> = breakdown.signals.iter().map(|p| p.signal).collect();
    assert_eq!(names, SCORED_SIGNALS);
    let sum: f32 = breakdown.signals.iter().map(|p| p.value).sum();
    assert_eq!(sum, breakdown.total);
    let part = |name: &str| {
        breakdown
            .signals
            .iter()
            .find(|p| p.signal == name)
            .unwrap()
            .value
    };
    assert_eq!(part("availability"), 5.0);
    assert_eq!(part("load"), -15.0);
    assert_eq!(part("queue_depth"), -9.0);
    assert_eq!(part("error_rate"), -10.0);
    assert!(part("wait") < 0.0);
    assert_eq!(LeastBusy.explain(&req(), &view), None);
}

#[test]
fn scored_is_exact_in_large_fleets() {
    // 200 busy nodes; the best one (least loaded) is at 150.
    let mut nodes: Vec<NodeView> = (0..200).map(|i| node(&format!("n{i}"), 3, 4)).collect();
    nodes[150].in_flight = 1;
    let s = Scored::default();
    for _ in 0..3 {
        assert_eq!(s.pick(&req(), &nodes), Some(150));
    }
    assert_eq!(indexed_pick(&s, &req(), &nodes), Some(150));
}

#[test]
fn scored_breaks_ties_by_listing_order() {
    let s = Scored::default();
    let nodes = [node("idle", 0, 4), node("idle-too", 0, 4)];
    assert_eq!(s.pick(&req(), &nodes), Some(0));
    assert_eq!(indexed_pick(&s, &req(), &nodes), Some(0));
}

#[test]
fn score_keys_sort_like_total_cmp_descending() {
    let values = [
        f32::NEG_INFINITY,
        -3.5,
        -0.0,
        0.0,
        1e-30,
        2.0,
        40.0,
        f32::INFINITY,
    ];
    for a in values {
        for b in values {
            assert_eq!(
                ScoreKey::new(a).cmp(&ScoreKey::new(b)),
                b.total_cmp(&a),
                "{a} vs {b}"
            );
        }
    }
}

#[test]
fn least_busy_index_compares_loads_exactly() {
    let nodes = [node("a", 1, 3), node("b", 2, 6), node("c", 1, 4)];
    // 1/3 == 2/6 > 1/4: c wins; after c takes two more (3/4) a wins over b by position.
    assert_eq!(indexed_pick(&LeastBusy, &req(), &nodes), Some(2));
    let nodes = [node("a", 1, 3), node("b", 2, 6), node("c", 3, 4)];
    assert_eq!(indexed_pick(&LeastBusy, &req(), &nodes), Some(0));
    assert_eq!(LeastBusy.pick(&req(), &nodes), Some(0));
}

/// The pick of `scheduler`'s index over `nodes`, filled from scratch.
fn indexed_pick(
    scheduler: &dyn Scheduler,
    request: &RequestInfo,
    nodes: &[NodeView],
) -> Option<usize> {
    let mut index = scheduler.index().expect("policy has an index");
    for (i, v) in nodes.iter().enumerate() {
        index.update(i, v);
    }
    index.pick(request, nodes)
}

#[test]
fn hardware_filters_route_to_matching_gpu_vram_and_engine() {
    let h100 = NodeView {
        gpu_type: Some("NVIDIA H100 80GB HBM3".into()),
        vram_mb: Some(81_559),
        engine: Some("vllm".into()),
        ..node("h100", 0, 4)
    };
    let a10 = NodeView {
        gpu_type: Some("NVIDIA A10".into()),
        vram_mb: Some(24_000),
        engine: Some("sglang".into()),
        ..node("a10", 0, 4)
    };
    let nodes = [a10, h100];
    for policy in POLICIES {
        let s = scheduler_by_name(policy).unwrap();
        let gpu = RequestInfo {
            gpu_type: Some("h100".into()),
            ..req()
        };
        assert_eq!(s.pick(&gpu, &nodes), Some(1), "{policy}");
        let vram = RequestInfo {
            min_vram_mb: Some(40_000),
            ..req()
        };
        assert_eq!(s.pick(&vram, &nodes), Some(1), "{policy}");
        let engine = RequestInfo {
            engine: Some("SGLang".into()),
            ..req()
        };
        assert_eq!(s.pick(&engine, &nodes), Some(0), "{policy}");
    }
}

#[test]
fn policies_are_found_by_their_flag_spelling() {
    for p in POLICIES {
        assert_eq!(scheduler_by_name(p).unwrap().name(), p);
        assert_eq!(
            scheduler_by_name(&format!(" {} ", p.to_uppercase()))
                .unwrap()
                .name(),
            p
        );
    }
    let err = scheduler_by_name("fastest").unwrap_err();
    assert_eq!(err.name, "fastest");
    assert!(err.to_string().contains("least-busy"));
}

/// Every built-in scheduler passes the exported conformance suite.
#[test]
fn every_policy_passes_the_scheduler_suite() {
    for p in POLICIES {
        gonka_core::testing::scheduler_suite(scheduler_by_name(p).unwrap().as_ref());
    }
    gonka_core::testing::scheduler_suite(&PowerOfTwo::with_seed(7));
    gonka_core::testing::scheduler_suite(&Scored::new(ScoreWeights {
        load: 1.0,
        queue_depth: 0.0,
        wait_per_second: 100.0,
        error_rate: 5.0,
        availability: 0.0,
    }));
}

/// A scheduler that breaks the contract in one way each, to show the suite catches it.
#[derive(Debug)]
enum Broken {
    /// Ignores the exclusions of the request.
    IgnoresExclusions,
    /// Ignores the hardware hints of the request.
    IgnoresHints,
    /// An index that prefers the last eligible node while the scan prefers the first.
    IndexDisagrees,
}

impl Scheduler for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let relaxed = match self {
            Broken::IgnoresExclusions => RequestInfo {
                exclude: Vec::new(),
                ..request.clone()
            },
            Broken::IgnoresHints => RequestInfo::for_model(request.model.clone()),
            Broken::IndexDisagrees => request.clone(),
        };
        nodes.iter().position(|n| n.eligible(&relaxed))
    }

    fn index(&self) -> Option<Box<dyn gonka_core::SchedulerIndex>> {
        matches!(self, Broken::IndexDisagrees).then(|| {
            Box::new(gonka_core::OrderedIndex::new(|v: &NodeView| {
                std::cmp::Reverse(v.id.clone())
            })) as Box<dyn gonka_core::SchedulerIndex>
        })
    }
}

#[test]
#[should_panic(expected = "excluded")]
fn the_suite_catches_a_scheduler_that_ignores_exclusions() {
    gonka_core::testing::scheduler::honours_exclusions(&Broken::IgnoresExclusions);
}

#[test]
#[should_panic(expected = "hints")]
fn the_suite_catches_a_scheduler_that_ignores_hints() {
    gonka_core::testing::scheduler::honours_hardware_hints(&Broken::IgnoresHints);
}

#[test]
#[should_panic(expected = "index and scan disagree")]
fn the_suite_catches_an_index_that_disagrees_with_the_scan() {
    gonka_core::testing::scheduler::index_picks_what_the_scan_picks(&Broken::IndexDisagrees);
}

fn arb_view() -> impl Strategy<Value = NodeView> {
    (
        (0u32..6, 0u32..5, any::<bool>(), any::<bool>(), 0usize..4),
        (0u32..3, 0u32..3, 0u32..20, 0.0f32..10_000.0, 0.0f32..1.0),
    )
        .prop_map(
            |((in_flight, max, healthy, admitted, status), (model, gpu, queue, lat, err))| {
                let statuses = [
                    NodeStatus::Inference,
                    NodeStatus::Poc,
                    NodeStatus::Stopped,
                    NodeStatus::Unknown,
                ];
                let gpus = [None, Some("NVIDIA H100"), Some("NVIDIA A10")];
                NodeView {
                    id: format!("n{}", in_flight % 4).into(),
                    models: vec![Arc::<str>::from(format!("m{model}"))].into(),
                    in_flight,
                    max_concurrent: max,
                    status: statuses[status],
                    healthy,
                    admitted,
                    queue_depth: queue,
                    latency_p50_ms: lat / 2.0,
                    latency_p95_ms: lat,
                    error_rate: err,
                    availability: 1.0 - err,
                    gpu_type: gpus[gpu as usize].map(Arc::from),
                    vram_mb: gpu.checked_sub(1).map(|g| u64::from(g) * 40_000),
                    engine: None,
                    ..NodeView::default()
                }
            },
        )
}

fn arb_request() -> impl Strategy<Value = RequestInfo> {
    (
        0u32..3,
        proptest::option::of(0usize..2),
        proptest::option::of(0u64..100_000),
        proptest::collection::vec(0u32..4, 0..2),
    )
        .prop_map(|(model, gpu, vram, exclude)| RequestInfo {
            model: format!("m{model}"),
            gpu_type: gpu.map(|g| ["h100", "a10"][g].to_owned()),
            min_vram_mb: vram,
            exclude: exclude.iter().map(|i| Arc::from(format!("n{i}"))).collect(),
            ..RequestInfo::default()
        })
}

proptest! {
    /// The suite's property ([`gonka_core::testing::scheduler::check_pick`]) over proptest's
    /// cases, for every built-in policy.
    #[test]
    fn no_policy_ever_picks_an_ineligible_node(
        nodes in proptest::collection::vec(arb_view(), 0..12),
        request in arb_request(),
        rounds in 1usize..4,
    ) {
        for policy in POLICIES {
            let s = scheduler_by_name(policy).unwrap();
            for _ in 0..rounds {
                gonka_core::testing::scheduler::check_pick(s.as_ref(), &request, &nodes);
            }
        }
    }

    /// An index kept in step through random changes, pushes and swap-removes answers every pick
    /// exactly as the policy's slice scan does
    /// ([`gonka_core::testing::scheduler::check_index`]).
    #[test]
    fn indexes_pick_exactly_what_the_scan_picks(
        initial in proptest::collection::vec(arb_view(), 0..16),
        steps in proptest::collection::vec((0u8..4, any::<usize>(), arb_view(), arb_request()), 1..40),
    ) {
        use gonka_core::testing::scheduler::TableStep;
        let steps: Vec<(TableStep, RequestInfo)> = steps
            .into_iter()
            .map(|(op, at, view, request)| {
                let step = match op {
                    0 => TableStep::Replace { at, view },
                    1 => TableStep::Push(view),
                    2 => TableStep::SwapRemove { at },
                    _ => TableStep::Replace { at: usize::MAX, view },
                };
                (step, request)
            })
            .collect();
        for policy in [LeastBusy.name(), Scored::default().name()] {
            let s = scheduler_by_name(policy).unwrap();
            prop_assert!(s.index().is_some(), "{} has an index", policy);
            gonka_core::testing::scheduler::check_index(s.as_ref(), &initial, &steps);
        }
    }
}
