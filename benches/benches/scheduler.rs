//! Scheduler pick for each policy at 100, 1,000 and 10,000 busy nodes (target: ≤ 5 µs at 10,000),
//! measured three ways in one run:
//! - `pick/<policy>`: the pick the gateway runs: through the policy's incremental index
//!   (least-busy, scored) or its slice scan (round-robin, power-of-two, which need no index);
//! - `scan/<policy>`: the slice scan of the indexed policies (what the index replaces);
//! - `pool/<policy>`: the whole hot path in the gateway's `NodePool` — lock, pick, take the slot,
//!   release it — with every index update that implies;
//!
//! next to a naive baseline (copy every view, filter, sort). The ratio baseline ÷ policy and the
//! target verdicts are printed after the criterion groups.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gonka_benches::fixtures::{naive_least_loaded, request, views};
use gonka_benches::MODEL;
use gonka_core::{
    ManualEpoch, NodeConfig, NodeRecord, NodeState, NodeStatus, NodeView, RequestInfo, Scheduler,
    SchedulerIndex,
};
use gonka_gateway::pool::{NodePool, Observation, Permit};
use gonka_gateway::schedule::{scheduler_by_name, POLICIES};

const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// The built-in scheduler named `policy` (one of [`POLICIES`]).
fn built_in(policy: &str) -> Arc<dyn Scheduler> {
    scheduler_by_name(policy).unwrap_or_else(|e| panic!("{e}"))
}

/// The pick the gateway runs for `policy` over `nodes`: its index when it has one.
struct GatewayPick {
    scheduler: Arc<dyn Scheduler>,
    index: Option<Box<dyn SchedulerIndex>>,
}

impl GatewayPick {
    fn new(policy: &str, nodes: &[NodeView]) -> Self {
        let scheduler = built_in(policy);
        let mut index = scheduler.index();
        if let Some(index) = index.as_mut() {
            for (i, v) in nodes.iter().enumerate() {
                index.update(i, v);
            }
        }
        Self { scheduler, index }
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        match &self.index {
            Some(index) => index.pick(request, nodes),
            None => self.scheduler.pick(request, nodes),
        }
    }
}

/// A pool of `n` healthy INFERENCE nodes (16 slots each) routed by `policy`, loaded like
/// [`views`]: each node holds 1..=15 requests, every 7th is full. Returns the held permits.
fn busy_pool(policy: &str, n: usize) -> (Arc<NodePool>, Vec<Permit>) {
    let pool = Arc::new(NodePool::new(
        built_in(policy),
        Arc::new(ManualEpoch::new(0)),
        1024,
        3,
    ));
    for i in 0..n {
        let id = format!("node-{i}");
        let record = NodeRecord {
            node: NodeConfig::new(id.clone(), MODEL).max_concurrent(16),
            state: NodeState::new_registered(0),
        };
        let generation = pool.apply(record).generation;
        let healthy = Observation {
            passed: true,
            status: NodeStatus::Inference,
            loaded_model: Some(MODEL.into()),
            ..Observation::default()
        };
        pool.observe(&id, generation, healthy);
    }
    // Fill every node to its fixture load through least-busy order: 1..=15 or full.
    let target: Vec<u32> = views(n).iter().map(|v| v.in_flight).collect();
    let total: u32 = target.iter().sum();
    let chain = [request()];
    let mut held = Vec::with_capacity(total as usize);
    for _ in 0..total {
        match pool.try_acquire(&chain, &[]) {
            Some(p) => held.push(p),
            None => break,
        }
    }
    (pool, held)
}

fn pick(c: &mut Criterion) {
    let req = request();
    let mut group = c.benchmark_group("scheduler");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in SIZES {
        let nodes = views(n);
        for policy in POLICIES {
            let gateway = GatewayPick::new(policy, &nodes);
            group.bench_with_input(
                BenchmarkId::new(format!("pick/{}", policy), n),
                &nodes,
                |b, nodes| b.iter(|| gateway.pick(black_box(&req), black_box(nodes))),
            );
            if gateway.index.is_some() {
                group.bench_with_input(
                    BenchmarkId::new(format!("scan/{}", policy), n),
                    &nodes,
                    |b, nodes| b.iter(|| gateway.scheduler.pick(black_box(&req), black_box(nodes))),
                );
            }
        }
        group.bench_with_input(BenchmarkId::new("naive-baseline", n), &nodes, |b, nodes| {
            b.iter(|| naive_least_loaded(black_box(&req), black_box(nodes)));
        });
    }
    for policy in POLICIES {
        let (pool, _held) = busy_pool(policy, 10_000);
        let chain = [request()];
        group.bench_function(BenchmarkId::new(format!("pool/{}", policy), 10_000), |b| {
            b.iter(|| drop(black_box(pool.try_acquire(black_box(&chain), &[]))));
        });
    }
    group.finish();
}

/// Mean time of one call of `f` over a fixed number of calls.
fn mean_of(calls: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed() / calls
}

/// Whether criterion was started to measure (`cargo bench`) rather than to test.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn verdict(n: usize, t: Duration) -> &'static str {
    match (n == 10_000, t <= Duration::from_micros(5)) {
        (false, _) => "",
        (true, true) => " (target ≤ 5 µs: met)",
        (true, false) => " (target ≤ 5 µs: MISSED)",
    }
}

fn ratios(_: &mut Criterion) {
    let req = request();
    // `cargo test --benches` (no `--bench`) only checks that the bench runs: a few calls.
    let budget = if bench_mode() { 2_000_000 } else { 20_000 };
    println!("\nscheduler pick as the gateway runs it: naive baseline ÷ policy (same run, higher is better)");
    for n in SIZES {
        let nodes = views(n);
        let calls = u32::try_from(budget / n).unwrap_or(2).max(2);
        let naive = mean_of(calls, || {
            black_box(naive_least_loaded(black_box(&req), black_box(&nodes)));
        });
        for policy in POLICIES {
            let gateway = GatewayPick::new(policy, &nodes);
            // An index must agree with the scan it replaces, or the figures mean nothing.
            if gateway.index.is_some() {
                assert_eq!(
                    gateway.pick(&req, &nodes),
                    gateway.scheduler.pick(&req, &nodes),
                    "{policy}: index and scan disagree"
                );
            }
            let t = mean_of(calls * 10, || {
                black_box(gateway.pick(black_box(&req), black_box(&nodes)));
            });
            let scan = mean_of(calls, || {
                black_box(gateway.scheduler.pick(black_box(&req), black_box(&nodes)));
            });
            let ratio = naive.as_secs_f64() / t.as_secs_f64().max(1e-12);
            let how = if gateway.index.is_some() {
                "index"
            } else {
                "scan "
            };
            println!(
                "  {n:>6} nodes  {:<13} {how} {:>10.2?}  (scan {:>10.2?})  naive {:>10.2?}  ratio {ratio:>9.1}×{}",
                policy,
                t,
                scan,
                naive,
                verdict(n, t),
            );
        }
    }
    println!("\nNodePool acquire + release at 10,000 busy nodes (lock, pick, slot, index updates)");
    for policy in POLICIES {
        let (pool, held) = busy_pool(policy, 10_000);
        assert!(
            held.len() > 10_000,
            "{policy}: the pool took only {} slots",
            held.len()
        );
        let chain = [request()];
        let calls = if bench_mode() { 200_000 } else { 2_000 };
        let t = mean_of(calls, || {
            drop(black_box(pool.try_acquire(black_box(&chain), &[])))
        });
        println!("  {:<13} {:>10.2?}{}", policy, t, verdict(10_000, t));
    }
}

criterion_group!(benches, pick, ratios);
criterion_main!(benches);
