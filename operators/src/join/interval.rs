//! The interval join: `a JOIN b ON a.k = b.k AND b.ts BETWEEN a.ts - X AND
//! a.ts + Y`, on event time.
//!
//! Each arriving row is joined at once with the other input's held rows of
//! its key whose times are within the bounds, and the pairs the join's
//! condition accepts are emitted. It is then held until the watermark shows
//! that no row of the other input can still pair with it: `right.ts -
//! left.ts` lies in `[lower, upper]`, so a left row at `t` expires once the
//! watermark passes `t + upper`, and a right row at `t` once it passes
//! `t - lower`. Each pair is emitted once, when its later row arrives. An outer join
//! emits an expiring row that never found a partner with NULLs for the
//! other side. Rows whose key is NULL never match (SQL), and every pair of
//! duplicate keys is emitted.
//!
//! The condition itself (time bounds included) is DataFusion's physical
//! expression over the joined columns, so what pairs is exactly what a
//! batch join would pair; the bounds only say how long rows are held.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::{cast, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::common::{self, arrow, evaluate, Reader};
use super::store::{Entry, Store};
use super::JoinKind;
use crate::{Operator, Result, StateSnapshot};

/// What an [`IntervalJoin`] joins, and how.
#[derive(Debug, Clone)]
pub struct IntervalJoinSpec {
    /// Which unmatched rows are emitted.
    pub kind: JoinKind,
    /// The equi-join keys over each input (left, right), pairwise of one type.
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The event-time column of each input; `None`: every row of that
    /// input is at time 0 (a join with no time bound, whose bounds are
    /// then unlimited and whose rows are never freed).
    pub time: [Option<usize>; 2],
    /// `right.ts - left.ts` lies in `[lower_ms, upper_ms]` for every pair
    /// the condition accepts.
    pub lower_ms: i64,
    /// See `lower_ms`.
    pub upper_ms: i64,
    /// The join's whole condition beyond the keys, over the output columns
    /// (left's then right's).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// `Some(side)`: input `side` is a bounded table. Its rows are held for
    /// good; the other input's rows wait until the table has ended, are
    /// then joined with all of it and never held (no later table row can
    /// pair with them), so an outer join emits an unmatched one at once.
    pub table: Option<usize>,
    /// Each input's schema.
    pub inputs: [SchemaRef; 2],
    /// The output schema: the left columns then the right ones.
    pub schema: SchemaRef,
}

/// The interval join operator of one worker.
#[derive(Debug)]
pub struct IntervalJoin {
    spec: IntervalJoinSpec,
    stores: [Store; 2],
    converter: RowConverter,
    /// The left keys' types, which both inputs' keys are cast to.
    key_types: Vec<DataType>,
    watermark: i64,
    /// With a table: the stream's rows that arrived before the table ended.
    pending: Vec<RecordBatch>,
    /// With a table: whether it has ended.
    loaded: bool,
}


/// Rows `indices` of `batch`, column by column.
fn take_rows(batch: &RecordBatch, indices: &[u32]) -> Result<Vec<ArrayRef>> {
    let indices = UInt32Array::from(indices.to_vec());
    batch.columns().iter().map(|c| take(c, &indices, None).map_err(arrow)).collect()
}


impl IntervalJoin {
    /// A join of `spec`.
    pub fn new(spec: IntervalJoinSpec) -> Result<Self> {
        let key_types = spec.keys[0]
            .iter()
            .map(|k| k.data_type(&spec.inputs[0]))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(evaluate)?;
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect()).map_err(arrow)?;
        let stores = [Store::new(Arc::clone(&spec.inputs[0])), Store::new(Arc::clone(&spec.inputs[1]))];
        Ok(Self { spec, stores, converter, key_types, watermark: i64::MIN, pending: Vec::new(), loaded: false })
    }

    /// The time after which no row of the other input can pair with a row
    /// of `side` at `ts`.
    fn expiry(&self, side: usize, ts: i64) -> i64 {
        match side {
            0 => ts.saturating_add(self.spec.upper_ms),
            _ => ts.saturating_sub(self.spec.lower_ms),
        }
    }

    /// Builds output rows: `left` and `right` are one input's rows each, in
    /// pairs, or `None` for NULLs.
    fn joined(&self, left: Option<Vec<ArrayRef>>, right: Option<Vec<ArrayRef>>, n: usize) -> Result<RecordBatch> {
        let left = left.unwrap_or_else(|| self.stores[0].nulls(n));
        let right = right.unwrap_or_else(|| self.stores[1].nulls(n));
        let columns = left.into_iter().chain(right).collect();
        RecordBatch::try_new(Arc::clone(&self.spec.schema), columns).map_err(arrow)
    }

    /// Output rows pairing `rows` of input `side` with `other` rows of the
    /// other input (`None`: NULLs), `n` of them.
    fn pair(&self, side: usize, rows: Vec<ArrayRef>, other: Option<Vec<ArrayRef>>, n: usize) -> Result<RecordBatch> {
        match side {
            0 => self.joined(Some(rows), other, n),
            _ => self.joined(other, Some(rows), n),
        }
    }

    /// Emits the held rows of `side` at `at` with NULLs for the other side.
    fn unmatched(&self, side: usize, at: &[(usize, usize)], out: &mut Vec<RecordBatch>) -> Result<()> {
        if at.is_empty() || !self.spec.kind.keeps_unmatched(side) {
            return Ok(());
        }
        out.push(self.pair(side, self.stores[side].gather(at)?, None, at.len())?);
        Ok(())
    }

    fn join(&mut self, side: usize, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        let other = 1 - side;
        // Everything that can fail on a row comes before any state changes.
        let keys = self.keys(side, &batch)?;
        let rows = self.converter.convert_columns(&keys).map_err(arrow)?;
        let ts = match self.spec.time[side] {
            Some(column) => cast(batch.column(column), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(arrow)?,
            None => Arc::new(TimestampMillisecondArray::from(vec![0; n])),
        };
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let null_key = |r: usize| keys.iter().any(|k| k.is_null(r));
        let (lower, upper) = (self.spec.lower_ms, self.spec.upper_ms);

        // Candidate pairs: same key, times within the bounds. Per pair: the
        // new row, where the held one is, and its place under its key.
        let mut new_rows: Vec<u32> = Vec::new();
        let mut held: Vec<(usize, usize)> = Vec::new();
        let mut held_slot: Vec<usize> = Vec::new();
        for r in 0..n {
            if null_key(r) || ts.is_null(r) {
                continue;
            }
            let t = ts.value(r);
            for (i, e) in self.stores[other].get(rows.row(r).as_ref()).iter().enumerate() {
                let diff = if side == 0 { e.ts.saturating_sub(t) } else { t.saturating_sub(e.ts) };
                if diff >= lower && diff <= upper {
                    new_rows.push(r as u32);
                    held.push((e.chunk, e.row));
                    held_slot.push(i);
                }
            }
        }
        let mut accepted = BooleanArray::from(Vec::<bool>::new());
        if !held.is_empty() {
            let fresh = take_rows(&batch, &new_rows)?;
            let stored = self.stores[other].gather(&held)?;
            let pairs = self.pair(side, fresh, Some(stored), held.len())?;
            accepted = common::accepted(self.spec.filter.as_ref(), &pairs)?;
            let emitted = filter_record_batch(&pairs, &accepted).map_err(arrow)?;
            if emitted.num_rows() > 0 {
                out.push(emitted);
            }
        }

        // State: mark partners, hold the new rows that can still pair.
        let mut matched = vec![false; n];
        for (k, (&r, &i)) in new_rows.iter().zip(&held_slot).enumerate() {
            if !accepted.value(k) {
                continue;
            }
            let r = r as usize;
            matched[r] = true;
            let key = rows.row(r);
            if let Some(e) = self.stores[other].get_mut(key.as_ref(), i) {
                e.matched = true;
            }
        }
        let mut gone: Vec<u32> = Vec::new();
        let probe = self.spec.table.is_some_and(|t| t != side);
        let chunk = if probe { 0 } else { self.stores[side].push(batch.clone()) };
        for (r, &was_matched) in matched.iter().enumerate() {
            let holdable = !probe && !null_key(r) && !ts.is_null(r) && self.expiry(side, ts.value(r)) >= self.watermark;
            if holdable {
                let entry = Entry { chunk, row: r, ts: ts.value(r), matched: was_matched };
                self.stores[side].insert(rows.row(r).as_ref(), entry);
            } else if !was_matched {
                gone.push(r as u32);
            }
        }
        if !gone.is_empty() && self.spec.kind.keeps_unmatched(side) {
            out.push(self.pair(side, take_rows(&batch, &gone)?, None, gone.len())?);
        }
        Ok(())
    }

    /// The key columns of `batch` of input `side`, in the left keys' types.
    fn keys(&self, side: usize, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        common::key_columns(&self.spec.keys[side], &self.key_types, batch)
    }

    /// Rows held on each input.
    pub fn held(&self) -> [usize; 2] {
        [self.stores[0].len(), self.stores[1].len()]
    }
}

impl Operator for IntervalJoin {
    fn held_rows(&self) -> Option<u64> {
        let parked: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        Some((self.stores[0].len() + self.stores[1].len() + parked) as u64)
    }

    fn name(&self) -> &str {
        "interval join"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.join(0, batch, out)
    }

    fn process_input(&mut self, input: usize, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let side = input.min(1);
        if self.spec.table.is_some_and(|t| t != side) && !self.loaded {
            // Checked now, so a row that cannot be joined fails on arrival.
            self.keys(side, &batch)?;
            self.pending.push(batch);
            return Ok(());
        }
        self.join(side, batch, out)
    }

    fn on_input_ended(&mut self, input: usize, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(table) = self.spec.table else { return Ok(()) };
        if input.min(1) != table || self.loaded {
            return Ok(());
        }
        self.loaded = true;
        for batch in std::mem::take(&mut self.pending) {
            self.join(1 - table, batch, out)?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = watermark;
        for side in 0..2 {
            let due = self.stores[side].earliest().is_some_and(|t| self.expiry(side, t) < watermark);
            if !due {
                continue;
            }
            let (lower, upper) = (self.spec.lower_ms, self.spec.upper_ms);
            let expired = move |ts: i64| match side {
                0 => ts.saturating_add(upper) < watermark,
                _ => ts.saturating_sub(lower) < watermark,
            };
            let at = self.stores[side].expire(expired);
            self.unmatched(side, &at, out)?;
            self.stores[side].compact()?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        // Stopped before the table ended: join what has come of it.
        if let Some(table) = self.spec.table {
            self.on_input_ended(table, out)?;
        }
        for side in 0..2 {
            let at = self.stores[side].unmatched();
            self.unmatched(side, &at, out)?;
            self.stores[side].clear();
        }
        Ok(())
    }

    fn retained(&self) -> Option<i64> {
        // A table is read again from its start on a restart, so its rows
        // hold nothing back; the stream's waiting rows hold everything.
        if !self.pending.is_empty() {
            return Some(i64::MIN);
        }
        let held = |side: &usize| self.spec.table != Some(*side);
        (0..2).filter(held).filter_map(|side| self.stores[side].earliest()).min()
    }

    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        // The watermark, then per input one Arrow IPC stream of its held
        // rows with their time and matched flag as two extra columns; keys
        // are evaluated again on restore.
        let mut bytes = self.watermark.to_le_bytes().to_vec();
        bytes.push(u8::from(self.loaded));
        for (side, store) in self.stores.iter().enumerate() {
            if self.spec.table.is_some_and(|t| t != side) {
                // The stream's side of a table join holds no rows, only
                // those waiting for the table.
                common::write_batch(&mut bytes, self.pending_batch(side)?)?;
                continue;
            }
            let entries = store.entries();
            let at: Vec<(usize, usize)> = entries.iter().map(|e| (e.chunk, e.row)).collect();
            let ts = Int64Array::from_iter_values(entries.iter().map(|e| e.ts));
            let matched = BooleanArray::from_iter(entries.iter().map(|e| Some(e.matched)));
            common::write_batch(&mut bytes, saved(&store.schema, store.gather(&at)?, ts, matched)?)?;
        }
        Ok(Some(StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        let mut reader = Reader::new("interval join", &snapshot, SNAPSHOT_VERSION)?;
        let watermark = reader.i64()?;
        let loaded = reader.flag()?;
        let saved = [reader.batch()?, reader.batch()?];
        let bad = |reason: String| reader.bad(reason);
        for (side, batch) in saved.into_iter().enumerate() {
            let width = self.stores[side].schema.fields().len();
            if batch.num_columns() != width + 2 {
                return Err(bad(format!("input {side} has {} columns, the join's {width}", batch.num_columns().saturating_sub(2))));
            }
            let ts = batch.column(width).as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>().ok_or_else(|| bad("no times".into()))?.clone();
            let matched = batch.column(width + 1).as_boolean_opt().ok_or_else(|| bad("no matched flags".into()))?.clone();
            let rows = RecordBatch::try_new(Arc::clone(&self.stores[side].schema), batch.columns()[..width].to_vec())
                .map_err(|e| bad(format!("input {side}: {e}")))?;
            if self.spec.table.is_some_and(|t| t != side) {
                self.pending = if rows.num_rows() > 0 { vec![rows] } else { Vec::new() };
                continue;
            }
            let keys = self.keys(side, &rows)?;
            let converted = self.converter.convert_columns(&keys).map_err(arrow)?;
            let store = &mut self.stores[side];
            store.clear();
            let chunk = store.push(rows);
            for r in 0..ts.len() {
                store.insert(converted.row(r).as_ref(), Entry { chunk, row: r, ts: ts.value(r), matched: matched.value(r) });
            }
        }
        self.watermark = watermark;
        self.loaded = loaded;
        Ok(())
    }
}

impl IntervalJoin {
    /// The rows waiting for the table, as one batch shaped like the held
    /// rows of a snapshot (time 0, unmatched).
    fn pending_batch(&self, side: usize) -> Result<RecordBatch> {
        let schema = &self.stores[side].schema;
        let rows = datafusion::arrow::compute::concat_batches(schema, &self.pending).map_err(arrow)?;
        let n = rows.num_rows();
        saved(schema, rows.columns().to_vec(), Int64Array::from(vec![0; n]), BooleanArray::from(vec![false; n]))
    }
}

/// Held rows as a snapshot stores them: their columns, then their times
/// and matched flags.
fn saved(schema: &SchemaRef, mut columns: Vec<ArrayRef>, ts: Int64Array, matched: BooleanArray) -> Result<RecordBatch> {
    columns.push(Arc::new(ts));
    columns.push(Arc::new(matched));
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SAVED_TS, DataType::Int64, false));
    fields.push(Field::new(SAVED_MATCHED, DataType::Boolean, false));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow)
}

/// The encoding of [`IntervalJoin`]'s snapshots.
const SNAPSHOT_VERSION: u32 = 2;
const SAVED_TS: &str = "__weir_join_ts";
const SAVED_MATCHED: &str = "__weir_join_matched";

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_expr::expressions::Column;

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ]))
    }

    fn join(kind: JoinKind) -> IntervalJoin {
        let mut fields: Vec<Field> = input().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        fields.extend(fields.clone());
        let key = || vec![Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>];
        let spec = IntervalJoinSpec {
            kind,
            keys: [key(), key()],
            time: [Some(1), Some(1)],
            lower_ms: -1000,
            upper_ms: 2000,
            filter: None,
            table: None,
            inputs: [input(), input()],
            schema: Arc::new(Schema::new(fields)),
        };
        IntervalJoin::new(spec).expect("join")
    }

    fn batch(rows: &[(Option<i64>, i64)]) -> RecordBatch {
        let k = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let ts = TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        RecordBatch::try_new(input(), vec![Arc::new(k), Arc::new(ts)]).expect("batch")
    }

    /// Each step: an input's batch, then a watermark.
    fn steps() -> Vec<(usize, RecordBatch, i64)> {
        vec![
            (0, batch(&[(Some(1), 1000), (Some(2), 1500), (None, 1600), (Some(1), 1700)]), 0),
            (1, batch(&[(Some(1), 900), (Some(1), 2500), (Some(3), 2600)]), 500),
            (0, batch(&[(Some(3), 3000), (Some(1), 3100)]), 1500),
            (1, batch(&[(Some(1), 4000), (Some(2), 4100), (None, 4200)]), 3000),
            (0, batch(&[(Some(2), 5000)]), 4500),
            (1, batch(&[(Some(2), 5500)]), 9000),
        ]
    }

    fn rows(out: &[RecordBatch]) -> Vec<String> {
        let mut lines: Vec<String> = out
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    let cell = |c: usize| {
                        let col = b.column(c);
                        if col.is_null(r) { "-".to_string() } else { datafusion::arrow::util::display::array_value_to_string(col, r).unwrap_or_default() }
                    };
                    format!("{} {} | {} {}", cell(0), cell(1), cell(2), cell(3))
                })
            })
            .collect();
        lines.sort();
        lines
    }

    fn run(kind: JoinKind, snapshot_after: Option<usize>) -> Vec<String> {
        let mut op = join(kind);
        let mut out = Vec::new();
        for (i, (side, b, wm)) in steps().into_iter().enumerate() {
            op.process_input(side, b, &mut out).expect("process");
            op.on_watermark(wm, &mut out).expect("watermark");
            if snapshot_after == Some(i) {
                let saved = op.snapshot().expect("snapshot").expect("state");
                op = join(kind);
                op.restore(saved).expect("restore");
            }
        }
        op.finish(&mut out).expect("finish");
        rows(&out)
    }

    #[test]
    fn pairs_within_the_bounds_null_keys_never_match_outer_rows_once() {
        let inner = run(JoinKind::Inner, None);
        // right.ts - left.ts in [-1000, 2000], same key.
        assert!(inner.contains(&"1 1970-01-01T00:00:01 | 1 1970-01-01T00:00:00.900".to_string()), "{inner:?}");
        assert!(inner.iter().all(|l| !l.starts_with('-') && !l.contains("| -")), "{inner:?}");
        let full = run(JoinKind::Full, None);
        assert!(full.len() > inner.len());
        // Every unmatched row once: the NULL-keyed rows of both inputs.
        assert_eq!(full.iter().filter(|l| l.starts_with("- 1970-01-01T00:00:01.600")).count(), 1, "{full:?}");
        assert_eq!(full.iter().filter(|l| l.ends_with("| - 1970-01-01T00:00:04.200")).count(), 1, "{full:?}");
        let left = run(JoinKind::Left, None);
        assert!(left.iter().all(|l| !l.starts_with("- -")), "{left:?}");
    }

    #[test]
    fn a_restored_snapshot_continues_as_if_uninterrupted() {
        for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::Full] {
            let whole = run(kind, None);
            for at in 0..steps().len() {
                assert_eq!(run(kind, Some(at)), whole, "{kind:?}, snapshot after step {at}");
            }
        }
    }

    #[test]
    fn without_time_columns_every_pair_of_a_key_joins_and_nothing_expires() {
        let mut op = join(JoinKind::Inner);
        op.spec.time = [None, None];
        (op.spec.lower_ms, op.spec.upper_ms) = (i64::MIN, i64::MAX);
        let mut out = Vec::new();
        for (side, b, wm) in steps() {
            op.process_input(side, b, &mut out).expect("process");
            op.on_watermark(wm, &mut out).expect("watermark");
        }
        // Key 1: 3 left rows x 3 right rows; key 2: 2 x 2; key 3: 1 x 1.
        assert_eq!(rows(&out).len(), 3 * 3 + 2 * 2 + 1, "{:?}", rows(&out));
        // Every non-NULL-keyed row is still held.
        assert_eq!(op.held(), [6, 6]);
    }

    /// A table join: input 1 is the table; stream rows wait for it.
    fn table_join(kind: JoinKind, snapshot_after: Option<usize>) -> Vec<String> {
        let make = || {
            let mut op = join(kind);
            op.spec.table = Some(1);
            op.spec.time = [None, None];
            (op.spec.lower_ms, op.spec.upper_ms) = (i64::MIN, i64::MAX);
            op
        };
        let mut op = make();
        let mut out = Vec::new();
        let steps: Vec<(usize, RecordBatch)> = vec![
            (0, batch(&[(Some(1), 1000), (Some(2), 1500), (None, 1600)])),
            (1, batch(&[(Some(1), 10), (Some(1), 20)])),
            (0, batch(&[(Some(3), 3000)])),
            (1, batch(&[(Some(3), 30)])),
        ];
        for (i, (side, b)) in steps.into_iter().enumerate() {
            op.process_input(side, b, &mut out).expect("process");
            if snapshot_after == Some(i) {
                let saved = op.snapshot().expect("snapshot").expect("state");
                op = make();
                op.restore(saved).expect("restore");
            }
        }
        assert!(out.iter().all(|b| b.num_rows() == 0), "nothing joins before the table has ended");
        assert_eq!(op.retained(), Some(i64::MIN), "waiting rows hold commits back");
        op.on_input_ended(1, &mut out).expect("table ended");
        op.process_input(0, batch(&[(Some(1), 4000), (Some(9), 4100)]), &mut out).expect("process");
        assert_eq!(op.retained(), None, "the table's rows hold nothing back");
        op.finish(&mut out).expect("finish");
        rows(&out)
    }

    #[test]
    fn a_table_join_waits_for_the_whole_table() {
        let inner = table_join(JoinKind::Inner, None);
        // Key 1: two stream rows x two table rows; key 3: one x one.
        assert_eq!(inner.len(), 2 * 2 + 1, "{inner:?}");
        let left = table_join(JoinKind::Left, None);
        // And the stream rows without a partner: key 2, NULL, key 9.
        assert_eq!(left.len(), inner.len() + 3, "{left:?}");
        for at in 0..4 {
            assert_eq!(table_join(JoinKind::Left, Some(at)), left, "snapshot after step {at}");
        }
    }

    #[test]
    fn a_damaged_snapshot_is_an_error() {
        let mut op = join(JoinKind::Full);
        let mut out = Vec::new();
        op.process_input(0, batch(&[(Some(1), 1000)]), &mut out).expect("process");
        let mut saved = op.snapshot().expect("snapshot").expect("state");
        saved.bytes.truncate(saved.bytes.len() / 2);
        assert!(matches!(join(JoinKind::Full).restore(saved), Err(crate::OperatorError::Snapshot { .. })));
        let wrong = StateSnapshot { version: 99, bytes: Vec::new() };
        assert!(join(JoinKind::Full).restore(wrong).is_err());
    }
}
