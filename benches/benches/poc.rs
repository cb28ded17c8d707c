//! PoC CPU backend: nonces per second of `TinyModelCompute` (the ML node's reference backend)
//! and the time to validate a 200-leaf sample (recompute + score + binomial test).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gonka_core::poc::compute::RoundParams;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::{PocCompute, TinyModelCompute};

const BLOCK_HASH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
const PUBLIC_KEY: &str = "021111111111111111111111111111111111111111111111111111111111111111";

fn round(seq_len: usize) -> RoundParams {
    RoundParams {
        seq_len,
        ..RoundParams::new(BLOCK_HASH, PUBLIC_KEY)
    }
}

fn nonces_per_second(c: &mut Criterion) {
    let compute = TinyModelCompute::default();
    let mut group = c.benchmark_group("poc_cpu_nonces");
    for seq_len in [16usize, 64] {
        let prepared = compute.prepare("tiny", round(seq_len)).unwrap();
        let nonces: Vec<u32> = (0..32).collect();
        group.throughput(Throughput::Elements(nonces.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("batch32_seq_len", seq_len),
            &nonces,
            |b, n| b.iter(|| prepared.compute(n).unwrap()),
        );
    }
    group.finish();
}

fn validate_200(c: &mut Criterion) {
    let compute = TinyModelCompute::default();
    let prepared = compute.prepare("tiny", round(16)).unwrap();
    let nonces: Vec<u32> = (0..200).map(|x| 3 * x + 1).collect();
    let artifacts = prepared.compute(&nonces).unwrap();
    let params = ValidationParams::default();
    c.bench_function("poc_validate_200_samples_seq_len16", |b| {
        b.iter(|| {
            let v = prepared.validate(&artifacts, &params).unwrap();
            assert_eq!(v.n_mismatch, 0);
            v
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = nonces_per_second, validate_200
}
criterion_main!(benches);
