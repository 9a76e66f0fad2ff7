#![allow(missing_docs)]
//! Feature-drift statistics: a 10,000-value reference against a 5,000-value
//! window of one feature (report throughput as window values per second;
//! features × rows per second is this times the features monitored), and
//! many windows binned at once (1,000 keys × 16 features of 64 values, and
//! 100 windows of 10,240 values) with PSI from the counts, on the CPU and,
//! when a GPU is usable, with CUDA.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_kernels::histograms::{CpuHistogrammer, Histogrammer, Histograms};
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
    many_windows(c);
}

fn histogrammers() -> Vec<Box<dyn Histogrammer>> {
    let mut out: Vec<Box<dyn Histogrammer>> = vec![Box::new(CpuHistogrammer)];
    #[cfg(feature = "cuda")]
    match weir_kernels::cuda::CudaHistogrammer::new(0) {
        Ok(h) => out.push(Box::new(h)),
        Err(e) => eprintln!("cuda benches skipped: {e}"),
    }
    out
}

/// What a per-key monitor does when the watermark closes many windows:
/// bin all of them, then PSI of each against its reference counts.
fn many_windows(c: &mut Criterion) {
    for (n_windows, per_window) in [(16_000, 64), (100, 10_240)] {
        let mut windows = Histograms::default();
        let mut reference_counts = Vec::new();
        for g in 0..n_windows {
            let reference = values(1_000, 0.0, g as u64);
            let edges = quantile_edges(&reference, 10).unwrap_or_default();
            let mut counts = vec![0u64; edges.len() + 1];
            let _ = histogram(&reference, &edges, &mut counts);
            reference_counts.push(counts);
            let _ = windows.push(&values(per_window, 0.05, 1_000_000 + g as u64), &edges);
        }
        let mut group = c.benchmark_group(format!("feature drift, {n_windows} windows of {per_window} values"));
        group.throughput(Throughput::Elements((n_windows * per_window) as u64));
        for mut h in histogrammers() {
            let mut counts = vec![0u64; windows.n_bins()];
            group.bench_function(format!("histograms + psi {}", h.device()), |b| {
                b.iter(|| {
                    let _ = h.count(black_box(&windows), &mut counts);
                    (0..windows.len()).map(|g| psi(&reference_counts[g], &counts[windows.bins(g)]).unwrap_or(0.0)).sum::<f64>()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
