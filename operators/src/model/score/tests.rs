//! The event-time scorer against the kernels applied directly to the
//! time-sorted rows, for any batching, arrival order and cut.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use weir_kernels::{CpuBank, ModelBank, ModelSpec, Task};

use super::EventTimePredict;
use crate::drift::DetectorSpec;
use crate::model::{ModelState, Predict, Train};
use crate::model_drift::{ModelDriftSpec, OnDrift};
use crate::replay::{assert_restores, Step};
use crate::Operator;

/// Watermark delay of the steps: rows arrive up to 5 s out of order.
const BOUND: i64 = 6_000;

/// One labelled event: `(id, sensor, x1, x2, label, ts)`.
type Event = (i64, i64, f64, f64, bool, i64);

/// `n` events of three sensors, two per second (ties in time), whose
/// concept flips halfway.
fn events(n: i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let x1 = ((i * 7919) % 200) as f64 / 100.0 - 1.0;
            let x2 = ((i * 104_729) % 200) as f64 / 100.0 - 1.0;
            (i, i % 3, x1, x2, (x1 > 0.0) != (i >= n / 2), 1_000 * (i / 2))
        })
        .collect()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("sensor", DataType::Int64, false),
        Field::new("x1", DataType::Float64, false),
        Field::new("x2", DataType::Float64, false),
        Field::new("label", DataType::Boolean, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]))
}

fn scored_schema() -> SchemaRef {
    let mut fields: Vec<Field> = schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("prediction", DataType::Boolean, true));
    fields.push(Field::new("probability", DataType::Float64, true));
    Arc::new(Schema::new(fields))
}

fn batch(events: &[Event]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.0))),
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.1))),
            Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.2))),
            Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.3))),
            Arc::new(BooleanArray::from(events.iter().map(|e| e.4).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(events.iter().map(|e| e.5).collect::<Vec<_>>())),
        ],
    )
    .expect("batch")
}

/// The events in an arrival order up to 5 s late, `size` a batch: each
/// batch is scored and learned from (the two inputs in an order that
/// alternates), then the watermark moves to `BOUND` behind the newest.
fn steps(events: &[Event], size: usize, skew: i64) -> Vec<Step> {
    let mut arrival = events.to_vec();
    arrival.sort_by_key(|e| (e.5 + (e.0 * skew % 5) * 1_000, e.0));
    let mut steps = Vec::new();
    for (n, chunk) in arrival.chunks(size).enumerate() {
        let b = batch(chunk);
        let (first, second) = if n % 2 == 0 { (0, 1) } else { (1, 0) };
        steps.push(Step::Rows(first, b.clone()));
        steps.push(Step::Rows(second, b));
        let newest = chunk.iter().map(|e| e.5).max().unwrap_or(0);
        steps.push(Step::Watermark(newest - BOUND));
    }
    steps
}

fn spec() -> ModelSpec {
    ModelSpec::river_defaults(Task::Binary, 2)
}

/// A fresh scorer over a fresh model, per-key (`sensor`) or global.
fn make(keyed: bool, drift: Option<ModelDriftSpec>) -> impl Fn() -> Box<dyn Operator> {
    move || {
        let opened = weir_kernels::open_bank(spec(), None, weir_kernels::DeviceRequest::Cpu, keyed).expect("bank");
        let model = ModelState::new("m", opened.bank, opened.choice).with_drift(drift.clone()).shared();
        let key = keyed.then_some(1);
        let predict = Predict::new(Arc::clone(&model), key, vec![2, 3], scored_schema());
        let train = Train::new(model, key, vec![2, 3], 4);
        Box::new(EventTimePredict::new(predict, 5, train, 5))
    }
}

/// Each scored row's probability, by id.
fn probabilities(op: &dyn Fn() -> Box<dyn Operator>, steps: &[Step]) -> BTreeMap<i64, f64> {
    let mut op = op();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Rows(input, b) => op.process_input(*input, b.clone(), &mut out).expect("rows"),
            Step::Watermark(w) => op.on_watermark(*w, &mut out).expect("watermark"),
        }
    }
    op.finish(&mut out).expect("finish");
    let mut by_id = BTreeMap::new();
    for b in out.iter().filter(|b| b.schema() == scored_schema()) {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let p = b.column(7).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            assert!(by_id.insert(ids.value(r), p.value(r)).is_none(), "row {} scored twice", ids.value(r));
        }
    }
    by_id
}

/// The oracle: a CPU bank walking the events in time order, scoring every
/// row of a time and then learning that time's rows (ties by key, label
/// and features, as the operator orders them), one row per kernel call.
fn oracle(events: &[Event], keyed: bool) -> BTreeMap<i64, f64> {
    let mut bank = CpuBank::new(spec(), 1).expect("bank");
    let mut index: HashMap<i64, u32> = HashMap::new();
    let mut by_time: BTreeMap<i64, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_time.entry(e.5).or_default().push(*e);
    }
    let mut out = BTreeMap::new();
    let mut p = [0.0f32];
    for (_, mut rows) in by_time {
        let mut keys = Vec::new();
        for e in &rows {
            let next = index.len() as u32;
            let k = if keyed { *index.entry(e.1).or_insert(next) } else { 0 };
            bank.ensure_keys(k as usize + 1).expect("keys");
            keys.push(k);
        }
        for (e, k) in rows.iter().zip(&keys) {
            bank.predict(&[*k], &[e.2 as f32, e.3 as f32], &mut p).expect("predict");
            out.insert(e.0, f64::from(p[0]));
        }
        rows.sort_by(|a, b| {
            let key = |e: &Event| (if keyed { e.1 } else { 0 }, e.4);
            key(a).cmp(&key(b)).then(a.2.total_cmp(&b.2)).then(a.3.total_cmp(&b.3))
        });
        for e in &rows {
            let k = if keyed { index[&e.1] } else { 0 };
            bank.learn(&[k], &[e.2 as f32, e.3 as f32], &[f32::from(u8::from(e.4))], &mut p).expect("learn");
        }
    }
    out
}

#[test]
fn predictions_equal_the_kernels_applied_to_the_time_sorted_rows() {
    let events = events(600);
    for keyed in [true, false] {
        let expected = oracle(&events, keyed);
        assert_eq!(expected.len(), events.len());
        for (size, skew) in [(1, 0), (7, 31), (50, 17), (600, 3)] {
            let got = probabilities(&make(keyed, None), &steps(&events, size, skew));
            assert_eq!(got, expected, "keyed {keyed}, batches of {size}, skew {skew}");
        }
    }
}

#[test]
fn two_workers_predict_what_one_does() {
    // Keys split over two instances (as the keyed exchange does) give the
    // single instance's predictions: each key's model sees only its rows.
    let events = events(300);
    let whole = probabilities(&make(true, None), &steps(&events, 11, 7));
    let mut split = BTreeMap::new();
    for worker in 0..2 {
        let mine: Vec<Event> = events.iter().copied().filter(|e| (e.1 % 2) == worker).collect();
        split.extend(probabilities(&make(true, None), &steps(&mine, 5, 13)));
    }
    assert_eq!(split, whole);
}

#[test]
fn a_scorer_restores_as_if_it_had_never_stopped() {
    let steps = steps(&events(240), 20, 31);
    let ddm = DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 };
    for keyed in [false, true] {
        assert_restores(&make(keyed, None), &steps);
        for on_drift in [OnDrift::None, OnDrift::Reset, OnDrift::Background] {
            assert_restores(&make(keyed, Some(ModelDriftSpec { detector: ddm.clone(), on_drift })), &steps);
        }
    }
}

#[test]
fn an_adapting_model_predicts_the_same_for_any_batching() {
    let events = events(600);
    let ddm = DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 };
    for on_drift in [OnDrift::Reset, OnDrift::Background] {
        let drift = Some(ModelDriftSpec { detector: ddm.clone(), on_drift });
        let one = probabilities(&make(true, drift.clone()), &steps(&events, 1, 0));
        let many = probabilities(&make(true, drift.clone()), &steps(&events, 64, 29));
        assert_eq!(one, many, "{on_drift:?}");
        assert_eq!(one.len(), events.len());
    }
}

#[test]
fn a_row_without_a_time_is_scored_and_learned_first() {
    let fields = schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>();
    let nullable = Arc::new(Schema::new(fields));
    let mut scored: Vec<Field> = nullable.fields().iter().map(|f| f.as_ref().clone()).collect();
    scored.push(Field::new("prediction", DataType::Boolean, true));
    scored.push(Field::new("probability", DataType::Float64, true));
    let scored = Arc::new(Schema::new(scored));
    let opened = weir_kernels::open_bank(spec(), None, weir_kernels::DeviceRequest::Cpu, false).expect("bank");
    let model = ModelState::new("m", opened.bank, opened.choice).shared();
    let predict = Predict::new(Arc::clone(&model), None, vec![2, 3], Arc::clone(&scored));
    let mut op = EventTimePredict::new(predict, 5, Train::new(model, None, vec![2, 3], 4), 5);
    let rows = RecordBatch::try_new(
        nullable,
        vec![
            Arc::new(Int64Array::from(vec![0, 1])),
            Arc::new(Int64Array::from(vec![0, 0])),
            Arc::new(Float64Array::from(vec![1.0, 1.0])),
            Arc::new(Float64Array::from(vec![1.0, 1.0])),
            Arc::new(BooleanArray::from(vec![true, true])),
            Arc::new(TimestampMillisecondArray::from(vec![None, Some(5_000)])),
        ],
    )
    .expect("batch");
    let mut out = Vec::new();
    op.process_input(0, rows.clone(), &mut out).expect("scored");
    op.process_input(1, rows, &mut out).expect("learned");
    assert_eq!(op.held_rows(), Some(4));
    op.on_watermark(1_000, &mut out).expect("watermark");
    // The NULL-time row is scored and learned at once; the other waits.
    assert_eq!(op.held_rows(), Some(2));
    op.finish(&mut out).expect("finish");
    let p: Vec<(i64, f64)> = out
        .iter()
        .filter(|b| b.schema() == scored)
        .flat_map(|b| {
            let ids = b.column(0).as_primitive::<Int64Type>().clone();
            let p = b.column(7).as_primitive::<Float64Type>().clone();
            (0..b.num_rows()).map(move |r| (ids.value(r), p.value(r)))
        })
        .collect();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0], (0, 0.5), "scored before anything was learned");
    assert!(p[1].0 == 1 && p[1].1 > 0.5, "scored after the NULL-time row's label: {p:?}");
    assert!(op.process_input(2, batch(&[]), &mut out).is_err(), "a third input is refused");
}
