#![allow(missing_docs)]
//! Criterion benches of the drift monitors as operators: rows per second
//! through `CREATE MONITOR` with a point detector (ADWIN, KSWIN) and a
//! windowed PSI monitor, per key over 100 sensors, on 8,192-row batches of
//! (sensor, time, speed) — what the engine adds to the detectors (keys,
//! Arrow columns, alert rows). Run with `cargo bench --workspace --bench
//! monitors`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_kernels::DeviceRequest;
use weir_operators::Operator;
use weir_operators::arrow::array::{Array, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use weir_operators::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use weir_operators::drift::{DetectorSpec, DriftMonitor, ReferenceSpec, WindowMethod, WindowSpec, WindowedMonitor};

const ROWS: usize = 8192;
const SENSORS: i64 = 100;

/// Batches of readings, one per sensor per second from `first` on.
fn batches(n: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("speed", DataType::Float64, false),
    ]));
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|b| {
            let rows = (b * ROWS)..((b + 1) * ROWS);
            let sensors: Int64Array = rows.clone().map(|i| i as i64 % SENSORS).collect();
            let ts = TimestampMillisecondArray::from(rows.clone().map(|i| (i as i64 / SENSORS) * 1000).collect::<Vec<i64>>());
            let speed: Float64Array = rows
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    50.0 + 20.0 * ((s >> 11) as f64 / (1u64 << 53) as f64)
                })
                .collect();
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(sensors), Arc::new(ts), Arc::new(speed)]).expect("batch")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let input = batches(16);
    let mut group = c.benchmark_group("monitors, 100 keys, 8192-row batches");
    group.throughput(Throughput::Elements((input.len() * ROWS) as u64));
    let columns = vec![(2, "speed".to_string())];
    let point = |name: &str, spec: DetectorSpec| -> Box<dyn Operator> { Box::new(DriftMonitor::new(name, spec, Some(0), columns.clone(), Some(1))) };
    let adwin = DetectorSpec::Adwin { delta: 0.002, clock: 32, max_buckets: 5, min_window_length: 5, grace_period: 10 };
    let kswin = DetectorSpec::Kswin { alpha: 0.005, window_size: 100, stat_size: 30, seed: 42 };
    let windowed = || -> Box<dyn Operator> {
        let spec = WindowSpec {
            method: WindowMethod::Psi,
            reference: ReferenceSpec::Rows(200),
            window_ms: 60_000,
            slide_ms: 60_000,
            threshold: 0.25,
            device: DeviceRequest::Cpu,
        };
        Box::new(WindowedMonitor::new("psi", spec, Some(0), columns.clone(), 1))
    };
    type Case<'a> = (&'static str, Box<dyn Fn() -> Box<dyn Operator> + 'a>);
    let cases: Vec<Case> = vec![
        ("adwin", Box::new(move || point("adwin", adwin.clone()))),
        ("kswin", Box::new(move || point("kswin", kswin.clone()))),
        ("psi, 1-minute windows", Box::new(windowed)),
    ];
    for (name, make) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut op = make();
                let mut out = Vec::new();
                for batch in &input {
                    let _ = op.process(batch.clone(), &mut out);
                    let last = batch.column(1).as_any().downcast_ref::<TimestampMillisecondArray>().map_or(0, |t| t.value(t.len() - 1));
                    let _ = op.on_watermark(last, &mut out);
                }
                let _ = op.finish(&mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
