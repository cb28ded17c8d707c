//! Validation of one node JSON (what every admin upsert pays before touching the registry), and
//! of a batch of 10,000.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gonka_benches::fixtures::{configs, node_json};
use gonka_core::{validate, validate_batch, GovernanceModels};

fn validation(c: &mut Criterion) {
    let governance = GovernanceModels::default();
    let one = node_json();
    let batch = serde_json::Value::Array(
        configs("v", 10_000)
            .into_iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect(),
    );
    let mut group = c.benchmark_group("validation");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_node_json", |b| {
        b.iter(|| validate(black_box(&one), &governance));
    });
    let raw = one.to_string();
    group.bench_function("one_node_json_from_bytes", |b| {
        b.iter(|| {
            let value: serde_json::Value =
                serde_json::from_str(black_box(&raw)).unwrap_or_default();
            validate(&value, &governance)
        });
    });
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("batch_of_10000", |b| {
        b.iter(|| validate_batch(black_box(&batch), &governance));
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
