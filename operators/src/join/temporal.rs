//! The event-time temporal join: `FROM s JOIN v FOR SYSTEM_TIME AS OF
//! s.ts ON s.k = v.k`, where `v` is a versioned table (a primary key and a
//! watermark: each row is a new version of its key from its time on).
//!
//! A stream row at `t` joins the version of its key valid at `t`: the
//! latest with a version time `<= t`. That is known only once no version
//! at or before `t` can still arrive, that is once the watermark (the
//! lesser of both inputs') passes `t`; until then the row waits. Versions
//! are held per key, sorted by time, and one is freed once a newer one is
//! at or behind every time a waiting or future row can have. INNER and
//! LEFT; the join's whole condition (DataFusion's physical expression)
//! still decides whether the pair is emitted, and a LEFT join emits a row
//! without a valid version, or whose version the condition rejects, with
//! NULLs. A deletion (an upsert table's tombstone) is a version that
//! joins nothing; a key whose only version left is a deletion is freed.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::hash_utils::RandomState;
use datafusion::physical_expr::PhysicalExpr;

use super::common::{self, arrow, evaluate, Reader};
use super::JoinKind;
use crate::{Operator, Result, StateSnapshot};

/// What a [`TemporalJoin`] joins.
#[derive(Debug, Clone)]
pub struct TemporalJoinSpec {
    /// `Inner` or `Left` (the stream's rows without a version kept).
    pub kind: JoinKind,
    /// The equi-join keys over the stream (0) and the versioned table (1).
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The stream's time column (`AS OF`) and the versions' time column.
    pub time: [usize; 2],
    /// The join's whole condition beyond the keys, over the output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The versioned table's column that marks a version as the deletion
    /// of its key (an upsert table's tombstone): from its time on, until a
    /// newer version, the key has no valid version.
    pub deleted: Option<usize>,
    /// Each input's schema.
    pub inputs: [SchemaRef; 2],
    /// The output schema: the stream's columns then the table's.
    pub schema: SchemaRef,
}

/// One key's versions, oldest first: time and the row.
type Versions = Vec<(i64, RecordBatch)>;

/// Whether the one-row `version` is marked, in its column `c`, as the
/// deletion of its key.
fn deletes(c: usize, version: &RecordBatch) -> bool {
    version.column(c).as_boolean_opt().is_some_and(|d| d.is_valid(0) && d.value(0))
}

/// The temporal join operator of one worker.
#[derive(Debug)]
pub struct TemporalJoin {
    spec: TemporalJoinSpec,
    converter: RowConverter,
    key_types: Vec<DataType>,
    versions: HashMap<Box<[u8]>, Versions, RandomState>,
    /// Stream rows waiting for the watermark to pass their time.
    pending: Vec<RecordBatch>,
    watermark: i64,
}


impl TemporalJoin {
    /// A join of `spec`.
    pub fn new(spec: TemporalJoinSpec) -> Result<Self> {
        let key_types = spec.keys[0]
            .iter()
            .map(|k| k.data_type(&spec.inputs[0]))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(evaluate)?;
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect()).map_err(arrow)?;
        let versions = HashMap::with_hasher(RandomState::with_seed(0));
        Ok(Self { spec, converter, key_types, versions, pending: Vec::new(), watermark: i64::MIN })
    }

    /// The key columns of `batch` of input `side`, in the stream keys' types.
    fn keys(&self, side: usize, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        common::key_columns(&self.spec.keys[side], &self.key_types, batch)
    }

    /// The times of `batch` of input `side`, in milliseconds.
    fn times(&self, side: usize, batch: &RecordBatch) -> Result<ArrayRef> {
        cast(batch.column(self.spec.time[side]), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(arrow)
    }

    /// Holds every row of `batch` as a version of its key.
    fn add_versions(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = self.keys(1, batch)?;
        let rows = self.converter.convert_columns(&keys).map_err(arrow)?;
        let ts = self.times(1, batch)?;
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        for r in 0..batch.num_rows() {
            if ts.is_null(r) || keys.iter().any(|k| k.is_null(r)) {
                continue;
            }
            let t = ts.value(r);
            let versions = self.versions.entry(rows.row(r).as_ref().into()).or_default();
            // Equal times: the one that came later wins (it goes after).
            let at = versions.partition_point(|(v, _)| *v <= t);
            versions.insert(at, (t, batch.slice(r, 1)));
        }
        Ok(())
    }

    /// Joins `batch`'s rows (all of whose times the watermark has passed).
    fn join(&self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        let keys = self.keys(0, batch)?;
        let rows = self.converter.convert_columns(&keys).map_err(arrow)?;
        let ts = self.times(0, batch)?;
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let mut probe: Vec<u32> = Vec::new();
        let mut found: Vec<RecordBatch> = Vec::new();
        for r in 0..n {
            if ts.is_null(r) || keys.iter().any(|k| k.is_null(r)) {
                continue;
            }
            let Some(versions) = self.versions.get(rows.row(r).as_ref()) else { continue };
            let valid = versions.partition_point(|(v, _)| *v <= ts.value(r));
            if let Some((_, version)) = valid.checked_sub(1).and_then(|i| versions.get(i)) {
                if self.is_deletion(version) {
                    continue;
                }
                probe.push(r as u32);
                found.push(version.clone());
            }
        }
        let mut joined = vec![false; n];
        if !probe.is_empty() {
            let indices = UInt32Array::from(probe.clone());
            let left: Vec<ArrayRef> = batch.columns().iter().map(|c| take(c, &indices, None).map_err(arrow)).collect::<Result<_>>()?;
            let right = concat_batches(&self.spec.inputs[1], &found).map_err(arrow)?;
            let columns = left.into_iter().chain(right.columns().iter().cloned()).collect();
            let pairs = RecordBatch::try_new(Arc::clone(&self.spec.schema), columns).map_err(arrow)?;
            let accepted = common::accepted(self.spec.filter.as_ref(), &pairs)?;
            for (k, &r) in probe.iter().enumerate() {
                joined[r as usize] = accepted.value(k);
            }
            let emitted = filter_record_batch(&pairs, &accepted).map_err(arrow)?;
            if emitted.num_rows() > 0 {
                out.push(emitted);
            }
        }
        if self.spec.kind.keeps_unmatched(0) {
            let alone: Vec<u32> = (0..n as u32).filter(|&r| !joined[r as usize]).collect();
            if !alone.is_empty() {
                let indices = UInt32Array::from(alone);
                let mut columns: Vec<ArrayRef> = batch.columns().iter().map(|c| take(c, &indices, None).map_err(arrow)).collect::<Result<_>>()?;
                let nulls = self.spec.inputs[1].fields().iter().map(|f| datafusion::arrow::array::new_null_array(f.data_type(), indices.len()));
                columns.extend(nulls);
                out.push(RecordBatch::try_new(Arc::clone(&self.spec.schema), columns).map_err(arrow)?);
            }
        }
        Ok(())
    }

    /// Joins the waiting rows the watermark has passed (all of them with
    /// `all`), keeps the others waiting.
    fn release(&mut self, all: bool, out: &mut Vec<RecordBatch>) -> Result<()> {
        let watermark = self.watermark;
        for batch in std::mem::take(&mut self.pending) {
            let ts = self.times(0, &batch)?;
            let ts = ts.as_primitive::<TimestampMillisecondType>();
            // A NULL time joins nothing: it goes now.
            let ready = BooleanArray::from_iter(ts.iter().map(|t| Some(all || t.is_none_or(|t| t < watermark))));
            if ready.true_count() == batch.num_rows() {
                self.join(&batch, out)?;
                continue;
            }
            let waiting = filter_record_batch(&batch, &datafusion::arrow::compute::not(&ready).map_err(arrow)?).map_err(arrow)?;
            self.join(&filter_record_batch(&batch, &ready).map_err(arrow)?, out)?;
            self.pending.push(waiting);
        }
        Ok(())
    }

    /// The earliest time a waiting row has, or `i64::MAX`.
    fn earliest_pending(&self) -> Result<i64> {
        let mut earliest = i64::MAX;
        for batch in &self.pending {
            let ts = self.times(0, batch)?;
            if let Some(t) = datafusion::arrow::compute::min(ts.as_primitive::<TimestampMillisecondType>()) {
                earliest = earliest.min(t);
            }
        }
        Ok(earliest)
    }

    /// Whether `version` (one row) deletes its key.
    fn is_deletion(&self, version: &RecordBatch) -> bool {
        self.spec.deleted.is_some_and(|c| deletes(c, version))
    }

    /// Frees each key's versions that a newer one replaces for every row
    /// still to be joined (times from `low` on), and the keys left with
    /// only a deletion.
    fn prune(&mut self, low: i64) {
        let deleted = self.spec.deleted;
        for versions in self.versions.values_mut() {
            let valid = versions.partition_point(|(v, _)| *v <= low);
            if valid > 1 {
                versions.drain(..valid - 1);
            }
        }
        if let Some(c) = deleted {
            self.versions.retain(|_, versions| match versions.as_slice() {
                [(t, only)] if *t <= low => !deletes(c, only),
                _ => true,
            });
        }
    }

    /// Versions held.
    pub fn held(&self) -> usize {
        self.versions.values().map(Vec::len).sum()
    }
}

impl Operator for TemporalJoin {
    fn held_rows(&self) -> Option<u64> {
        let waiting: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        Some((self.held() + waiting) as u64)
    }

    fn name(&self) -> &str {
        "temporal join"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.process_input(0, batch, out)
    }

    fn process_input(&mut self, input: usize, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        if input == 0 {
            // Checked now, so a row that cannot be joined fails on arrival.
            self.keys(0, &batch)?;
            self.times(0, &batch)?;
            self.pending.push(batch);
            return Ok(());
        }
        self.add_versions(&batch)
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = watermark;
        self.release(false, out)?;
        let low = self.earliest_pending()?.min(watermark);
        self.prune(low);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.release(true, out)?;
        self.versions.clear();
        Ok(())
    }

    fn retained(&self) -> Option<i64> {
        let pending = self.earliest_pending().unwrap_or(i64::MIN);
        let versions = self.versions.values().filter_map(|v| v.first().map(|(t, _)| *t)).min().unwrap_or(i64::MAX);
        let low = pending.min(versions);
        (low != i64::MAX).then_some(low)
    }

    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        // The watermark, then the waiting rows and the versions, each one
        // Arrow IPC stream; keys and times are evaluated again on restore.
        let mut bytes = self.watermark.to_le_bytes().to_vec();
        let versions: Vec<RecordBatch> = self.versions.values().flat_map(|v| v.iter().map(|(_, b)| b.clone())).collect();
        for (schema, batches) in [(&self.spec.inputs[0], &self.pending), (&self.spec.inputs[1], &versions)] {
            common::write_batch(&mut bytes, concat_batches(schema, batches).map_err(arrow)?)?;
        }
        Ok(Some(StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        let mut reader = Reader::new("temporal join", &snapshot, SNAPSHOT_VERSION)?;
        let watermark = reader.i64()?;
        let mut saved = Vec::with_capacity(2);
        for side in 0..2 {
            let batch = reader.batch()?;
            let width = self.spec.inputs[side].fields().len();
            if batch.num_columns() != width {
                return Err(reader.bad(format!("input {side} has {} columns, the join's {width}", batch.num_columns())));
            }
            saved.push(batch);
        }
        self.versions.clear();
        self.add_versions(&saved[1])?;
        self.pending = if saved[0].num_rows() > 0 { vec![saved.swap_remove(0)] } else { Vec::new() };
        self.watermark = watermark;
        Ok(())
    }
}

/// The encoding of [`TemporalJoin`]'s snapshots.
const SNAPSHOT_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::Column;

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    fn join(kind: JoinKind) -> TemporalJoin {
        let mut fields: Vec<Field> = input().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        fields.extend(fields.clone());
        let key = || vec![Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>];
        let spec = TemporalJoinSpec { kind, keys: [key(), key()], time: [1, 1], filter: None, deleted: None, inputs: [input(), input()], schema: Arc::new(Schema::new(fields)) };
        TemporalJoin::new(spec).expect("join")
    }

    fn batch(rows: &[(Option<i64>, i64, i64)]) -> RecordBatch {
        let k = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let ts = TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        let v = Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>());
        RecordBatch::try_new(input(), vec![Arc::new(k), Arc::new(ts), Arc::new(v)]).expect("batch")
    }

    /// Each step: an input's batch, then a watermark.
    fn steps() -> Vec<(usize, RecordBatch, i64)> {
        vec![
            (1, batch(&[(Some(1), 100, 10), (Some(2), 100, 20)]), 0),
            (0, batch(&[(Some(1), 150, 1), (Some(1), 250, 2), (None, 260, 3), (Some(3), 270, 4)]), 120),
            // A version of key 1 at 200: the row at 250 must see it.
            (1, batch(&[(Some(1), 200, 11)]), 200),
            (0, batch(&[(Some(2), 300, 5), (Some(1), 210, 6)]), 260),
            (1, batch(&[(Some(2), 280, 21)]), 400),
        ]
    }

    fn run(kind: JoinKind, snapshot_after: Option<usize>) -> Vec<(i64, i64)> {
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
        // (the stream row's v, the version's v or -1)
        let mut pairs: Vec<(i64, i64)> = out
            .iter()
            .flat_map(|b| {
                let (l, r) = (b.column(2).as_primitive::<datafusion::arrow::datatypes::Int64Type>(), b.column(5).as_primitive::<datafusion::arrow::datatypes::Int64Type>());
                (0..b.num_rows()).map(move |i| (l.value(i), if r.is_null(i) { -1 } else { r.value(i) })).collect::<Vec<_>>()
            })
            .collect();
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn each_row_joins_the_version_valid_at_its_time() {
        // 1@150 -> 10; 1@250 -> 11 (the version at 200); 2@300 -> 21 (at 280);
        // 1@210 -> 11; NULL key and key 3 have none.
        assert_eq!(run(JoinKind::Inner, None), vec![(1, 10), (2, 11), (5, 21), (6, 11)]);
        assert_eq!(run(JoinKind::Left, None), vec![(1, 10), (2, 11), (3, -1), (4, -1), (5, 21), (6, 11)]);
    }

    #[test]
    fn a_restored_snapshot_continues_as_if_uninterrupted() {
        for kind in [JoinKind::Inner, JoinKind::Left] {
            let whole = run(kind, None);
            for at in 0..steps().len() {
                assert_eq!(run(kind, Some(at)), whole, "{kind:?}, snapshot after step {at}");
            }
        }
    }

    #[test]
    fn replaced_versions_are_freed() {
        let mut op = join(JoinKind::Inner);
        let mut out = Vec::new();
        op.process_input(1, batch(&[(Some(1), 100, 1), (Some(1), 200, 2), (Some(1), 300, 3)]), &mut out).expect("versions");
        op.on_watermark(250, &mut out).expect("watermark");
        // No row can come before 250 any more: the version at 100 is gone.
        assert_eq!(op.held(), 2);
    }

    /// Versions with a deletion marker (column 3): (key, time, value, deleted).
    fn upserts(rows: &[(i64, i64, Option<i64>, bool)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("v", DataType::Int64, true),
            Field::new("d", DataType::Boolean, false),
        ]));
        let k = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let ts = TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        let v = Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>());
        let d = BooleanArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
        RecordBatch::try_new(schema, vec![Arc::new(k), Arc::new(ts), Arc::new(v), Arc::new(d)]).expect("batch")
    }

    #[test]
    fn a_deletion_leaves_its_key_without_a_version_until_the_next() {
        let versions = upserts(&[(1, 100, Some(10), false), (1, 200, None, true), (1, 300, Some(12), false), (2, 100, Some(20), false), (2, 150, None, true)]);
        let mut fields: Vec<Field> = input().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        fields.extend(versions.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)));
        let key = || vec![Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>];
        let spec = TemporalJoinSpec {
            kind: JoinKind::Left,
            keys: [key(), key()],
            time: [1, 1],
            filter: None,
            deleted: Some(3),
            inputs: [input(), versions.schema()],
            schema: Arc::new(Schema::new(fields)),
        };
        let mut op = TemporalJoin::new(spec).expect("join");
        let mut out = Vec::new();
        op.process_input(1, versions, &mut out).expect("versions");
        op.process_input(0, batch(&[(Some(1), 150, 1), (Some(1), 250, 2), (Some(1), 350, 3), (Some(2), 120, 4), (Some(2), 160, 5)]), &mut out).expect("rows");
        op.on_watermark(400, &mut out).expect("watermark");
        let mut pairs: Vec<(i64, Option<i64>)> = out
            .iter()
            .flat_map(|b| {
                let (l, r) = (b.column(2).as_primitive::<datafusion::arrow::datatypes::Int64Type>(), b.column(5).as_primitive::<datafusion::arrow::datatypes::Int64Type>());
                (0..b.num_rows()).map(move |i| (l.value(i), r.is_valid(i).then(|| r.value(i)))).collect::<Vec<_>>()
            })
            .collect();
        pairs.sort_unstable();
        // 1@250 and 2@160 fall after their key's deletion: no version.
        assert_eq!(pairs, vec![(1, Some(10)), (2, None), (3, Some(12)), (4, Some(20)), (5, None)]);
        // Key 2 is left with only its deletion: freed.
        assert_eq!(op.held(), 1);
    }
}
