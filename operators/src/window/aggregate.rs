//! The windowed `GROUP BY`: one output row per window and key, emitted when
//! the watermark passes the window's end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;

use super::pane::Pane;
use super::session::Sessions;
use super::{as_millis, millis, WindowKind};
use crate::codec::{write_batch, write_i64, Reader};
use crate::{Operator, OperatorError, Result, StateSnapshot};

const NAME: &str = "window aggregate";
/// The encoding of [`WindowAggregate`]'s snapshots.
const SNAPSHOT_VERSION: u32 = 1;

/// One aggregate of the `SELECT` list, as DataFusion planned it.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    /// The aggregate function with its arguments and `ORDER BY`.
    pub expr: Arc<AggregateFunctionExpr>,
    /// `FILTER (WHERE ...)`, if any.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

impl AggregateSpec {
    /// The columns the accumulator is fed: the arguments, then the
    /// `ORDER BY` expressions (how DataFusion feeds order-sensitive
    /// aggregates such as `first_value(x ORDER BY ts)`).
    fn inputs(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        let mut exprs = self.expr.expressions();
        exprs.extend(self.expr.order_bys().iter().map(|o| Arc::clone(&o.expr)));
        exprs
    }
}

/// One column of the `GROUP BY`, in the order of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupColumn {
    /// The window's start.
    WindowStart,
    /// The window's end.
    WindowEnd,
    /// The n-th key expression.
    Key(usize),
}

/// Aggregates rows per window and key and emits each window once, when the
/// watermark passes its end (or when the input ends).
///
/// The input carries `window_start` and `window_end` columns (from
/// [`super::WindowAssign`]); the output has one column per
/// [`GroupColumn`], then one per aggregate, like DataFusion's `Aggregate`.
#[derive(Debug)]
pub struct WindowAggregate {
    kind: WindowKind,
    start: usize,
    end: usize,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    layout: Vec<GroupColumn>,
    aggregates: Vec<AggregateSpec>,
    inputs: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    key_schema: SchemaRef,
    schema: SchemaRef,
    /// Open tumbling/hopping windows by `(end, start)`, so the next to close
    /// comes first.
    panes: BTreeMap<(i64, i64), Pane>,
    sessions: Option<Sessions>,
    watermark: i64,
    late: u64,
}

impl WindowAggregate {
    /// A windowed aggregate over input rows of `input` whose window bounds
    /// are in columns `start` and `end`; `schema` is the output.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: WindowKind,
        start: usize,
        end: usize,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        layout: Vec<GroupColumn>,
        aggregates: Vec<AggregateSpec>,
        input: &Schema,
        schema: SchemaRef,
    ) -> Result<Self> {
        let fields = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                k.data_type(input)
                    .map(|t| Field::new(format!("k{i}"), t, true))
                    .map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
            })
            .collect::<Result<Vec<_>>>()?;
        let key_schema = Arc::new(Schema::new(fields));
        let sessions = match kind {
            WindowKind::Session { gap } => Some(Sessions::new(gap, &key_schema)?),
            _ => None,
        };
        let inputs = aggregates.iter().map(AggregateSpec::inputs).collect();
        Ok(Self {
            kind,
            start,
            end,
            keys,
            layout,
            aggregates,
            inputs,
            key_schema,
            schema,
            panes: BTreeMap::new(),
            sessions,
            watermark: i64::MIN,
            late: 0,
        })
    }

    /// Rows dropped because their window had already been emitted.
    pub fn late_rows(&self) -> u64 {
        self.late
    }

    /// Open windows (tumbling, hopping) or keys with open sessions.
    pub fn open(&self) -> usize {
        self.panes.len() + self.sessions.as_ref().map_or(0, Sessions::open_keys)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<Inputs> {
        let rows = batch.num_rows();
        let eval = |e: &Arc<dyn PhysicalExpr>| {
            e.evaluate(batch)
                .and_then(|v| v.into_array(rows))
                .map_err(|source| OperatorError::Evaluate { operator: NAME.into(), source })
        };
        let keys = self.keys.iter().map(eval).collect::<Result<Vec<_>>>()?;
        let args = self.inputs.iter().map(|a| a.iter().map(eval).collect::<Result<Vec<_>>>()).collect::<Result<_>>()?;
        let mut filters = Vec::with_capacity(self.aggregates.len());
        for spec in &self.aggregates {
            filters.push(match &spec.filter {
                Some(f) => {
                    let mask = eval(f)?;
                    match mask.data_type() {
                        DataType::Boolean => Some(mask.as_boolean().clone()),
                        other => return Err(OperatorError::NotBoolean { data_type: other.to_string() }),
                    }
                }
                None => None,
            });
        }
        Ok((keys, args, filters))
    }

    fn output(&self, start: ArrayRef, end: ArrayRef, keys: Vec<ArrayRef>, values: Vec<ArrayRef>) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for group in &self.layout {
            columns.push(match group {
                GroupColumn::WindowStart => Arc::clone(&start),
                GroupColumn::WindowEnd => Arc::clone(&end),
                GroupColumn::Key(i) => Arc::clone(&keys[*i]),
            });
        }
        columns.extend(values);
        // Conform to the planned types (time zone of the window columns,
        // DataFusion's choice of result type).
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c) } else { cast(&c, f.data_type()) })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| OperatorError::Arrow { operator: NAME.into(), source })?;
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|source| OperatorError::Arrow { operator: NAME.into(), source })
    }

    fn add_to_panes(
        &mut self,
        batch: &RecordBatch,
        keys: Vec<ArrayRef>,
        args: Vec<Vec<ArrayRef>>,
        filters: Vec<Option<BooleanArray>>,
    ) -> Result<()> {
        let starts = millis(batch.column(self.start), NAME)?;
        let ends = millis(batch.column(self.end), NAME)?;
        let (starts, ends) = (as_millis(&starts), as_millis(&ends));
        // Row indices per window; almost always a single window per batch.
        let mut windows: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
        for (i, (&s, &e)) in starts.iter().zip(ends).enumerate() {
            if e.saturating_sub(1) <= self.watermark {
                self.late += 1;
                continue;
            }
            windows.entry((e, s)).or_default().push(i as u32);
        }
        let all = batch.num_rows();
        for (window, rows) in windows {
            let pane = match self.panes.entry(window) {
                std::collections::btree_map::Entry::Occupied(p) => p.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(Pane::new(&self.key_schema, &self.aggregates)?),
            };
            if rows.len() == all {
                pane.update(&keys, &args, &filters, &self.aggregates, all)?;
            } else {
                let n = rows.len();
                let (keys, args, filters) = take_inputs(&keys, &args, &filters, &UInt32Array::from(rows))?;
                pane.update(&keys, &args, &filters, &self.aggregates, n)?;
            }
        }
        Ok(())
    }

    fn zone(&self) -> Option<Arc<str>> {
        self.layout.iter().zip(self.schema.fields()).find_map(|(g, f)| match (g, f.data_type()) {
            (GroupColumn::WindowStart | GroupColumn::WindowEnd, DataType::Timestamp(_, zone)) => zone.clone(),
            _ => None,
        })
    }
}

type Inputs = (Vec<ArrayRef>, Vec<Vec<ArrayRef>>, Vec<Option<BooleanArray>>);

/// The rows at `indices` of evaluated keys, aggregate arguments and filters.
fn take_inputs(keys: &[ArrayRef], args: &[Vec<ArrayRef>], filters: &[Option<BooleanArray>], indices: &UInt32Array) -> Result<Inputs> {
    let arrow = |source| OperatorError::Arrow { operator: NAME.into(), source };
    let pick = |c: &ArrayRef| take(c.as_ref(), indices, None);
    let keys = keys.iter().map(pick).collect::<Result<Vec<_>, _>>().map_err(arrow)?;
    let args = args
        .iter()
        .map(|a| a.iter().map(pick).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow)?;
    let filters = filters
        .iter()
        .map(|f| f.as_ref().map(|m| take(m, indices, None).map(|a| a.as_boolean().clone())).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow)?;
    Ok((keys, args, filters))
}

impl Operator for WindowAggregate {
    fn name(&self) -> &str {
        NAME
    }

    fn process(&mut self, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, args, filters) = self.evaluate(&batch)?;
        match self.sessions.as_mut() {
            Some(sessions) => {
                let starts = millis(batch.column(self.start), NAME)?;
                let times = as_millis(&starts);
                // A row behind the watermark cannot start or join an open
                // session any more; the source normally filters these out.
                let late = times.iter().filter(|&&t| t <= self.watermark).count();
                if late == 0 {
                    sessions.update(&keys, times, &args, &filters, &self.aggregates)?;
                } else {
                    self.late += late as u64;
                    let keep: Vec<u32> = (0..times.len() as u32).filter(|&i| times[i as usize] > self.watermark).collect();
                    let indices = UInt32Array::from(keep);
                    let kept = take(starts.as_ref(), &indices, None)
                        .map_err(|source| OperatorError::Arrow { operator: NAME.into(), source })?;
                    let (keys, args, filters) = take_inputs(&keys, &args, &filters, &indices)?;
                    sessions.update(&keys, as_millis(&kept), &args, &filters, &self.aggregates)?;
                }
            }
            None => self.add_to_panes(&batch, keys, args, filters)?,
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        let zone = self.zone();
        if let Some(sessions) = self.sessions.as_mut() {
            let closed = sessions.close(watermark, &self.aggregates)?;
            if closed.starts.is_empty() {
                return Ok(());
            }
            let keys = sessions.key_columns(&closed.keys)?;
            let values = closed
                .values
                .into_iter()
                .zip(&self.aggregates)
                .map(|(v, spec)| {
                    ScalarValue::iter_to_array(v)
                        .map_err(|source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source })
                })
                .collect::<Result<Vec<_>>>()?;
            let start = Arc::new(TimestampMillisecondArray::from(closed.starts).with_timezone_opt(zone.clone()));
            let end = Arc::new(TimestampMillisecondArray::from(closed.ends).with_timezone_opt(zone));
            out.push(self.output(start, end, keys, values)?);
            return Ok(());
        }
        while let Some(entry) = self.panes.first_entry() {
            let (end, start) = *entry.key();
            if end.saturating_sub(1) > watermark {
                break;
            }
            let pane = entry.remove();
            let (keys, values, rows) = pane.emit(&self.aggregates)?;
            let start = Arc::new(TimestampMillisecondArray::from(vec![start; rows]).with_timezone_opt(zone.clone()));
            let end = Arc::new(TimestampMillisecondArray::from(vec![end; rows]).with_timezone_opt(zone.clone()));
            out.push(self.output(start, end, keys, values)?);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.on_watermark(i64::MAX, out)
    }

    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        // The watermark and late count, then the open sessions as one
        // batch, or each open window's end, start and groups.
        let mut bytes = Vec::new();
        write_i64(&mut bytes, self.watermark);
        write_i64(&mut bytes, i64::try_from(self.late).unwrap_or(i64::MAX));
        match self.sessions.as_mut() {
            Some(sessions) => write_batch(&mut bytes, sessions.save(&self.aggregates)?)?,
            None => {
                write_i64(&mut bytes, self.panes.len() as i64);
                for (&(end, start), pane) in self.panes.iter_mut() {
                    write_i64(&mut bytes, end);
                    write_i64(&mut bytes, start);
                    write_batch(&mut bytes, pane.save(&self.key_schema, &self.aggregates)?)?;
                }
            }
        }
        Ok(Some(StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        let mut reader = Reader::new(NAME, &snapshot, SNAPSHOT_VERSION)?;
        self.watermark = reader.i64()?;
        self.late = u64::try_from(reader.i64()?).unwrap_or(0);
        self.panes.clear();
        match self.kind {
            WindowKind::Session { gap } => {
                let mut sessions = Sessions::new(gap, &self.key_schema)?;
                sessions.load(self.key_schema.fields().len(), &reader.batch()?, &self.aggregates)?;
                self.sessions = Some(sessions);
            }
            _ => {
                let n = reader.i64()?;
                for _ in 0..n {
                    let (end, start) = (reader.i64()?, reader.i64()?);
                    let pane = Pane::load(&self.key_schema, &self.aggregates, &reader.batch()?)?;
                    self.panes.insert((end, start), pane);
                }
            }
        }
        Ok(())
    }

    fn retained(&self) -> Option<i64> {
        match &self.sessions {
            Some(sessions) => sessions.earliest_start(),
            // A row is held until the last window containing it closes:
            // rows before the earliest open window's start are done.
            None => self.panes.keys().map(|(_, start)| *start).min(),
        }
    }
}

impl std::fmt::Display for WindowAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} over {} aggregates", self.kind, self.aggregates.len())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
    use datafusion::functions_aggregate::count::count_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::col;

    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn schemas() -> (SchemaRef, SchemaRef) {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts.clone(), false),
        ]));
        let output = Arc::new(Schema::new(vec![
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts, false),
            Field::new("k", DataType::Int64, true),
            Field::new("n", DataType::Int64, false),
        ]));
        (input, output)
    }

    fn operator(kind: WindowKind) -> std::result::Result<WindowAggregate, Box<dyn std::error::Error>> {
        let (input, output) = schemas();
        let count = AggregateExprBuilder::new(count_udaf(), vec![col("k", &input)?]).schema(Arc::clone(&input)).alias("n").build()?;
        let layout = vec![GroupColumn::WindowStart, GroupColumn::WindowEnd, GroupColumn::Key(0)];
        let spec = AggregateSpec { expr: Arc::new(count), filter: None };
        Ok(WindowAggregate::new(kind, 1, 2, vec![col("k", &input)?], layout, vec![spec], &input, output)?)
    }

    fn rows(k: &[i64], start: &[i64], end: &[i64]) -> std::result::Result<RecordBatch, Box<dyn std::error::Error>> {
        Ok(RecordBatch::try_new(
            schemas().0,
            vec![
                Arc::new(Int64Array::from(k.to_vec())),
                Arc::new(TimestampMillisecondArray::from(start.to_vec())),
                Arc::new(TimestampMillisecondArray::from(end.to_vec())),
            ],
        )?)
    }

    #[test]
    fn emitted_windows_free_their_state_and_stay_closed() -> TestResult {
        let mut op = operator(WindowKind::Tumble { size: 10 })?;
        let mut out = Vec::new();
        op.process(rows(&[1, 2, 3, 1, 2], &[0, 0, 0, 10, 10], &[10, 10, 10, 20, 20])?, &mut out)?;
        assert_eq!(op.open(), 2);
        op.on_watermark(8, &mut out)?;
        assert!(out.is_empty(), "[0, 10) is complete only at watermark 9");
        op.on_watermark(9, &mut out)?;
        assert_eq!((op.open(), out.len(), out[0].num_rows()), (1, 1, 3));
        // A row for an emitted window is late: counted, never reopens it.
        op.process(rows(&[4], &[0], &[10])?, &mut out)?;
        assert_eq!((op.late_rows(), op.open()), (1, 1));
        op.finish(&mut out)?;
        assert_eq!(op.open(), 0);
        assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 5);
        Ok(())
    }

    #[test]
    fn snapshots_of_windows_and_sessions_restore_as_if_uninterrupted() -> TestResult {
        use crate::replay::{assert_restores, Step};
        let b = |k: &[i64], s: &[i64], e: &[i64]| rows(k, s, e).map(|b| Step::Rows(0, b));
        let tumbling = vec![
            b(&[1, 2, 3, 1], &[0, 0, 0, 10], &[10, 10, 10, 20])?,
            Step::Watermark(5),
            b(&[2, 2, 4], &[0, 10, 10], &[10, 20, 20])?,
            Step::Watermark(9),
            b(&[1, 5], &[20, 20], &[30, 30])?,
            Step::Watermark(19),
            b(&[5], &[20], &[30])?,
        ];
        assert_restores(&|| Box::new(operator(WindowKind::Tumble { size: 10 }).expect("operator")), &tumbling);
        // Sessions carry [ts, ts + gap) from WindowAssign.
        let sessions = vec![
            b(&[1, 1, 2], &[0, 6, 1], &[4, 10, 5])?,
            Step::Watermark(2),
            b(&[1, 2], &[3, 30], &[7, 34])?,
            Step::Watermark(12),
            b(&[2, 3], &[31, 40], &[35, 44])?,
        ];
        assert_restores(&|| Box::new(operator(WindowKind::Session { gap: 4 }).expect("operator")), &sessions);
        Ok(())
    }

    #[test]
    fn a_row_between_two_sessions_merges_them() -> TestResult {
        let mut op = operator(WindowKind::Session { gap: 4 })?;
        let mut out = Vec::new();
        // Sessions carry [ts, ts + gap) from WindowAssign: 0 and 6 are apart.
        op.process(rows(&[1, 1], &[0, 6], &[4, 10])?, &mut out)?;
        op.process(rows(&[1], &[3], &[7])?, &mut out)?;
        assert_eq!(op.open(), 1, "one key with open sessions");
        op.finish(&mut out)?;
        let batch = &out[0];
        assert_eq!(batch.num_rows(), 1, "3 is less than 4 from both 0 and 6: one session");
        assert_eq!(batch.column(3).as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(batch.column(1).as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>().value(0), 10);
        assert_eq!(op.open(), 0);
        Ok(())
    }
}
