#![allow(missing_docs)]
//! Criterion benches of the drift detectors: updates per second of ADWIN,
//! Page-Hinkley and DDM over 100,000 values with a change in the middle.
//! With `WEIR_DRIFT_SEQ=FILE` (one value per line, as benches/drift.sh
//! writes) the values are read from FILE, so River can be timed on the same
//! sequence. Run with `cargo bench --workspace --bench detectors`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_operators::drift::{Adwin, Ddm, DriftDetector, PageHinkley};

fn values() -> Vec<f64> {
    if let Ok(path) = std::env::var("WEIR_DRIFT_SEQ") {
        let text = std::fs::read_to_string(&path).expect("WEIR_DRIFT_SEQ file");
        return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    }
    // 0/1 errors at rate 0.2, then 0.6 (deterministic xorshift).
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..100_000)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            f64::from(u8::from(u < if i < 50_000 { 0.2 } else { 0.6 }))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let xs = values();
    let mut group = c.benchmark_group("drift detectors");
    group.throughput(Throughput::Elements(xs.len() as u64));
    let mut run = |name: &str, make: &dyn Fn() -> Box<dyn DriftDetector>| {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut d = make();
                let mut fired = 0usize;
                for &x in &xs {
                    fired += usize::from(d.update(black_box(x)) == weir_operators::drift::State::Drift);
                }
                fired
            })
        });
    };
    run("adwin", &|| Box::new(Adwin::default()));
    run("page_hinkley", &|| Box::new(PageHinkley::default()));
    run("ddm", &|| Box::new(Ddm::default()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
