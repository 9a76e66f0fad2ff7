#![allow(missing_docs)]
//! Criterion benches of the stateless operators on one 8192-row batch:
//! a filter at high and low selectivity, and a projection with arithmetic and
//! CASE. Run with `cargo bench -p weir-operators`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::Operator as BinOp;
use datafusion::physical_expr::expressions::{col, lit, BinaryExpr, CaseExpr};
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::{Filter, Operator, Project};

const ROWS: usize = 8192;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("speed", DataType::Float64, false),
        Field::new("occupancy", DataType::Float64, false),
    ]));
    let ids = Int64Array::from_iter_values((0..ROWS as i64).map(|i| i % 100));
    let speed = Float64Array::from_iter_values((0..ROWS).map(|i| (i * 37 % 130) as f64));
    let occ = Float64Array::from_iter_values((0..ROWS).map(|i| (i * 13 % 100) as f64 / 100.0));
    RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(speed), Arc::new(occ)]).expect("batch")
}

fn bench(c: &mut Criterion) {
    let input = batch();
    let schema = input.schema();
    let mut group = c.benchmark_group("stateless 8192 rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, threshold) in [("filter speed > x, 90% selected", 13.0), ("filter speed > x, 10% selected", 117.0)] {
        let predicate: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(col("speed", &schema).expect("col"), BinOp::Gt, lit(threshold)));
        let mut filter = Filter::new(predicate);
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                filter.process(black_box(input.clone()), &mut out).expect("filter");
                out.clear();
            })
        });
    }
    let mph: Arc<dyn PhysicalExpr> =
        Arc::new(BinaryExpr::new(col("speed", &schema).expect("col"), BinOp::Multiply, lit(0.621371)));
    let level: Arc<dyn PhysicalExpr> = Arc::new(
        CaseExpr::try_new(
            None,
            vec![(
                Arc::new(BinaryExpr::new(col("occupancy", &schema).expect("col"), BinOp::Gt, lit(0.3))) as _,
                lit("jam"),
            )],
            Some(lit("flow")),
        )
        .expect("case"),
    );
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("speed_mph", DataType::Float64, false),
        Field::new("level", DataType::Utf8, true),
    ]));
    let mut project = Project::new(vec![col("sensor_id", &schema).expect("col"), mph, level], out_schema);
    let mut out = Vec::new();
    group.bench_function("project column, arithmetic, CASE", |b| {
        b.iter(|| {
            project.process(black_box(input.clone()), &mut out).expect("project");
            out.clear();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
