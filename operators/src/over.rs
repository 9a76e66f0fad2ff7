//! Per-key features over the event-time-ordered stream: `LAG` and running
//! aggregates `OVER (PARTITION BY key ORDER BY ts ROWS|RANGE ... PRECEDING)`.
//!
//! Rows arrive out of order (within the watermark's bound), so they are
//! held until the watermark passes their event time, then processed per key
//! in event-time order, and emitted with their features appended, as Flink
//! does for `OVER` windows. Each key keeps only what its frames need: the
//! last `n` values for `LAG(x, n)` and `ROWS n PRECEDING`, the rows of the
//! last interval for `RANGE INTERVAL ... PRECEDING`, or one accumulator for
//! an unbounded frame. Frames slide with DataFusion's retractable
//! accumulators (`retract_batch`), so every DataFusion aggregate that can
//! slide can be used.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;

use crate::codec::{write_batch, write_i64, Reader};
use crate::window::{as_millis, millis};
use crate::{Operator, OperatorError, Result, StateSnapshot};

const NAME: &str = "over";
/// The encoding of [`OverAggregate`]'s snapshots.
const SNAPSHOT_VERSION: u32 = 1;

/// Which rows before the current one a running aggregate sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: unbounded).
    Rows(Option<u64>),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`, in
    /// milliseconds (`None`: unbounded); rows with the same time are peers
    /// and see each other.
    Range(Option<i64>),
}

impl std::fmt::Display for OverFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverFrame::Rows(None) => write!(f, "rows unbounded preceding"),
            OverFrame::Rows(Some(n)) => write!(f, "rows {n} preceding"),
            OverFrame::Range(None) => write!(f, "range unbounded preceding"),
            OverFrame::Range(Some(ms)) => write!(f, "range {} preceding", crate::window::duration(*ms)),
        }
    }
}

/// One function of the `SELECT` list computed over the ordered stream.
#[derive(Debug, Clone)]
pub enum OverFunction {
    /// `LAG(arg, offset, default)`.
    Lag {
        /// The value looked back at.
        arg: Arc<dyn PhysicalExpr>,
        /// How many rows back (at least 1).
        offset: usize,
        /// The value while there are fewer rows, evaluated on the current
        /// row (`LAG(x, 1, x)`); `None`: `null`.
        default: Option<Arc<dyn PhysicalExpr>>,
        /// A NULL of the argument's type.
        null: ScalarValue,
    },
    /// An aggregate over a frame.
    Aggregate {
        /// DataFusion's aggregate.
        expr: Arc<AggregateFunctionExpr>,
        /// Its frame.
        frame: OverFrame,
    },
}

enum State {
    Lag(VecDeque<ScalarValue>),
    Frame { accumulator: Box<dyn Accumulator>, rows: VecDeque<(i64, Vec<ScalarValue>)> },
}

/// `LAG` and running aggregates per key, in event-time order.
///
/// The output is the input's columns followed by one column per function.
pub struct OverAggregate {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    time: usize,
    functions: Vec<OverFunction>,
    input: SchemaRef,
    schema: SchemaRef,
    converter: Option<RowConverter>,
    pending: Vec<RecordBatch>,
    state: HashMap<Box<[u8]>, Vec<State>>,
    watermark: i64,
}

impl std::fmt::Debug for OverAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverAggregate").field("functions", &self.functions.len()).field("keys", &self.state.len()).finish_non_exhaustive()
    }
}

fn failed(name: &str) -> impl Fn(datafusion::error::DataFusionError) -> OperatorError + '_ {
    move |source| OperatorError::Aggregate { aggregate: name.to_string(), source }
}

fn arrow(source: datafusion::arrow::error::ArrowError) -> OperatorError {
    OperatorError::Arrow { operator: NAME.into(), source }
}

impl OverAggregate {
    /// Computes `functions` per value of `keys`, ordered by the time column
    /// at index `time` of `input`; `schema` is the output.
    pub fn new(
        keys: Vec<Arc<dyn PhysicalExpr>>,
        time: usize,
        functions: Vec<OverFunction>,
        input: SchemaRef,
        schema: SchemaRef,
    ) -> Result<Self> {
        let converter = if keys.is_empty() {
            None
        } else {
            let fields = keys
                .iter()
                .map(|k| k.data_type(&input).map(SortField::new))
                .collect::<datafusion::error::Result<Vec<_>>>()
                .map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })?;
            Some(RowConverter::new(fields).map_err(arrow)?)
        };
        Ok(Self { keys, time, functions, input, schema, converter, pending: Vec::new(), state: HashMap::new(), watermark: i64::MIN })
    }

    fn fresh_state(&self) -> Result<Vec<State>> {
        self.functions
            .iter()
            .map(|f| match f {
                OverFunction::Lag { .. } => Ok(State::Lag(VecDeque::new())),
                OverFunction::Aggregate { expr, frame } => {
                    let bounded = matches!(frame, OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_)));
                    let accumulator = if bounded { expr.create_sliding_accumulator() } else { expr.create_accumulator() }
                        .map_err(failed(expr.name()))?;
                    Ok(State::Frame { accumulator, rows: VecDeque::new() })
                }
            })
            .collect()
    }

    /// Processes and emits every held row at or before `limit` (all rows
    /// with `None`).
    fn emit(&mut self, limit: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let all = concat_batches(&self.input, &self.pending).map_err(arrow)?;
        self.pending.clear();
        let times = millis(all.column(self.time), NAME)?;
        let times = as_millis(&times);
        let (ready, rest): (Vec<u32>, Vec<u32>) =
            (0..all.num_rows() as u32).partition(|&i| limit.is_none_or(|l| times[i as usize] <= l));
        if !rest.is_empty() {
            self.pending.push(take_record_batch(&all, &UInt32Array::from(rest)).map_err(arrow)?);
        }
        if ready.is_empty() {
            return Ok(());
        }
        let batch = take_record_batch(&all, &UInt32Array::from(ready)).map_err(arrow)?;
        let rows = batch.num_rows();
        let eval = |e: &Arc<dyn PhysicalExpr>| {
            e.evaluate(&batch)
                .and_then(|v| v.into_array(rows))
                .map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
        };
        let keys = self.keys.iter().map(eval).collect::<Result<Vec<_>>>()?;
        let key_rows = match &self.converter {
            Some(c) => Some(c.convert_columns(&keys).map_err(arrow)?),
            None => None,
        };
        let key = |i: usize| -> &[u8] { key_rows.as_ref().map_or(&[][..], |r| r.row(i).data()) };
        let args: Vec<Vec<ArrayRef>> = self
            .functions
            .iter()
            .map(|f| match f {
                OverFunction::Lag { arg, default, .. } => {
                    let mut columns = vec![eval(arg)?];
                    if let Some(d) = default {
                        columns.push(eval(d)?);
                    }
                    Ok(columns)
                }
                OverFunction::Aggregate { expr, .. } => expr.expressions().iter().map(eval).collect(),
            })
            .collect::<Result<_>>()?;
        let times = millis(batch.column(self.time), NAME)?;
        let times = as_millis(&times);
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_by(|&a, &b| key(a as usize).cmp(key(b as usize)).then(times[a as usize].cmp(&times[b as usize])).then(a.cmp(&b)));

        let mut results: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(rows); self.functions.len()];
        let mut start = 0;
        while start < order.len() {
            let first = order[start] as usize;
            let mut end = start + 1;
            while end < order.len() && key(order[end] as usize) == key(first) && times[order[end] as usize] == times[first] {
                end += 1;
            }
            let peers = &order[start..end];
            let t = times[first];
            if !self.state.contains_key(key(first)) {
                let fresh = self.fresh_state()?;
                self.state.insert(key(first).into(), fresh);
            }
            let Some(states) = self.state.get_mut(key(first)) else { continue };
            for (f, ((function, state), args)) in self.functions.iter().zip(states.iter_mut()).zip(&args).enumerate() {
                peer_values(function, state, args, peers, t, &mut results[f])?;
            }
            start = end;
        }

        let indices = UInt32Array::from(order);
        let mut columns: Vec<ArrayRef> =
            batch.columns().iter().map(|c| take(c.as_ref(), &indices, None)).collect::<Result<_, _>>().map_err(arrow)?;
        for (values, field) in results.into_iter().zip(self.schema.fields().iter().skip(batch.num_columns())) {
            let array = ScalarValue::iter_to_array(values).map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })?;
            columns.push(if array.data_type() == field.data_type() { array } else { cast(&array, field.data_type()).map_err(arrow)? });
        }
        out.push(RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(arrow)?);
        Ok(())
    }
}

/// Computes one function for a group of peers (same key and time, in
/// arrival order), appending one value per peer to `values`.
fn peer_values(
    function: &OverFunction,
    state: &mut State,
    args: &[ArrayRef],
    peers: &[u32],
    t: i64,
    values: &mut Vec<ScalarValue>,
) -> Result<()> {
    let scalar = |a: &ArrayRef, i: u32| {
        ScalarValue::try_from_array(a, i as usize).map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
    };
    match (function, state) {
        (OverFunction::Lag { offset, null, .. }, State::Lag(history)) => {
            for &i in peers {
                values.push(if history.len() >= *offset {
                    history[history.len() - offset].clone()
                } else if let Some(default) = args.get(1) {
                    scalar(default, i)?
                } else {
                    null.clone()
                });
                history.push_back(scalar(&args[0], i)?);
                if history.len() > *offset {
                    history.pop_front();
                }
            }
        }
        (OverFunction::Aggregate { expr, frame }, State::Frame { accumulator, rows }) => {
            let name = expr.name();
            let bounded = matches!(frame, OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_)));
            let add = |i: u32, accumulator: &mut Box<dyn Accumulator>, rows: &mut VecDeque<(i64, Vec<ScalarValue>)>| -> Result<()> {
                let one: Vec<ArrayRef> = args.iter().map(|a| a.slice(i as usize, 1)).collect();
                accumulator.update_batch(&one).map_err(failed(name))?;
                if bounded {
                    rows.push_back((t, args.iter().map(|a| scalar(a, i)).collect::<Result<_>>()?));
                }
                Ok(())
            };
            let retract = |accumulator: &mut Box<dyn Accumulator>, row: (i64, Vec<ScalarValue>)| -> Result<()> {
                let arrays = row.1.iter().map(ScalarValue::to_array).collect::<Result<Vec<_>, _>>().map_err(failed(name))?;
                accumulator.retract_batch(&arrays).map_err(failed(name))
            };
            match frame {
                OverFrame::Rows(preceding) => {
                    for &i in peers {
                        add(i, accumulator, rows)?;
                        if let Some(n) = preceding {
                            while rows.len() as u64 > n + 1 {
                                if let Some(old) = rows.pop_front() {
                                    retract(accumulator, old)?;
                                }
                            }
                        }
                        values.push(accumulator.evaluate().map_err(failed(name))?);
                    }
                }
                OverFrame::Range(preceding) => {
                    for &i in peers {
                        add(i, accumulator, rows)?;
                    }
                    if let Some(p) = preceding {
                        while rows.front().is_some_and(|(ts, _)| *ts < t.saturating_sub(*p)) {
                            if let Some(old) = rows.pop_front() {
                                retract(accumulator, old)?;
                            }
                        }
                    }
                    let value = accumulator.evaluate().map_err(failed(name))?;
                    values.extend(std::iter::repeat_n(value, peers.len()));
                }
            }
        }
        _ => {
            return Err(OperatorError::Snapshot { operator: NAME.into(), reason: "function and state disagree".into() });
        }
    }
    Ok(())
}

impl Operator for OverAggregate {
    fn name(&self) -> &str {
        NAME
    }

    fn process(&mut self, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        if batch.num_rows() > 0 {
            self.pending.push(batch);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        self.emit(Some(watermark), out)
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.emit(None, out)
    }

    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        self.save().map(Some)
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        self.load(&snapshot)
    }

    fn retained(&self) -> Option<i64> {
        // Rows wait for the watermark to pass them; every row held arrived
        // ahead of it (behind it, it would have been marked late).
        (!self.pending.is_empty()).then(|| self.watermark.saturating_add(1))
    }
}

/// A column of `values`, of `data_type` when there are none.
fn column(values: Vec<ScalarValue>, data_type: &datafusion::arrow::datatypes::DataType) -> Result<ArrayRef> {
    if values.is_empty() {
        return Ok(datafusion::arrow::array::new_empty_array(data_type));
    }
    ScalarValue::iter_to_array(values).map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
}

/// Whether a frame's accumulator is rebuilt from the frame's rows on
/// restore rather than from its state: the sliding `MIN` and `MAX` keep
/// every value of the frame internally, but their state is one value.
/// (Both are exact either way; sums are restored from their state, so
/// that floating-point sums stay bit for bit what they were.)
fn rebuilt_from_rows(expr: &AggregateFunctionExpr, frame: &OverFrame) -> bool {
    let bounded = matches!(frame, OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_)));
    bounded && matches!(expr.fun().name(), "min" | "max")
}

impl OverAggregate {
    /// The held rows, then the keys (as columns), then per function the
    /// state of every key: `LAG`'s history, a frame's rows and its
    /// accumulator's state, each as one batch with the key's index first.
    fn save(&mut self) -> Result<StateSnapshot> {
        let mut bytes = Vec::new();
        write_i64(&mut bytes, self.watermark);
        write_batch(&mut bytes, concat_batches(&self.input, &self.pending).map_err(arrow)?)?;
        let keys: Vec<Box<[u8]>> = self.state.keys().cloned().collect();
        let key_columns = match &self.converter {
            Some(c) => {
                let parser = c.parser();
                c.convert_rows(keys.iter().map(|k| parser.parse(k))).map_err(arrow)?
            }
            None => Vec::new(),
        };
        write_batch(&mut bytes, crate::codec::state_batch(NAME, key_columns, keys.len())?)?;
        for (f, function) in self.functions.iter().enumerate() {
            let mut index = Vec::new();
            match function {
                OverFunction::Lag { null, .. } => {
                    let mut values = Vec::new();
                    for (k, key) in keys.iter().enumerate() {
                        if let Some(State::Lag(history)) = self.state.get(key).and_then(|s| s.get(f)) {
                            index.extend(std::iter::repeat_n(k as u32, history.len()));
                            values.extend(history.iter().cloned());
                        }
                    }
                    let n = index.len();
                    write_batch(&mut bytes, crate::codec::state_batch(NAME, vec![Arc::new(UInt32Array::from(index)), column(values, &null.data_type())?], n)?)?;
                }
                OverFunction::Aggregate { expr, frame } => {
                    let types: Vec<_> = expr
                        .expressions()
                        .iter()
                        .map(|e| e.data_type(&self.input))
                        .collect::<datafusion::error::Result<_>>()
                        .map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })?;
                    let from_rows = rebuilt_from_rows(expr, frame);
                    let (mut times, mut args) = (Vec::new(), vec![Vec::new(); types.len()]);
                    // A sliding accumulator's state may have more columns
                    // than the function's partial-aggregate state (a
                    // sliding SUM keeps its count): as many as it gives.
                    let (mut state_index, mut states): (Vec<u32>, Vec<Vec<ScalarValue>>) = (Vec::new(), Vec::new());
                    for (k, key) in keys.iter().enumerate() {
                        let fresh = if from_rows { None } else { Some(self.fresh_state()?) };
                        let Some(State::Frame { accumulator, rows }) = self.state.get_mut(key).and_then(|s| s.get_mut(f)) else { continue };
                        for (t, values) in rows.iter() {
                            index.push(k as u32);
                            times.push(*t);
                            for (column, v) in args.iter_mut().zip(values) {
                                column.push(v.clone());
                            }
                        }
                        if let Some(fresh) = fresh {
                            // The state comes out by value: rebuild the
                            // accumulator from it.
                            let state = accumulator.state().map_err(failed(expr.name()))?;
                            let arrays = state.iter().map(ScalarValue::to_array).collect::<Result<Vec<_>, _>>().map_err(failed(expr.name()))?;
                            if let Some(State::Frame { accumulator: mut again, .. }) = fresh.into_iter().nth(f) {
                                again.merge_batch(&arrays).map_err(failed(expr.name()))?;
                                *accumulator = again;
                            }
                            state_index.push(k as u32);
                            if states.is_empty() {
                                states = vec![Vec::new(); state.len()];
                            }
                            for (column, v) in states.iter_mut().zip(state) {
                                column.push(v);
                            }
                        }
                    }
                    let n = index.len();
                    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(index)), Arc::new(datafusion::arrow::array::Int64Array::from(times))];
                    for (values, t) in args.into_iter().zip(&types) {
                        columns.push(column(values, t)?);
                    }
                    write_batch(&mut bytes, crate::codec::state_batch(NAME, columns, n)?)?;
                    let n = state_index.len();
                    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(state_index))];
                    for values in states {
                        columns.push(column(values, &datafusion::arrow::datatypes::DataType::Null)?);
                    }
                    write_batch(&mut bytes, crate::codec::state_batch(NAME, columns, n)?)?;
                }
            }
        }
        Ok(StateSnapshot { version: SNAPSHOT_VERSION, bytes })
    }

    fn load(&mut self, snapshot: &StateSnapshot) -> Result<()> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{Int64Type, UInt32Type};
        let mut reader = Reader::new(NAME, snapshot, SNAPSHOT_VERSION)?;
        self.watermark = reader.i64()?;
        let pending = reader.batch()?;
        let pending = RecordBatch::try_new(Arc::clone(&self.input), pending.columns().to_vec()).map_err(|e| reader.bad(format!("held rows: {e}")))?;
        self.pending = if pending.num_rows() > 0 { vec![pending] } else { Vec::new() };
        let key_batch = reader.batch()?;
        let keys: Vec<Box<[u8]>> = match &self.converter {
            Some(c) => {
                let rows = c.convert_columns(key_batch.columns()).map_err(arrow)?;
                rows.iter().map(|r| r.as_ref().into()).collect()
            }
            None => (0..key_batch.num_rows()).map(|_| Box::default()).collect(),
        };
        let mut states: Vec<Vec<State>> = keys.iter().map(|_| self.fresh_state()).collect::<Result<_>>()?;
        for (f, function) in self.functions.iter().enumerate() {
            let batch = reader.batch()?;
            let index = batch.column(0).as_primitive_opt::<UInt32Type>().ok_or_else(|| reader.bad("no key index".into()))?.clone();
            let scalar = |c: usize, r: usize| {
                ScalarValue::try_from_array(batch.column(c), r).map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
            };
            match function {
                OverFunction::Lag { .. } => {
                    for r in 0..batch.num_rows() {
                        let k = index.value(r) as usize;
                        if let Some(State::Lag(history)) = states.get_mut(k).and_then(|s| s.get_mut(f)) {
                            history.push_back(scalar(1, r)?);
                        }
                    }
                }
                OverFunction::Aggregate { expr, frame } => {
                    let times = batch.column(1).as_primitive_opt::<Int64Type>().ok_or_else(|| reader.bad("no frame times".into()))?.clone();
                    let from_rows = rebuilt_from_rows(expr, frame);
                    for r in 0..batch.num_rows() {
                        let k = index.value(r) as usize;
                        let values = (2..batch.num_columns()).map(|c| scalar(c, r)).collect::<Result<Vec<_>>>()?;
                        if let Some(State::Frame { accumulator, rows }) = states.get_mut(k).and_then(|s| s.get_mut(f)) {
                            if from_rows {
                                let arrays: Vec<ArrayRef> = (2..batch.num_columns()).map(|c| batch.column(c).slice(r, 1)).collect();
                                accumulator.update_batch(&arrays).map_err(failed(expr.name()))?;
                            }
                            rows.push_back((times.value(r), values));
                        }
                    }
                    let state = reader.batch()?;
                    let index = state.column(0).as_primitive_opt::<UInt32Type>().ok_or_else(|| reader.bad("no key index".into()))?.clone();
                    for r in 0..state.num_rows() {
                        let k = index.value(r) as usize;
                        if let Some(State::Frame { accumulator, .. }) = states.get_mut(k).and_then(|s| s.get_mut(f)) {
                            let arrays: Vec<ArrayRef> = state.columns()[1..].iter().map(|c| c.slice(r, 1)).collect();
                            accumulator.merge_batch(&arrays).map_err(failed(expr.name()))?;
                        }
                    }
                }
            }
        }
        self.state = keys.into_iter().zip(states).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::functions_aggregate::min_max::max_udaf;
    use datafusion::functions_aggregate::sum::sum_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::col;

    use super::*;
    use crate::replay::{assert_restores, Step};

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("v", DataType::Float64, true),
        ]))
    }

    fn operator() -> Box<dyn Operator> {
        let input = input();
        let v = col("v", &input).expect("v");
        let aggregate = |udaf, alias: &str| {
            Arc::new(AggregateExprBuilder::new(udaf, vec![Arc::clone(&v)]).schema(Arc::clone(&input)).alias(alias).build().expect("aggregate"))
        };
        let functions = vec![
            OverFunction::Lag { arg: Arc::clone(&v), offset: 2, default: None, null: ScalarValue::Float64(None) },
            OverFunction::Aggregate { expr: aggregate(sum_udaf(), "s"), frame: OverFrame::Rows(Some(2)) },
            OverFunction::Aggregate { expr: aggregate(max_udaf(), "m"), frame: OverFrame::Range(Some(10)) },
            OverFunction::Aggregate { expr: aggregate(sum_udaf(), "total"), frame: OverFrame::Rows(None) },
        ];
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in ["lag", "s", "m", "total"] {
            fields.push(Field::new(name, DataType::Float64, true));
        }
        let schema = Arc::new(Schema::new(fields));
        Box::new(OverAggregate::new(vec![col("k", &input).expect("k")], 1, functions, input, schema).expect("over"))
    }

    fn rows(k: &[i64], ts: &[i64], v: &[f64]) -> Step {
        let batch = RecordBatch::try_new(
            input(),
            vec![
                Arc::new(Int64Array::from(k.to_vec())),
                Arc::new(TimestampMillisecondArray::from(ts.to_vec())),
                Arc::new(Float64Array::from(v.to_vec())),
            ],
        )
        .expect("batch");
        Step::Rows(0, batch)
    }

    #[test]
    fn a_restored_snapshot_continues_every_frame_as_if_uninterrupted() {
        let steps = vec![
            rows(&[1, 1, 2], &[1, 5, 2], &[0.1, 0.2, 7.0]),
            Step::Watermark(3),
            rows(&[1, 2, 1], &[8, 9, 4], &[0.3, -1.5, 0.7]),
            Step::Watermark(8),
            rows(&[1, 2, 3], &[12, 20, 15], &[1e16, 0.25, 3.0]),
            Step::Watermark(14),
            rows(&[1, 1], &[17, 30], &[1.0, 0.5]),
            Step::Watermark(25),
        ];
        assert_restores(&operator, &steps);
    }
}
