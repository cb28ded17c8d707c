use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::{OrderedIndex, SchedulerIndex};

fn view() -> NodeView {
    NodeView {
        id: "a".into(),
        models: vec![Arc::<str>::from("m")].into(),
        max_concurrent: 2,
        status: NodeStatus::Inference,
        healthy: true,
        admitted: true,
        ..NodeView::default()
    }
}

#[test]
fn eligible_needs_every_condition() {
    let req = RequestInfo::for_model("m");
    assert!(view().eligible(&req));
    assert_eq!(
        view().check(&RequestInfo::for_model("other")),
        Err(Ineligible::Model)
    );
    let cases = [
        (
            NodeView {
                healthy: false,
                ..view()
            },
            Ineligible::Unhealthy,
        ),
        (
            NodeView {
                admitted: false,
                ..view()
            },
            Ineligible::NotAdmitted,
        ),
        (
            NodeView {
                in_flight: 2,
                ..view()
            },
            Ineligible::Full,
        ),
        (
            NodeView {
                status: NodeStatus::Poc,
                ..view()
            },
            Ineligible::NotInference,
        ),
        (
            NodeView {
                memory_pressure: MemoryPressure::Critical,
                memory_free_mb: Some(100),
                ..view()
            },
            Ineligible::OutOfMemory,
        ),
        (
            NodeView {
                memory_total_mb: Some(24_000),
                memory_free_mb: Some(0),
                ..view()
            },
            Ineligible::OutOfMemory,
        ),
    ];
    for (v, why) in cases {
        assert!(!v.eligible(&req));
        assert_eq!(v.check(&req), Err(why));
    }
}

#[test]
fn elevated_pressure_and_unreported_memory_stay_eligible() {
    let req = RequestInfo::for_model("m");
    let elevated = NodeView {
        memory_pressure: MemoryPressure::Elevated,
        memory_total_mb: Some(24_000),
        memory_free_mb: Some(1_000),
        ..view()
    };
    assert!(elevated.eligible(&req) && elevated.routable());
    assert!(view().eligible(&req), "no memory reported: eligible");
    let critical = NodeView {
        memory_pressure: MemoryPressure::Critical,
        ..view()
    };
    assert!(!critical.routable() && !is_candidate(&critical));
    assert!(
        !critical.could_take(&req),
        "critical: not worth waiting for"
    );
}

#[test]
fn pressure_classes_follow_the_share_of_free_memory() {
    assert_eq!(
        MemoryPressure::classify(81_920, 40_000),
        MemoryPressure::Normal
    );
    // vLLM's default reservation (90 %) leaves ~10 %: elevated at most, never critical.
    assert_eq!(
        MemoryPressure::classify(81_920, 8_000),
        MemoryPressure::Elevated
    );
    assert_eq!(
        MemoryPressure::classify(81_920, 700),
        MemoryPressure::Elevated
    );
    assert_eq!(
        MemoryPressure::classify(81_920, 300),
        MemoryPressure::Critical
    );
    assert_eq!(
        MemoryPressure::classify(24_000, 0),
        MemoryPressure::Critical
    );
    assert_eq!(MemoryPressure::classify(0, 0), MemoryPressure::Normal);
    assert_eq!(
        MemoryPressure::classify(1_000, 5_000),
        MemoryPressure::Normal
    );
}

#[test]
fn hardware_filters_exclude_unknown_hardware() {
    let req = RequestInfo {
        gpu_type: Some("h100".into()),
        ..RequestInfo::for_model("m")
    };
    assert_eq!(view().check(&req), Err(Ineligible::GpuType));
    let v = NodeView {
        gpu_type: Some("NVIDIA H100 80GB".into()),
        ..view()
    };
    assert!(v.eligible(&req));
    let req = RequestInfo {
        min_vram_mb: Some(80_000),
        ..RequestInfo::for_model("m")
    };
    assert_eq!(
        NodeView {
            vram_mb: Some(40_000),
            ..view()
        }
        .check(&req),
        Err(Ineligible::Vram)
    );
    let req = RequestInfo {
        engine: Some("VLLM".into()),
        ..RequestInfo::for_model("m")
    };
    assert!(NodeView {
        engine: Some("vllm".into()),
        ..view()
    }
    .eligible(&req));
}

#[test]
fn an_excluded_node_is_not_eligible_and_could_not_take_the_request() {
    let req = RequestInfo {
        exclude: vec![Arc::from("a")],
        ..RequestInfo::for_model("m")
    };
    assert_eq!(view().check(&req), Err(Ineligible::Excluded));
    assert!(!view().could_take(&req));
}

#[test]
fn a_full_node_could_take_the_request_once_a_slot_frees() {
    let full = NodeView {
        in_flight: 2,
        ..view()
    };
    let req = RequestInfo::for_model("m");
    assert!(!full.eligible(&req) && full.could_take(&req));
    let filtered = RequestInfo {
        gpu_type: Some("h100".into()),
        ..req
    };
    assert!(
        !full.could_take(&filtered),
        "a hint the node fails is final"
    );
}

#[test]
fn a_disabled_node_is_admitted_until_its_epoch_is_over() {
    let disabled = AdminState {
        enabled: false,
        epoch: 7,
    };
    assert!(disabled.admits(6) && disabled.admits(7) && !disabled.admits(8));
    assert!(AdminState {
        enabled: true,
        epoch: 7
    }
    .admits(100));
}

fn arb_view() -> impl Strategy<Value = NodeView> {
    (
        (0u32..4, 0u32..4, any::<bool>(), any::<bool>(), 0usize..3),
        (0u32..3, 0usize..3, 0u32..3, 0usize..3, 0u32..3, 0usize..4),
    )
        .prop_map(
            |(
                (in_flight, max, healthy, admitted, status),
                (model, gpu, vram, engine, id, memory),
            )| {
                let statuses = [NodeStatus::Inference, NodeStatus::Poc, NodeStatus::Stopped];
                NodeView {
                    id: format!("n{id}").into(),
                    models: vec![Arc::<str>::from(format!("m{model}"))].into(),
                    in_flight,
                    max_concurrent: max,
                    status: statuses[status],
                    healthy,
                    admitted,
                    gpu_type: [None, Some("NVIDIA H100"), Some("NVIDIA A10")][gpu].map(Arc::from),
                    vram_mb: vram.checked_sub(1).map(|g| u64::from(g + 1) * 24_000),
                    engine: [None, Some("vllm"), Some("sglang")][engine].map(Arc::from),
                    memory_free_mb: [None, Some(0), Some(8_000), Some(100)][memory],
                    memory_pressure: [
                        MemoryPressure::Normal,
                        MemoryPressure::Normal,
                        MemoryPressure::Elevated,
                        MemoryPressure::Critical,
                    ][memory],
                    ..NodeView::default()
                }
            },
        )
}

fn arb_request() -> impl Strategy<Value = RequestInfo> {
    (
        0u32..3,
        proptest::option::of(0usize..2),
        proptest::option::of(0u64..60_000),
        proptest::option::of(0usize..2),
        proptest::collection::vec(0u32..3, 0..2),
    )
        .prop_map(|(model, gpu, vram, engine, exclude)| RequestInfo {
            model: format!("m{model}"),
            gpu_type: gpu.map(|g| ["h100", "a10"][g].to_owned()),
            min_vram_mb: vram,
            engine: engine.map(|e| ["VLLM", "sglang"][e].to_owned()),
            exclude: exclude.iter().map(|i| Arc::from(format!("n{i}"))).collect(),
            ..RequestInfo::default()
        })
}

proptest! {
    /// The derived predicates are the one rule seen from different sides.
    #[test]
    fn the_predicates_agree_with_the_rule(v in arb_view(), req in arb_request()) {
        let verdict = v.check(&req);
        prop_assert_eq!(v.eligible(&req), verdict.is_ok());
        prop_assert_eq!(v.could_take(&req), verdict.is_ok() || verdict == Err(Ineligible::Full));
        if v.eligible(&req) {
            prop_assert!(is_candidate(&v) && v.routable() && v.could_take(&req));
        }
        prop_assert_eq!(v.could_take(&req) && v.has_capacity(), v.eligible(&req));
        if req.excludes(&v.id) {
            prop_assert!(!v.could_take(&req));
        }
        prop_assert_eq!(v.routable(), !matches!(
            verdict,
            Err(Ineligible::NotAdmitted
                | Ineligible::Unhealthy
                | Ineligible::NotInference
                | Ineligible::OutOfMemory)
        ));
    }

    /// An index files a node exactly when it may be picked for some request, and picks only
    /// nodes the rule accepts: for a one-node table, it picks the node iff the node is eligible.
    #[test]
    fn an_index_picks_a_lone_node_iff_it_is_eligible(v in arb_view(), req in arb_request()) {
        let mut index = OrderedIndex::new(|v: &NodeView| v.in_flight);
        let nodes = [v];
        index.update(0, &nodes[0]);
        prop_assert_eq!(index.pick(&req, &nodes).is_some(), nodes[0].eligible(&req));
    }
}
