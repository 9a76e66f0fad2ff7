//! The source operator: polls one split of a table's connector, adds the
//! computed columns, and advances the watermark.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, max};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
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
const POLLS_PER_ACTIVATION: usize = 8;
/// The longest an idle source sleeps before checking the stop flag again.
const MAX_IDLE: Duration = Duration::from_millis(100);

/// Builds the source operator for `plan` on this worker.
pub(super) fn source<'s>(scope: Scope<'s, u64>, plan: &SourcePlan, split: Split, shared: Arc<Shared>) -> BatchStream<'s> {
    let table = plan.table.clone();
    let spec = Arc::clone(&plan.spec);
    let computed: Vec<_> = plan.computed.iter().map(|c| Arc::clone(&c.expr)).collect();
    let watermark = plan.watermark.as_ref().map(|w| Arc::clone(&w.expr));
    let schema = Arc::clone(&plan.schema);
    let bad = shared.bad.get(&table).cloned().unwrap_or_else(|| Arc::new(weir_connectors::BadRecords::new(&table)));
    timely_source::<_, CapacityContainerBuilder<Vec<Batch>>, _, _>(scope, &format!("source {table}"), move |cap, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = Some(cap);
        let mut reader: Option<Box<dyn Source>> = None;
        let mut batches = Vec::new();
        move |output| {
            let Some(capability) = cap.as_mut() else { return };
            if shared.stopping() {
                cap = None;
                return;
            }
            if reader.is_none() {
                match spec.open(split, Arc::clone(&bad)) {
                    Ok(r) => reader = Some(r),
                    Err(source) => {
                        shared.fail(EngineError::Connector { table: table.clone(), source });
                        cap = None;
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
                        cap = None;
                        return;
                    }
                }
            }
            let mut high = None;
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
                            return;
                        }
                    };
                    if let Some(w) = &watermark {
                        match batch_watermark(w.as_ref(), &full) {
                            Ok(Some(t)) => high = Some(high.map_or(t, |h: i64| h.max(t))),
                            Ok(None) => {}
                            Err(e) => {
                                shared.fail(EngineError::Runtime(format!("table '{table}': watermark: {e}")));
                                return;
                            }
                        }
                    }
                    if let Some(counter) = shared.rows_read.get(&table) {
                        counter.fetch_add(rows, Ordering::Relaxed);
                    }
                    session.give(Batch(full));
                }
            }
            if let Some(high) = high {
                let time = high.max(0) as u64;
                if time > *capability.time() {
                    capability.downgrade(&time);
                }
            }
            match status {
                SourceStatus::Active => activator.activate(),
                SourceStatus::Idle(wait) => activator.activate_after(wait.min(MAX_IDLE)),
                SourceStatus::Finished => cap = None,
            }
        }
    })
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

/// The largest watermark value in a batch, in epoch milliseconds.
fn batch_watermark(
    expr: &dyn datafusion::physical_expr::PhysicalExpr,
    batch: &RecordBatch,
) -> datafusion::error::Result<Option<i64>> {
    let values = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    let millis = cast(&values, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    Ok(max(millis.as_primitive::<TimestampMillisecondType>()))
}
