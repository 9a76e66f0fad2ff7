#![allow(missing_docs)]
//! Criterion bench of the interval join: two inputs of 64k rows each (100
//! keys, one row per key per second of event time, the right input 3 s
//! later), in batches of 1024, the watermark following both, every left row
//! pairing with one right row within [0, 10 s]. Beside it in the same run,
//! the filter of the stateless bench over the same rows, as the cost of
//! touching every row once. Run with `cargo bench --bench joins`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::Operator as BinOp;
use datafusion::physical_expr::expressions::{col, lit, BinaryExpr, Column};
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::join::{IntervalJoin, IntervalJoinSpec, JoinKind};
use weir_operators::{Filter, Operator};

const ROWS: i64 = 65_536;
const BATCH: i64 = 1024;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]))
}

/// Rows `from..to` of one input: key `i % keys`, time `i * 10 ms + shift`.
fn batch(from: i64, to: i64, shift: i64, keys: i64) -> RecordBatch {
    let k = Int64Array::from_iter_values((from..to).map(|i| i % keys));
    let ts = TimestampMillisecondArray::from_iter_values((from..to).map(|i| i * 10 + shift));
    RecordBatch::try_new(schema(), vec![Arc::new(k), Arc::new(ts)]).expect("batch")
}

fn join() -> IntervalJoin {
    let mut fields: Vec<Field> = schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(fields.clone());
    let key = || vec![Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>];
    IntervalJoin::new(IntervalJoinSpec {
        kind: JoinKind::Inner,
        keys: [key(), key()],
        time: [Some(1), Some(1)],
        lower_ms: 0,
        upper_ms: 10_000,
        filter: None,
        table: None,
        inputs: [schema(), schema()],
        schema: Arc::new(Schema::new(fields)),
    })
    .expect("join")
}

fn bench(c: &mut Criterion) {
    let inputs = |keys: i64| -> Vec<(RecordBatch, RecordBatch)> {
        (0..ROWS / BATCH).map(|b| (batch(b * BATCH, (b + 1) * BATCH, 0, keys), batch(b * BATCH, (b + 1) * BATCH, 3000, keys))).collect()
    };
    let mut group = c.benchmark_group("interval join, 2 x 65536 rows");
    group.throughput(Throughput::Elements(2 * ROWS as u64));
    group.sample_size(10);
    // 100 keys: about 13 rows held per key; every key distinct: one row per
    // key, as when labels join readings on (sensor, reading time).
    for (name, keys) in [("inner join within [0, 10 s], 100 keys", 100), ("inner join within [0, 10 s], a key per row", ROWS)] {
        let batches = inputs(keys);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut op = join();
                let mut out = Vec::new();
                let mut pairs = 0;
                for (i, (left, right)) in batches.iter().enumerate() {
                    op.process_input(0, left.clone(), &mut out).expect("left");
                    op.process_input(1, right.clone(), &mut out).expect("right");
                    op.on_watermark((i as i64 + 1) * BATCH * 10 - 1, &mut out).expect("watermark");
                    pairs += out.drain(..).map(|b| b.num_rows()).sum::<usize>();
                }
                black_box(pairs)
            })
        });
    }
    let batches = inputs(100);
    let predicate: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(col("k", &schema()).expect("col"), BinOp::Gt, lit(50i64)));
    group.bench_function("baseline: filter k > 50 over the same batches", |b| {
        let mut filter = Filter::new(Arc::clone(&predicate));
        b.iter(|| {
            let mut out = Vec::new();
            for (left, right) in &batches {
                filter.process(left.clone(), &mut out).expect("left");
                filter.process(right.clone(), &mut out).expect("right");
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
