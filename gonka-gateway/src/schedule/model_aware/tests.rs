use std::sync::Arc;

use gonka_core::{LoadedModel, NodeStatus, NodeView, RequestInfo, Scheduler, SchedulerIndex};

use super::*;

/// 32 B parameters in FP8: about 30,500 MiB of weights, a large model.
const M: &str = "Qwen/Qwen3-32B-FP8";
const SMALL: &str = "Qwen/Qwen3-0.6B";

fn node(id: &str) -> NodeView {
    NodeView {
        id: id.into(),
        models: vec![Arc::<str>::from(M), Arc::<str>::from(SMALL)].into(),
        max_concurrent: 4,
        status: NodeStatus::Inference,
        healthy: true,
        admitted: true,
        availability: 1.0,
        ..NodeView::default()
    }
}

fn hot(id: &str, context_length: u32) -> NodeView {
    NodeView {
        loaded: vec![LoadedModel {
            name: M.into(),
            context_length,
        }]
        .into(),
        ..node(id)
    }
}

fn warm(id: &str) -> NodeView {
    NodeView {
        disk_models: vec![Arc::<str>::from(M)].into(),
        ..node(id)
    }
}

fn req(prompt_tokens: u32) -> RequestInfo {
    RequestInfo {
        prompt_tokens,
        ..RequestInfo::for_model(M)
    }
}

/// The value of `signal` in `node`'s breakdown for `request`.
fn signal(node: &NodeView, request: &RequestInfo, name: &str) -> f32 {
    let breakdown = ModelAware::default().explain(request, node).unwrap();
    breakdown
        .signals
        .iter()
        .find(|s| s.signal == name)
        .unwrap_or_else(|| panic!("no signal {name}"))
        .value
}

#[test]
fn model_sizes_are_estimated_from_names() {
    let gib = |mb: u64| mb as f64 / 1024.0;
    let fp8 = gib(estimated_model_mb(M).unwrap());
    assert!((29.0..31.0).contains(&fp8), "{fp8}");
    let bf16 = gib(estimated_model_mb("Qwen/QwQ-32B").unwrap());
    assert!((59.0..61.0).contains(&bf16), "{bf16}");
    let q4 = gib(estimated_model_mb("llama3.3:70b-instruct-q4_K_M").unwrap());
    assert!((35.0..37.0).contains(&q4), "{q4}");
    assert!(
        estimated_model_mb("mixtral-8x7b").unwrap() > estimated_model_mb("mistral-7b").unwrap()
    );
    assert!(estimated_model_mb("SmolLM2-135M").unwrap() < 300);
    assert_eq!(
        estimated_model_mb("Qwen/Qwen2.5-1.5B"),
        estimated_model_mb("qwen2.5:1.5b")
    );
    assert_eq!(estimated_model_mb("simulator"), None);
    assert_eq!(estimated_model_mb("gpt-4o"), None);
}

#[test]
fn thermal_is_hot_warm_or_cold() {
    let r = req(0);
    assert_eq!(signal(&hot("h", 0), &r, "thermal"), 50.0);
    assert_eq!(signal(&warm("w"), &r, "thermal"), 30.0);
    assert_eq!(signal(&node("c"), &r, "thermal"), 10.0);
    // Hot for another model only: cold for this one.
    let other = NodeView {
        loaded: vec![LoadedModel {
            name: SMALL.into(),
            context_length: 0,
        }]
        .into(),
        ..node("o")
    };
    assert_eq!(signal(&other, &r, "thermal"), 10.0);
}

#[test]
fn memory_fit_is_the_headroom_over_the_models_size() {
    let r = req(0);
    let size = estimated_model_mb(M).unwrap();
    let with_free = |free: u64| NodeView {
        memory_total_mb: Some(200_000),
        memory_free_mb: Some(free),
        ..warm("w")
    };
    assert_eq!(signal(&hot("h", 0), &r, "memory_fit"), 20.0, "loaded: fits");
    assert_eq!(signal(&with_free(2 * size), &r, "memory_fit"), 20.0);
    let half = signal(&with_free(size + size / 2), &r, "memory_fit");
    assert!((9.9..10.1).contains(&half), "{half}");
    assert_eq!(
        signal(&with_free(size - 1), &r, "memory_fit"),
        0.0,
        "does not fit"
    );
    assert_eq!(signal(&warm("unknown"), &r, "memory_fit"), 0.0);
    // A model whose size the name does not tell: the share of memory free.
    let unnamed = RequestInfo::for_model("simulator");
    let quarter = NodeView {
        models: vec![Arc::<str>::from("simulator")].into(),
        memory_total_mb: Some(40_000),
        memory_free_mb: Some(10_000),
        ..node("q")
    };
    assert_eq!(signal(&quarter, &unnamed, "memory_fit"), 5.0);
}

#[test]
fn queue_depth_counts_requests_in_flight_and_queued_per_slot() {
    let r = req(0);
    assert_eq!(signal(&node("idle"), &r, "queue_depth"), 0.0);
    let two = NodeView {
        in_flight: 1,
        queue_depth: 1,
        ..node("two")
    };
    assert_eq!(signal(&two, &r, "queue_depth"), -15.0);
    let deep = NodeView {
        in_flight: 3,
        queue_depth: 40,
        ..node("deep")
    };
    assert_eq!(
        signal(&deep, &r, "queue_depth"),
        -30.0,
        "capped at the weight"
    );
}

#[test]
fn wait_is_p75_latency_times_queue_depth() {
    let r = req(0);
    let queued = |p75: f32, queue: u32| NodeView {
        latency_p75_ms: p75,
        queue_depth: queue,
        ..node("n")
    };
    assert_eq!(
        signal(&queued(6_000.0, 0), &r, "wait"),
        0.0,
        "nothing ahead"
    );
    // 6 s × 4 queued / 4 slots = 6 s of 30 s: a fifth of the weight.
    assert_eq!(signal(&queued(6_000.0, 4), &r, "wait"), -5.0);
    assert_eq!(signal(&queued(60_000.0, 8), &r, "wait"), -25.0, "capped");
    // Without a p75 yet, p95 stands in.
    let p95 = NodeView {
        latency_p95_ms: 6_000.0,
        queue_depth: 4,
        ..node("n")
    };
    assert_eq!(signal(&p95, &r, "wait"), -5.0);
}

#[test]
fn role_affinity_sends_large_models_to_large_memory_nodes() {
    let r = req(0);
    let with_total = |total: u64| NodeView {
        memory_total_mb: Some(total),
        ..node("n")
    };
    assert_eq!(signal(&with_total(160_000), &r, "role_affinity"), 15.0);
    let small_node = signal(&with_total(24_000), &r, "role_affinity");
    assert!(small_node > 0.0 && small_node < 7.0, "{small_node}");
    // Per-device VRAM stands in for unreported engine memory.
    let vram = NodeView {
        vram_mb: Some(81_559),
        ..node("v")
    };
    assert_eq!(signal(&vram, &r, "role_affinity"), 15.0);
    // Small models have no preference.
    let small = RequestInfo::for_model(SMALL);
    assert_eq!(signal(&with_total(160_000), &small, "role_affinity"), 0.0);
}

#[test]
fn availability_is_the_recent_share_of_passed_checks() {
    let r = req(0);
    assert_eq!(signal(&node("up"), &r, "availability"), 10.0);
    let flaky = NodeView {
        availability: 0.3,
        ..node("f")
    };
    assert!((signal(&flaky, &r, "availability") - 3.0).abs() < 1e-5);
}

#[test]
fn context_fit_needs_a_loaded_context_that_holds_the_request() {
    assert_eq!(signal(&hot("h", 8192), &req(4000), "context_fit"), 15.0);
    assert_eq!(signal(&hot("h", 8192), &req(8192), "context_fit"), 15.0);
    assert_eq!(signal(&hot("h", 2048), &req(4000), "context_fit"), 0.0);
    assert_eq!(
        signal(&hot("h", 0), &req(10), "context_fit"),
        0.0,
        "unknown"
    );
    assert_eq!(
        signal(&warm("w"), &req(10), "context_fit"),
        0.0,
        "not loaded"
    );
}

#[test]
fn a_hot_node_beats_a_cold_one_and_a_deep_queue_loses_to_an_idle_warm_node() {
    let policy = ModelAware::default();
    let r = req(500);
    let memory = |v: NodeView| NodeView {
        memory_total_mb: Some(81_920),
        memory_free_mb: Some(75_000),
        ..v
    };
    // Listed first, the cold node would win every tie.
    let nodes = [memory(node("cold")), memory(hot("hot", 32_768))];
    assert_eq!(policy.pick(&r, &nodes), Some(1));
    let hot_why = policy.explain(&r, &nodes[1]).unwrap();
    let cold_why = policy.explain(&r, &nodes[0]).unwrap();
    assert!(hot_why.total > cold_why.total);
    let value =
        |b: &ScoreBreakdown, name: &str| b.signals.iter().find(|s| s.signal == name).unwrap().value;
    assert_eq!(value(&hot_why, "thermal"), 50.0);
    assert_eq!(value(&cold_why, "thermal"), 10.0);
    assert_eq!(value(&hot_why, "context_fit"), 15.0);
    assert_eq!(value(&cold_why, "context_fit"), 0.0);

    // The hot node is swamped: 3 of 4 slots busy and 12 queued behind them at 10 s each.
    let swamped = NodeView {
        in_flight: 3,
        queue_depth: 12,
        latency_p75_ms: 10_000.0,
        ..memory(hot("swamped", 32_768))
    };
    let idle_warm = memory(warm("idle-warm"));
    let nodes = [swamped, idle_warm];
    assert_eq!(policy.pick(&r, &nodes), Some(1));
    let swamped_why = policy.explain(&r, &nodes[0]).unwrap();
    let warm_why = policy.explain(&r, &nodes[1]).unwrap();
    assert_eq!(value(&swamped_why, "queue_depth"), -30.0);
    assert_eq!(value(&swamped_why, "wait"), -25.0);
    assert_eq!(value(&warm_why, "queue_depth"), 0.0);
    assert_eq!(value(&warm_why, "wait"), 0.0);
    assert_eq!(value(&warm_why, "thermal"), 30.0);
    assert_eq!(value(&warm_why, "memory_fit"), 20.0);
    assert!(warm_why.total > swamped_why.total);
    for why in [&swamped_why, &warm_why, &hot_why, &cold_why] {
        let names: Vec<_> = why.signals.iter().map(|s| s.signal).collect();
        assert_eq!(names, SIGNALS);
        let sum: f32 = why.signals.iter().map(|s| s.value).sum();
        assert!((sum - why.total).abs() < 1e-3, "{why:?}");
    }
    assert_eq!(policy.score(&r, &nodes[1]), warm_why.total);
}

#[test]
fn out_of_memory_and_critical_nodes_are_excluded_before_scoring() {
    let policy = ModelAware::default();
    let r = req(0);
    let critical = NodeView {
        memory_pressure: gonka_core::MemoryPressure::Critical,
        ..hot("critical", 32_768)
    };
    let empty = NodeView {
        memory_total_mb: Some(81_920),
        memory_free_mb: Some(0),
        ..hot("no-memory", 32_768)
    };
    let cold = node("cold");
    assert_eq!(
        policy.pick(&r, &[critical.clone(), empty.clone(), cold]),
        Some(2)
    );
    assert_eq!(policy.pick(&r, &[critical, empty]), None);
    // Without the model (not served, not loaded, not on disk): excluded too.
    assert_eq!(
        policy.pick(&RequestInfo::for_model("other"), &[hot("h", 0)]),
        None
    );
}

#[test]
fn weights_are_configurable() {
    // With thermal worth nothing and context fit worth a lot, the big context wins.
    let weights: ModelAwareWeights = "thermal_hot=0,thermal_warm=0,thermal_cold=0,context_fit=100"
        .parse()
        .unwrap();
    let policy = ModelAware::new(weights);
    let r = req(10_000);
    let nodes = [hot("small-context", 4_096), hot("big-context", 32_768)];
    assert_eq!(policy.pick(&r, &nodes), Some(1));
    assert_eq!(
        signal(&nodes[1], &r, "context_fit"),
        15.0,
        "default weights"
    );
    let breakdown = policy.explain(&r, &nodes[1]).unwrap();
    assert_eq!(breakdown.signals[6].value, 100.0);
    assert_eq!(breakdown.signals[0].value, 0.0);
}

/// An index filled with `nodes`.
fn index_of(policy: &ModelAware, nodes: &[NodeView]) -> Box<dyn SchedulerIndex> {
    let mut index = policy.index().unwrap();
    for (i, v) in nodes.iter().enumerate() {
        index.update(i, v);
    }
    index
}

#[test]
fn the_index_weighs_context_fit_per_request() {
    let policy = ModelAware::default();
    // Same base score; only the loaded context differs.
    let mut nodes = vec![hot("short", 2_048), hot("long", 32_768), warm("warm")];
    let index = index_of(&policy, &nodes);
    for tokens in [0, 1_000, 2_048, 2_049, 30_000, 40_000] {
        let r = req(tokens);
        assert_eq!(index.pick(&r, &nodes), policy.pick(&r, &nodes), "{tokens}");
    }
    assert_eq!(
        index.pick(&req(1_000), &nodes),
        Some(0),
        "both fit: first listed"
    );
    assert_eq!(
        index.pick(&req(4_000), &nodes),
        Some(1),
        "only the long one fits"
    );
    // Swap-remove the short node: the warm node moves to position 0.
    let mut index = index;
    nodes.swap_remove(0);
    index.swap_remove(0, 3);
    assert_eq!(index.pick(&req(1_000), &nodes), Some(1));
    nodes[1].in_flight = 4; // full
    index.update(1, &nodes[1]);
    assert_eq!(
        index.pick(&req(1_000), &nodes),
        Some(0),
        "the warm node is left"
    );
    let excluded = RequestInfo {
        exclude: vec![Arc::from("warm")],
        ..req(1_000)
    };
    assert_eq!(index.pick(&excluded, &nodes), None);
}

#[test]
fn the_index_agrees_with_the_scan_over_a_large_varied_fleet() {
    let policy = ModelAware::default();
    let nodes: Vec<NodeView> = (0..2_000u32)
        .map(|i| {
            let base = match i % 3 {
                0 => hot(
                    &format!("n{i}"),
                    [2_048, 8_192, 32_768][(i % 7 % 3) as usize],
                ),
                1 => warm(&format!("n{i}")),
                _ => node(&format!("n{i}")),
            };
            NodeView {
                in_flight: i % 4,
                queue_depth: i % 5,
                latency_p75_ms: (i % 13) as f32 * 100.0,
                memory_total_mb: Some(81_920),
                memory_free_mb: Some(u64::from(i % 80) * 1_000),
                availability: 1.0 - (i % 10) as f32 / 100.0,
                ..base
            }
        })
        .collect();
    let index = index_of(&policy, &nodes);
    for tokens in [0, 3_000, 10_000, 50_000] {
        for model in [M, SMALL] {
            let r = RequestInfo {
                prompt_tokens: tokens,
                ..RequestInfo::for_model(model)
            };
            let picked = policy.pick(&r, &nodes);
            assert!(picked.is_some());
            assert_eq!(index.pick(&r, &nodes), picked, "{model} {tokens}");
        }
    }
}
