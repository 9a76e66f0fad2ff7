#![allow(missing_docs)]
//! Criterion benches of the linear-model banks: prequential learning
//! (score, then update) and scoring of 8192-row batches of logistic
//! regression with 8 and 32 features, for one global model and a
//! 10,000-key bank with skewed keys (and softmax and MLP banks), plus
//! 131,072-row batches over 100,000 keys, on the CPU backend and, when a
//! GPU is usable, the CUDA backend. Run with `cargo bench -p weir-kernels`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_kernels::{CpuBank, KeyGroups, ModelBank, ModelSpec, Optimizer, Task};

const ROWS: usize = 8192;
/// A batch big enough to fill a GPU: a busy stream's second, or a backfill.
const LARGE_ROWS: usize = 1 << 17;

/// Keys skewed like real sensors (a few busy, most quiet), features in
/// [-1, 1), labels 0/1; deterministic.
fn batch(rows: usize, n_features: usize, n_keys: usize) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let keys = (0..rows).map(|_| (n_keys as f32 * unit().powi(3)) as u32 % n_keys as u32).collect();
    let values = (0..rows * n_features).map(|_| 2.0 * unit() - 1.0).collect();
    let labels = (0..rows).map(|_| f32::from(u8::from(unit() < 0.5))).collect();
    (keys, values, labels)
}

fn banks(spec: ModelSpec, n_keys: usize) -> Vec<Box<dyn ModelBank>> {
    let mut out: Vec<Box<dyn ModelBank>> = match CpuBank::new(spec, n_keys) {
        Ok(bank) => vec![Box::new(bank)],
        Err(e) => panic!("bench spec rejected: {e}"),
    };
    #[cfg(feature = "cuda")]
    match weir_kernels::cuda::CudaBank::new(spec, n_keys, 0) {
        Ok(bank) => out.push(Box::new(bank)),
        Err(e) => eprintln!("cuda benches skipped: {e}"),
    }
    out
}

/// Learns and scores one batch of every model kind the benches cover.
fn run(c: &mut Criterion, name: &str, spec: ModelSpec, n_rows: usize, sizes: &[(usize, usize)]) {
    let mut group = c.benchmark_group(format!("{name}, {n_rows} rows"));
    group.throughput(Throughput::Elements(n_rows as u64));
    for &(n_features, n_keys) in sizes {
        let spec = ModelSpec { n_features, ..spec };
        let (keys, rows, labels) = batch(n_rows, n_features, n_keys);
        let mut out = vec![0.0f32; n_rows * spec.n_outputs()];
        for mut bank in banks(spec, n_keys) {
            let device = bank.device();
            group.bench_function(format!("learn {device} {n_features} features {n_keys} keys"), |b| {
                b.iter(|| bank.learn(black_box(&keys), black_box(&rows), black_box(&labels), &mut out))
            });
            group.bench_function(format!("predict {device} {n_features} features {n_keys} keys"), |b| {
                b.iter(|| bank.predict(black_box(&keys), black_box(&rows), &mut out))
            });
        }
    }
    group.finish();
}

/// The host's share of a GPU learning batch: grouping the rows by key,
/// against the stable comparison sort that did it before (the baseline).
fn key_groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("key groups");
    for (n_rows, n_keys) in [(ROWS, 10_000), (LARGE_ROWS, 100_000)] {
        let (keys, _, _) = batch(n_rows, 1, n_keys);
        group.throughput(Throughput::Elements(n_rows as u64));
        group.bench_function(format!("counting sort {n_rows} rows {n_keys} keys"), |b| {
            b.iter(|| KeyGroups::new(black_box(&keys)))
        });
        group.bench_function(format!("comparison sort {n_rows} rows {n_keys} keys"), |b| {
            b.iter(|| {
                let keys = black_box(&keys);
                let mut order: Vec<u32> = (0..keys.len() as u32).collect();
                order.sort_by_key(|&r| keys[r as usize]);
                order
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let logistic =
        ModelSpec { optimizer: Optimizer::Sgd { lr: 0.01 }, scale: true, ..ModelSpec::river_defaults(Task::Binary, 8) };
    run(c, "logistic bank", logistic, ROWS, &[(8, 1), (8, 10_000), (32, 1), (32, 10_000)]);
    // Labels are 0 or 1, valid classes of a three-class model.
    let softmax = ModelSpec { task: Task::Multiclass { classes: 3 }, ..logistic };
    run(c, "softmax bank (3 classes)", softmax, ROWS, &[(8, 1), (8, 10_000)]);
    let adam = Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let mlp = ModelSpec { hidden: [16, 0], optimizer: adam, ..logistic };
    run(c, "mlp bank (16 hidden)", mlp, ROWS, &[(8, 1), (8, 10_000)]);
    // Where a GPU earns its keep: many keys, each learning its own rows.
    run(c, "large logistic bank", logistic, LARGE_ROWS, &[(32, 100_000)]);
    run(c, "large mlp bank (16 hidden)", mlp, LARGE_ROWS, &[(32, 100_000)]);
}

criterion_group!(benches, key_groups, bench);
criterion_main!(benches);
