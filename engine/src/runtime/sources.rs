//! The source operator: polls one split of a table's connector, adds the
//! computed columns, advances the watermark, and commits the split's
//! positions as the sinks catch up.
//!
//! A split may read several partitions (Kafka's), and each has its own
//! watermark: the largest watermark value of the rows read from it. The
//! split's watermark is the minimum over its partitions, leaving out
//! partitions that ended (bounded reads) and, with `'idle_timeout'` (or
//! Flink's `'scan.watermark.idle-timeout'`), partitions that have had no
//! rows for that long; when every partition is idle, the split takes the
//! most advanced watermark of the pipeline. A row is late when its event
//! time is at or before the split's watermark as it stood when the row was
//! read (Flink's rule, per row rather than periodic, so that with one
//! partition which rows are late depends only on the data). For a table
//! with a watermark, every batch carries a hidden last column,
//! [`LATE_COLUMN`], that says so; windows read only the rows where it is
//! false, stateless queries read every row. The operator's capability
//! follows the watermark, so downstream frontiers are event time. A table
//! without a watermark advances its capability by one per poll that read
//! rows: a sequence, not a time, so that commits can follow its rows.
//!
//! Commits: every batch's time, latest event time and partition position
//! are queued, and a position is committed once `progress` says every row
//! before it is safe (delivered by every sink, held by no operator).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source as timely_source;
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;
use weir_connectors::{Polled, Position, Source, SourceStatus, Split};
use weir_operators::Batch;

use super::failed::Place;
use super::shared::Shared;
use super::time::{at, Time};
use super::BatchStream;
use crate::checkpoint::{Part, Who};
use crate::plan::{Pipeline, SourcePlan};
use crate::EngineError;

/// Polls per activation, so one busy source cannot starve the others.
const POLLS_PER_ACTIVATION: usize = 1;
/// The longest an idle source sleeps before checking the stop flag again.
const MAX_IDLE: Duration = Duration::from_millis(100);
/// How long a source waits while the exchanges are full (see `flow`).
const BACKOFF: Duration = Duration::from_millis(2);
/// How often a source tries to commit its positions.
const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Queued batches per partition before the newest are merged.
const QUEUED: usize = 4096;
/// Rows per commit step within a batch, where the source gives each row's
/// position: a commit can stop inside a batch, at this granularity.
const CHUNK: usize = 64;

/// One partition of a split: its watermark and what awaits a commit.
struct Partition {
    watermark: i64,
    last_rows: Instant,
    /// Batches read and not yet committed, oldest first.
    queue: VecDeque<Queued>,
    /// The position after the last batch read.
    read: Option<i64>,
    /// The position last committed.
    committed: Option<i64>,
}

/// A batch a source emitted, as far as commits care.
struct Queued {
    /// The timely time it was emitted at.
    time: u64,
    /// The latest event time among its rows (`i64::MIN` without one).
    latest: i64,
    /// The partition's position after it.
    position: i64,
}

impl Partition {
    fn new() -> Self {
        Self { watermark: i64::MIN, last_rows: Instant::now(), queue: VecDeque::new(), read: None, committed: None }
    }

    /// Records a batch read; `queued`: kept for the at-least-once commits
    /// (with checkpoints, commits follow them and only the position counts).
    fn queue(&mut self, entry: Queued, queued: bool) {
        self.read = Some(entry.position);
        if !queued {
            return;
        }
        let full = self.queue.len() >= QUEUED;
        match self.queue.back_mut() {
            // Full: merge into the newest (later time, later event time),
            // which only delays that commit.
            Some(last) if full => {
                last.time = last.time.max(entry.time);
                last.latest = last.latest.max(entry.latest);
                last.position = entry.position;
            }
            _ => self.queue.push_back(entry),
        }
    }

    /// Pops the batches that are safe and returns the position to commit.
    fn safe(&mut self, synced: u64, retained: i64) -> Option<i64> {
        let mut position = None;
        while let Some(q) = self.queue.front() {
            if q.time >= synced || q.latest >= retained {
                break;
            }
            position = Some(q.position);
            self.queue.pop_front();
        }
        let position = position.filter(|p| self.committed.is_none_or(|c| *p > c))?;
        self.committed = Some(position);
        Some(position)
    }
}

/// The watermark state of one split.
struct Watermarks {
    partitions: Vec<Partition>,
    /// The split's watermark: never goes back.
    combined: i64,
}

impl Watermarks {
    /// The minimum watermark of the partitions other than `except` that
    /// still hold the split back.
    fn others(&self, except: usize, active: &[bool]) -> i64 {
        self.partitions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != except && active[*i])
            .map(|(_, p)| p.watermark)
            .min()
            .unwrap_or(i64::MAX)
    }
}

/// Refuses to checkpoint a pipeline that reads a table whose connector
/// cannot resume from a position.
pub(super) fn check_resumable(pipeline: &Pipeline) -> crate::Result<()> {
    match pipeline.sources.iter().find(|s| !s.spec.resumable()) {
        Some(s) => Err(EngineError::Checkpoint(format!(
            "table '{}' ({}) cannot resume from a checkpoint; checkpoints need every source to (file, generator, nexmark, kafka)",
            s.table,
            s.spec.describe()
        ))),
        None => Ok(()),
    }
}

/// A source's part of a checkpoint: its reader's position and its
/// partitions' watermarks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct SourceState {
    position: Position,
    /// Each partition's watermark.
    watermarks: Vec<i64>,
    /// The split's watermark.
    combined: i64,
}

impl SourceState {
    fn part(&self) -> Part {
        Part::meta(serde_json::to_value(self).unwrap_or(serde_json::Value::Null))
    }
}

/// This split's state now, if its reader has a position.
fn source_state(reader: &dyn Source, marks: &Watermarks) -> Option<SourceState> {
    Some(SourceState {
        position: reader.position()?,
        watermarks: marks.partitions.iter().map(|p| p.watermark).collect(),
        combined: marks.combined,
    })
}

/// Builds the source operator for `plan` on this worker.
pub(super) fn source<'s>(scope: Scope<'s, Time>, plan: &SourcePlan, split: Split, shared: Arc<Shared>) -> BatchStream<'s> {
    let table = plan.table.clone();
    let spec = Arc::clone(&plan.spec);
    let computed: Vec<_> = plan.computed.iter().map(|c| Arc::clone(&c.expr)).collect();
    let time = plan.watermark.as_ref().and_then(|w| plan.schema.index_of(&w.column).ok());
    let watermark = plan
        .watermark
        .as_ref()
        .map(|w| Watermark { expr: Arc::clone(&w.expr), fixed: w.delay.and_then(|delay| time.map(|column| (column, delay))) });
    let schema = Arc::clone(&plan.schema);
    let with_late = with_late_column(&plan.schema);
    let late_rows = shared.rows_late.contains_key(&plan.table);
    let idle_timeout = plan.idle_timeout;
    let bad = shared.bad.get(&table).cloned().unwrap_or_else(|| Arc::new(weir_connectors::BadRecords::new(&table)));
    let place = Place { statement: format!("CREATE TABLE {table}"), operator: format!("{table}/computed columns") };
    let who = Who {
        id: format!("source {table} worker {}", split.worker),
        what: format!("CREATE TABLE {table} (its reader on worker {})", split.worker),
        signature: spec.describe(),
    };
    let mut restored: Option<SourceState> = shared.checkpoints.register_meta(&who).unwrap_or_else(|e| {
        shared.fail(e);
        None
    });
    let checkpoints = Arc::clone(&shared.checkpoints);
    let start = checkpoints.start();
    timely_source::<_, CapacityContainerBuilder<Vec<Batch>>, _, _>(scope, &format!("source {table}"), move |cap, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = Some(cap);
        let mut reader: Option<Box<dyn Source>> = None;
        // Positions reported to checkpoints not yet complete, to commit
        // (Kafka offsets) once they are.
        let mut to_commit: VecDeque<(u64, Vec<(usize, i64)>)> = VecDeque::new();
        // The capability starts at 0, so rows at or before the epoch are late.
        let mut marks = Watermarks { partitions: Vec::new(), combined: 0 };
        let mut polled: Vec<Polled> = Vec::new();
        let mut committed_at = Instant::now();
        shared.clock.advance(&table, split.worker, 0);
        move |output| {
            let Some(capability) = cap.as_mut() else { return };
            if shared.stopping() {
                release(&mut cap, &mut reader, &marks, &shared, &table, split.worker);
                return;
            }
            if reader.is_none() {
                if !checkpoints.ready() {
                    // Every worker restores before any source reads.
                    activator.activate_after(Duration::from_millis(1));
                    return;
                }
                let opened = spec.open(split, Arc::clone(&bad), &shared.cancel).and_then(|mut r| {
                    if let Some(state) = &restored {
                        r.resume(&state.position)?;
                    }
                    Ok(r)
                });
                match opened {
                    Ok(r) => {
                        marks.partitions = (0..r.partitions().max(1)).map(|_| Partition::new()).collect();
                        if let Some(state) = restored.take() {
                            for (p, w) in marks.partitions.iter_mut().zip(&state.watermarks) {
                                p.watermark = *w;
                            }
                            marks.combined = state.combined;
                        }
                        let resumed = if watermark.is_some() { marks.combined.max(0) as u64 } else { capability.time().inner };
                        capability.downgrade(&at(start.max(capability.time().outer), resumed.max(capability.time().inner)));
                        if watermark.is_some() {
                            shared.clock.advance(&table, split.worker, resumed);
                        }
                        reader = Some(r);
                    }
                    Err(source) => {
                        shared.fail(EngineError::Connector { table: table.clone(), source });
                        release(&mut cap, &mut reader, &marks, &shared, &table, split.worker);
                        return;
                    }
                }
            }
            let Some(r) = reader.as_mut() else { return };
            // A checkpoint was asked for: what was emitted so far is
            // before its cut, what follows is after.
            let requested = checkpoints.requested();
            if requested > capability.time().outer {
                match source_state(r.as_ref(), &marks) {
                    Some(state) => checkpoints.report(requested, &who.id, state.part()),
                    None => shared.fail(EngineError::Checkpoint(format!("{}: its reader has no position", who.what))),
                }
                let read = marks.partitions.iter().enumerate().filter_map(|(i, p)| p.read.map(|pos| (i, pos))).collect();
                to_commit.push_back((requested, read));
                capability.downgrade(&at(requested, capability.time().inner));
            }
            if shared.in_flight.full() {
                // Back-pressure: consumers are behind; read again shortly. A
                // partition that waits for them is not idle.
                let now = Instant::now();
                marks.partitions.iter_mut().for_each(|p| p.last_rows = now);
                activator.activate_after(BACKOFF);
                return;
            }
            // Which partitions had ended before this poll: one that ends in
            // it still holds the watermark back until its last rows are in.
            let ended = ended_partitions(r.as_ref(), marks.partitions.len());
            let mut status = SourceStatus::Active;
            for _ in 0..POLLS_PER_ACTIVATION {
                match r.poll_partitioned(&mut polled) {
                    Ok(SourceStatus::Active) => {}
                    Ok(other) => {
                        status = other;
                        break;
                    }
                    Err(source) => {
                        shared.fail(EngineError::Connector { table: table.clone(), source });
                        release(&mut cap, &mut reader, &marks, &shared, &table, split.worker);
                        return;
                    }
                }
            }
            let now = Instant::now();
            let active = |marks: &Watermarks, ended: &[bool]| -> Vec<bool> {
                (0..marks.partitions.len())
                    .map(|i| {
                        !ended.get(i).copied().unwrap_or(false)
                            && idle_timeout.is_none_or(|idle| now.duration_since(marks.partitions[i].last_rows) < idle)
                    })
                    .collect()
            };
            let mut read_any = false;
            let emitted_at = capability.time().inner;
            {
                let mut session = output.session(&*capability);
                for Polled { partition, batch, position, row_positions } in polled.drain(..) {
                    let rows = batch.num_rows() as u64;
                    let partition = partition.min(marks.partitions.len().saturating_sub(1));
                    let mut latest = i64::MIN;
                    let mut chunks: Vec<i64> = Vec::new();
                    if rows > 0 {
                        read_any = true;
                        marks.partitions[partition].last_rows = now;
                        // Computed columns and the watermark expression run
                        // under the row-level policy: a row they fail on is
                        // handled there, the others go on.
                        let evaluated = evaluate(&batch, &computed, &schema, watermark.as_ref(), (&table, &place), &shared);
                        let (full, values) = match evaluated {
                            Ok(v) => v,
                            Err(e) => {
                                shared.fail(e);
                                activator.activate();
                                return;
                            }
                        };
                        let full = match (values, time) {
                            (Some(values), Some(time)) => {
                                let others = marks.others(partition, &active(&marks, &ended));
                                let Watermarks { partitions, combined } = &mut marks;
                                let mark = Marks { own: &mut partitions[partition].watermark, others, combined };
                                match mark_late(&values, time, &full, &with_late, mark) {
                                    Ok((b, late, maxima)) => {
                                        latest = maxima.iter().copied().max().unwrap_or(i64::MIN);
                                        chunks = maxima;
                                        if late > 0
                                            && late_rows
                                            && let Some(counter) = shared.rows_late.get(&table)
                                        {
                                            counter.fetch_add(late, Ordering::Relaxed);
                                        }
                                        b
                                    }
                                    Err(e) => {
                                        shared.fail(EngineError::Runtime(format!("table '{table}': watermark: {e}")));
                                        activator.activate();
                                        return;
                                    }
                                }
                            }
                            _ => full,
                        };
                        if let Some(counter) = shared.rows_read.get(&table) {
                            counter.fetch_add(rows, Ordering::Relaxed);
                        }
                        if full.num_rows() > 0 {
                            session.give(Batch(full));
                        }
                    }
                    let p = &mut marks.partitions[partition];
                    if row_positions.len() == rows as usize && chunks.len() == row_positions.len().div_ceil(CHUNK) {
                        for (chunk, latest) in row_positions.chunks(CHUNK).zip(&chunks) {
                            if let Some(&position) = chunk.last() {
                                p.queue(Queued { time: emitted_at, latest: *latest, position }, !checkpoints.on());
                            }
                        }
                        latest = i64::MIN; // only the messages after the last row remain
                    }
                    if let Some(position) = position {
                        p.queue(Queued { time: emitted_at, latest, position }, !checkpoints.on());
                    }
                }
            }
            let next = if watermark.is_some() {
                let ended = ended_partitions(r.as_ref(), marks.partitions.len());
                let active = active(&marks, &ended);
                let held = marks.partitions.iter().zip(&active).filter(|(_, a)| **a).map(|(p, _)| p.watermark).min();
                let idle = idle_timeout.is_some() && !read_any;
                match held {
                    Some(w) => marks.combined = marks.combined.max(w),
                    // Every partition is idle: stop holding the other inputs
                    // back by taking the most advanced watermark of the
                    // pipeline. Rows that arrive later and are behind it
                    // are late, as in Flink.
                    None if idle => marks.combined = marks.combined.max(shared.max_watermark.load(Ordering::Relaxed)),
                    None => {}
                }
                marks.combined.max(0) as u64
            } else if read_any {
                emitted_at.saturating_add(1)
            } else {
                emitted_at
            };
            if next > capability.time().inner {
                capability.downgrade(&at(capability.time().outer, next));
                if watermark.is_some() {
                    shared.clock.advance(&table, split.worker, next);
                    shared.max_watermark.fetch_max(marks.combined, Ordering::Relaxed);
                }
            }
            if committed_at.elapsed() >= COMMIT_EVERY {
                committed_at = Instant::now();
                if watermark.is_some() {
                    let ended = ended_partitions(r.as_ref(), marks.partitions.len());
                    let active = active(&marks, &ended);
                    watermark_metrics(&shared, &table, split.worker, r.as_ref(), &marks, &active);
                }
                let positions: Vec<(usize, i64)> = if checkpoints.on() {
                    // Exactly once: what a complete checkpoint covers.
                    let completed = checkpoints.completed();
                    let mut positions = Vec::new();
                    while to_commit.front().is_some_and(|(id, _)| *id <= completed) {
                        if let Some((_, read)) = to_commit.pop_front() {
                            positions = read;
                        }
                    }
                    positions
                } else {
                    let synced = shared.progress.synced_frontier();
                    let retained = shared.progress.retained(synced);
                    marks.partitions.iter_mut().enumerate().filter_map(|(i, p)| p.safe(synced, retained).map(|pos| (i, pos))).collect()
                };
                if let Err(source) = r.commit(&positions, false) {
                    shared.fail(EngineError::Connector { table: table.clone(), source });
                }
            }
            match status {
                SourceStatus::Active => activator.activate(),
                SourceStatus::Idle(wait) => activator.activate_after(wait.min(MAX_IDLE)),
                SourceStatus::Finished => {
                    if let Some(state) = source_state(r.as_ref(), &marks) {
                        checkpoints.finished(&who.id, state.part());
                    }
                    release(&mut cap, &mut reader, &marks, &shared, &table, split.worker)
                }
            }
        }
    })
}

/// Which of a reader's partitions have ended.
fn ended_partitions(r: &dyn Source, partitions: usize) -> Vec<bool> {
    (0..partitions).map(|i| r.partition_finished(i)).collect()
}

/// Publishes each partition's watermark and idle state.
fn watermark_metrics(shared: &Shared, table: &str, worker: usize, r: &dyn Source, marks: &Watermarks, active: &[bool]) {
    let label = |i: usize| r.partition_label(i).unwrap_or_else(|| format!("worker {worker}"));
    for (i, p) in marks.partitions.iter().enumerate() {
        shared.metrics.watermark(table, &label(i), p.watermark, !active.get(i).copied().unwrap_or(true));
    }
    for (i, lag) in r.lag() {
        shared.metrics.lag(table, &label(i), lag);
    }
}

/// Drops the split's capability, so it no longer holds the watermark back,
/// and hands the reader over for the final commit of everything it read.
fn release(
    cap: &mut Option<Capability<Time>>,
    reader: &mut Option<Box<dyn Source>>,
    marks: &Watermarks,
    shared: &Shared,
    table: &str,
    worker: usize,
) {
    if cap.take().is_some() {
        shared.clock.advance(table, worker, u64::MAX);
    }
    if let Some(r) = reader.take() {
        let active = vec![true; marks.partitions.len()];
        watermark_metrics(shared, table, worker, r.as_ref(), marks, &active);
        let read = marks.partitions.iter().enumerate().filter_map(|(i, p)| p.read.map(|pos| (i, pos))).collect();
        shared.progress.finish(table, r, read);
    }
}

/// Appends the computed columns to a connector batch and evaluates the
/// watermark expression, under the row-level policy; returns the rows that
/// evaluated with their watermark values (as epoch-ms timestamps).
fn evaluate(
    batch: &RecordBatch,
    computed: &[Arc<dyn PhysicalExpr>],
    schema: &SchemaRef,
    watermark: Option<&Watermark>,
    (table, place): (&str, &Place),
    shared: &Shared,
) -> crate::Result<(RecordBatch, Option<ArrayRef>)> {
    let wrap = move |e: weir_operators::OperatorError| EngineError::Runtime(format!("table '{table}': {e}"));
    fn evaluate<T>(what: &str, r: datafusion::error::Result<T>) -> weir_operators::Result<T> {
        r.map_err(|source| weir_operators::OperatorError::Evaluate { operator: what.into(), source })
    }
    let parts = shared.failed.guard(place, batch, &mut |b| {
        let full = evaluate("computed columns", with_computed(b, computed, schema))?;
        let values = match watermark {
            Some(w) => Some(evaluate("watermark", watermark_values(w, &full))?),
            None => None,
        };
        Ok((full, values))
    }, &wrap)?;
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Ok((RecordBatch::new_empty(Arc::clone(schema)), watermark.map(|_| datafusion::arrow::array::new_empty_array(&ms()))));
    };
    let rest: Vec<(RecordBatch, Option<ArrayRef>)> = parts.collect();
    if rest.is_empty() {
        return Ok(first);
    }
    // Rows failed: join the parts that evaluated.
    let all: Vec<(RecordBatch, Option<ArrayRef>)> = std::iter::once(first).chain(rest).collect();
    let arrow = |e: datafusion::arrow::error::ArrowError| EngineError::Runtime(format!("joining evaluated rows: {e}"));
    let full = datafusion::arrow::compute::concat_batches(schema, all.iter().map(|(b, _)| b)).map_err(arrow)?;
    let values = match watermark {
        Some(_) => {
            let arrays: Vec<&dyn Array> = all.iter().filter_map(|(_, v)| v.as_deref()).collect();
            Some(datafusion::arrow::compute::concat(&arrays).map_err(arrow)?)
        }
        None => None,
    };
    Ok((full, values))
}

/// The Arrow type of watermark values.
fn ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Appends the computed columns to a connector batch.
fn with_computed(
    batch: &RecordBatch,
    computed: &[Arc<dyn PhysicalExpr>],
    schema: &SchemaRef,
) -> datafusion::error::Result<RecordBatch> {
    if computed.is_empty() {
        return Ok(batch.clone());
    }
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for expr in computed {
        columns.push(expr.evaluate(batch)?.into_array(rows)?);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A source's watermark expression, and its fixed delay where it has one.
struct Watermark {
    expr: Arc<dyn PhysicalExpr>,
    /// The event-time column's index and the delay in its unit
    /// ([`WatermarkPlan::delay`](crate::plan::WatermarkPlan::delay)).
    fixed: Option<(usize, i64)>,
}

/// The watermark expression's value for every row, as epoch milliseconds:
/// an integer subtraction for a fixed delay (checked, as DataFusion's is;
/// nulls stay null), the expression otherwise.
fn watermark_values(w: &Watermark, batch: &RecordBatch) -> datafusion::error::Result<ArrayRef> {
    let values = match w.fixed {
        Some((column, delay)) => {
            let time = batch.column(column);
            let ticks = cast(time, &DataType::Int64)?;
            let delay = datafusion::arrow::array::Int64Array::new_scalar(delay);
            cast(&datafusion::arrow::compute::kernels::numeric::sub(&ticks, &delay)?, time.data_type())?
        }
        None => w.expr.evaluate(batch)?.into_array(batch.num_rows())?,
    };
    Ok(cast(&values, &ms())?)
}

/// The hidden column that marks rows behind the watermark.
pub(crate) const LATE_COLUMN: &str = "__weir_late";

/// A table's schema with the hidden [`LATE_COLUMN`] appended.
pub(super) fn with_late_column(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(LATE_COLUMN, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// The watermarks one batch advances: its partition's own, the minimum of
/// the split's other partitions, and the split's.
struct Marks<'a> {
    own: &'a mut i64,
    others: i64,
    combined: &'a mut i64,
}

/// Appends [`LATE_COLUMN`] to a batch, advancing the watermarks row by
/// row; returns the batch, how many rows were late and the latest event
/// time of each [`CHUNK`] of rows. A row without an event time cannot be
/// placed in any window and counts as late.
fn mark_late(
    values: &ArrayRef,
    time: usize,
    batch: &RecordBatch,
    schema: &SchemaRef,
    marks: Marks<'_>,
) -> datafusion::error::Result<(RecordBatch, u64, Vec<i64>)> {
    let rows = batch.num_rows();
    let values = values.as_primitive::<TimestampMillisecondType>();
    let times = cast(batch.column(time), &ms())?;
    let times = times.as_primitive::<TimestampMillisecondType>();
    let mut late = Vec::with_capacity(rows);
    let mut count = 0;
    let mut latest = vec![i64::MIN; rows.div_ceil(CHUNK)];
    for i in 0..rows {
        let is_late = times.is_null(i) || times.value(i) <= *marks.combined;
        if times.is_valid(i) {
            latest[i / CHUNK] = latest[i / CHUNK].max(times.value(i));
        }
        count += u64::from(is_late);
        late.push(is_late);
        if values.is_valid(i) {
            *marks.own = (*marks.own).max(values.value(i));
            *marks.combined = (*marks.combined).max((*marks.own).min(marks.others));
        }
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(BooleanArray::from(late)));
    Ok((RecordBatch::try_new(Arc::clone(schema), columns)?, count, latest))
}
