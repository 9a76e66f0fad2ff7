#![allow(missing_docs)]
//! Feature-drift statistics: a 10,000-value reference against a 5,000-value
//! window of one feature (report throughput as window values per second;
//! features × rows per second is this times the features monitored).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_kernels::stats::{histogram, jensen_shannon, ks, psi, quantile_edges, wasserstein_1};

fn values(n: usize, shift: f32, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            shift + (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut reference = values(10_000, 0.0, 1);
    let window = values(5_000, 0.1, 2);
    let edges = quantile_edges(&reference, 10).unwrap_or_default();
    let mut counts = vec![0u64; edges.len() + 1];
    let _ = histogram(&reference, &edges, &mut counts);
    reference.sort_by(f32::total_cmp);
    let mut group = c.benchmark_group("feature drift, 5000-value window vs 10000-value reference");
    group.throughput(Throughput::Elements(window.len() as u64));
    group.bench_function("histogram + psi + jensen_shannon", |b| {
        b.iter(|| {
            let mut current = vec![0u64; counts.len()];
            let _ = histogram(black_box(&window), &edges, &mut current);
            (psi(&counts, &current), jensen_shannon(&counts, &current))
        })
    });
    group.bench_function("sort + ks + wasserstein_1", |b| {
        b.iter(|| {
            let mut current = black_box(&window).clone();
            current.sort_by(f32::total_cmp);
            (ks(&reference, &current), wasserstein_1(&reference, &current))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
