//! The source operator: polls one split of a table's connector, adds the
//! computed columns, and advances the watermark.
//!
//! The watermark of a split advances row by row: a row is behind the
//! watermark (late) when its event time is at or before the largest
//! watermark value of the rows read before it in the same split (Flink's
//! rule, per source instance, but per row rather than periodic, so which
//! rows are late depends only on the data and the split, never on timing).
//! For a table with a watermark, every batch carries a hidden last column,
//! [`LATE_COLUMN`], that says so; windows read only the rows where it is
//! false, stateless queries read every row. The operator's capability
//! follows the watermark, so downstream frontiers are event time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source as timely_source;
use timely::dataflow::Scope;
use weir_connectors::{Source, SourceStatus, Split};
use weir_operators::Batch;

use super::shared::Shared;
use super::BatchStream;
use crate::plan::SourcePlan;
use crate::EngineError;

/// Polls per activation, so one busy source cannot starve the others.
const POLLS_PER_ACTIVATION: usize = 1;
/// The longest an idle source sleeps before checking the stop flag again.
const MAX_IDLE: Duration = Duration::from_millis(100);

/// Builds the source operator for `plan` on this worker.
pub(super) fn source<'s>(scope: Scope<'s, u64>, plan: &SourcePlan, split: Split, shared: Arc<Shared>) -> BatchStream<'s> {
    let table = plan.table.clone();
    let spec = Arc::clone(&plan.spec);
    let computed: Vec<_> = plan.computed.iter().map(|c| Arc::clone(&c.expr)).collect();
    let watermark = plan.watermark.as_ref().map(|w| Arc::clone(&w.expr));
    let schema = Arc::clone(&plan.schema);
    let time = plan.watermark.as_ref().and_then(|w| plan.schema.index_of(&w.column).ok());
    let with_late = with_late_column(&plan.schema);
    let late_rows = shared.rows_late.contains_key(&plan.table);
    // The capability starts at 0, so rows at or before the epoch are late.
    let mut split_watermark = 0i64;
    let idle_timeout = plan.idle_timeout;
    let mut last_rows = Instant::now();
    let bad = shared.bad.get(&table).cloned().unwrap_or_else(|| Arc::new(weir_connectors::BadRecords::new(&table)));
    timely_source::<_, CapacityContainerBuilder<Vec<Batch>>, _, _>(scope, &format!("source {table}"), move |cap, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = Some(cap);
        let mut reader: Option<Box<dyn Source>> = None;
        let mut batches = Vec::new();
        shared.clock.advance(&table, split.worker, 0);
        move |output| {
            let Some(capability) = cap.as_mut() else { return };
            if shared.stopping() {
                release(&mut cap, &shared, &table, split.worker);
                return;
            }
            if reader.is_none() {
                match spec.open(split, Arc::clone(&bad)) {
                    Ok(r) => reader = Some(r),
                    Err(source) => {
                        shared.fail(EngineError::Connector { table: table.clone(), source });
                        release(&mut cap, &shared, &table, split.worker);
                        return;
                    }
                }
            }
            let Some(r) = reader.as_mut() else { return };
            let mut status = SourceStatus::Active;
            for _ in 0..POLLS_PER_ACTIVATION {
                match r.poll(&mut batches) {
                    Ok(SourceStatus::Active) => {}
                    Ok(other) => {
                        status = other;
                        break;
                    }
                    Err(source) => {
                        shared.fail(EngineError::Connector { table: table.clone(), source });
                        release(&mut cap, &shared, &table, split.worker);
                        return;
                    }
                }
            }
            let read_any = batches.iter().any(|b| b.num_rows() > 0);
            {
                let mut session = output.session(&*capability);
                for batch in batches.drain(..) {
                    let rows = batch.num_rows() as u64;
                    if rows == 0 {
                        continue;
                    }
                    let full = match with_computed(batch, &computed, &schema) {
                        Ok(b) => b,
                        Err(e) => {
                            shared.fail(EngineError::Runtime(format!("table '{table}': computed column: {e}")));
                            activator.activate();
                            return;
                        }
                    };
                    let full = match (&watermark, time) {
                        (Some(w), Some(time)) => match mark_late(w.as_ref(), time, &full, &with_late, &mut split_watermark) {
                            Ok((b, late)) => {
                                if late > 0 && late_rows {
                                    if let Some(counter) = shared.rows_late.get(&table) {
                                        counter.fetch_add(late, Ordering::Relaxed);
                                    }
                                }
                                b
                            }
                            Err(e) => {
                                shared.fail(EngineError::Runtime(format!("table '{table}': watermark: {e}")));
                                activator.activate();
                                return;
                            }
                        },
                        _ => full,
                    };
                    if let Some(counter) = shared.rows_read.get(&table) {
                        counter.fetch_add(rows, Ordering::Relaxed);
                    }
                    session.give(Batch(full));
                }
            }
            if read_any {
                last_rows = Instant::now();
            } else if idle_timeout.is_some_and(|idle| last_rows.elapsed() >= idle) {
                // Idle: stop holding the other inputs back by taking the
                // most advanced watermark of the pipeline. Rows that arrive
                // later and are behind it are late, as in Flink.
                split_watermark = split_watermark.max(shared.max_watermark.load(Ordering::Relaxed));
            }
            let time = split_watermark.max(0) as u64;
            if time > *capability.time() {
                capability.downgrade(&time);
                shared.clock.advance(&table, split.worker, time);
                shared.max_watermark.fetch_max(split_watermark, Ordering::Relaxed);
            }
            match status {
                SourceStatus::Active => activator.activate(),
                SourceStatus::Idle(wait) => activator.activate_after(wait.min(MAX_IDLE)),
                SourceStatus::Finished => release(&mut cap, &shared, &table, split.worker),
            }
        }
    })
}

/// Drops the split's capability: it no longer holds the watermark back.
fn release(cap: &mut Option<timely::dataflow::operators::Capability<u64>>, shared: &Shared, table: &str, worker: usize) {
    if cap.take().is_some() {
        shared.clock.advance(table, worker, u64::MAX);
    }
}

/// Appends the computed columns to a connector batch.
fn with_computed(
    batch: RecordBatch,
    computed: &[Arc<dyn datafusion::physical_expr::PhysicalExpr>],
    schema: &datafusion::arrow::datatypes::SchemaRef,
) -> datafusion::error::Result<RecordBatch> {
    if computed.is_empty() {
        return Ok(batch);
    }
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for expr in computed {
        columns.push(expr.evaluate(&batch)?.into_array(rows)?);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The hidden column that marks rows behind the watermark.
pub(super) const LATE_COLUMN: &str = "__weir_late";

/// A table's schema with the hidden [`LATE_COLUMN`] appended.
pub(super) fn with_late_column(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(LATE_COLUMN, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// Appends [`LATE_COLUMN`] to a batch, advancing the split's watermark row
/// by row; returns the batch and how many rows were late. A row without an
/// event time cannot be placed in any window and counts as late.
fn mark_late(
    expr: &dyn datafusion::physical_expr::PhysicalExpr,
    time: usize,
    batch: &RecordBatch,
    schema: &SchemaRef,
    watermark: &mut i64,
) -> datafusion::error::Result<(RecordBatch, u64)> {
    let rows = batch.num_rows();
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    let marks = cast(&expr.evaluate(batch)?.into_array(rows)?, &ms)?;
    let marks = marks.as_primitive::<TimestampMillisecondType>();
    let times = cast(batch.column(time), &ms)?;
    let times = times.as_primitive::<TimestampMillisecondType>();
    let mut late = Vec::with_capacity(rows);
    let mut count = 0;
    for i in 0..rows {
        let is_late = times.is_null(i) || times.value(i) <= *watermark;
        count += u64::from(is_late);
        late.push(is_late);
        if marks.is_valid(i) {
            *watermark = (*watermark).max(marks.value(i));
        }
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(BooleanArray::from(late)));
    Ok((RecordBatch::try_new(Arc::clone(schema), columns)?, count))
}
