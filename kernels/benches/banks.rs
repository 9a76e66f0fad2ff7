#![allow(missing_docs)]
//! Criterion benches of the linear-model banks: prequential learning
//! (score, then update) and scoring of 8192-row batches of logistic
//! regression with 8 and 32 features, for one global model and a
//! 10,000-key bank with skewed keys, on the CPU backend and, when a GPU is
//! usable, the CUDA backend. Run with `cargo bench -p weir-kernels`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_kernels::{CpuBank, LinearBank, LinearSpec, Optimizer, Task};

const ROWS: usize = 8192;

/// Keys skewed like real sensors (a few busy, most quiet), features in
/// [-1, 1), labels 0/1; deterministic.
fn batch(n_features: usize, n_keys: usize) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let keys = (0..ROWS).map(|_| (n_keys as f32 * unit().powi(3)) as u32 % n_keys as u32).collect();
    let rows = (0..ROWS * n_features).map(|_| 2.0 * unit() - 1.0).collect();
    let labels = (0..ROWS).map(|_| f32::from(u8::from(unit() < 0.5))).collect();
    (keys, rows, labels)
}

fn banks(spec: LinearSpec, n_keys: usize) -> Vec<Box<dyn LinearBank>> {
    let mut out: Vec<Box<dyn LinearBank>> = vec![Box::new(CpuBank::new(spec, n_keys))];
    #[cfg(feature = "cuda")]
    match weir_kernels::cuda::CudaBank::new(spec, n_keys, 0) {
        Ok(bank) => out.push(Box::new(bank)),
        Err(e) => eprintln!("cuda benches skipped: {e}"),
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("logistic bank, 8192 rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    for n_features in [8, 32] {
        for n_keys in [1, 10_000] {
            let spec = LinearSpec {
                optimizer: Optimizer::Sgd { lr: 0.01 },
                scale: true,
                ..LinearSpec::river_defaults(Task::Binary, n_features)
            };
            let (keys, rows, labels) = batch(n_features, n_keys);
            let mut out = vec![0.0f32; ROWS];
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
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
