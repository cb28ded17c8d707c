//! Scheduler pick for each policy at 100, 1,000 and 10,000 nodes (target: ≤ 5 µs at 10,000),
//! next to a naive baseline (copy every view, filter, sort) measured in the same run; the ratio
//! baseline ÷ policy is printed after the criterion groups.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gonka_benches::fixtures::{naive_least_loaded, request, views};
use gonka_gateway::Policy;

const SIZES: [usize; 3] = [100, 1_000, 10_000];

fn pick(c: &mut Criterion) {
    let req = request();
    let mut group = c.benchmark_group("scheduler_pick");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in SIZES {
        let nodes = views(n);
        for policy in Policy::ALL {
            let scheduler = policy.scheduler();
            group.bench_with_input(BenchmarkId::new(policy.as_str(), n), &nodes, |b, nodes| {
                b.iter(|| scheduler.pick(black_box(&req), black_box(nodes)));
            });
        }
        group.bench_with_input(BenchmarkId::new("naive-baseline", n), &nodes, |b, nodes| {
            b.iter(|| naive_least_loaded(black_box(&req), black_box(nodes)));
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

fn ratios(_: &mut Criterion) {
    let req = request();
    println!("\nscheduler pick: naive baseline ÷ policy (same run, higher is better)");
    for n in SIZES {
        let nodes = views(n);
        // `cargo test --benches` (no `--bench`) only checks that the bench runs: a few calls.
        let budget = if bench_mode() { 2_000_000 } else { 20_000 };
        let calls = u32::try_from(budget / n).unwrap_or(2).max(2);
        let naive = mean_of(calls, || {
            black_box(naive_least_loaded(black_box(&req), black_box(&nodes)));
        });
        for policy in Policy::ALL {
            let scheduler = policy.scheduler();
            let t = mean_of(calls, || {
                black_box(scheduler.pick(black_box(&req), black_box(&nodes)));
            });
            let ratio = naive.as_secs_f64() / t.as_secs_f64().max(1e-12);
            let target = if n == 10_000 {
                if t <= Duration::from_micros(5) {
                    " (target ≤ 5 µs: met)"
                } else {
                    " (target ≤ 5 µs: MISSED)"
                }
            } else {
                ""
            };
            println!(
                "  {n:>6} nodes  {:<13} {:>10.2?}  naive {:>10.2?}  ratio {ratio:>7.1}×{target}",
                policy.as_str(),
                t,
                naive
            );
        }
    }
}

criterion_group!(benches, pick, ratios);
criterion_main!(benches);
