//! The row-level error policy: what happens to a row whose expression
//! fails at run time (`SET 'pipeline.on-error'`).
//!
//! Under `'skip'` (the default) the failing rows of a batch are found by
//! [`weir_operators::rows::isolate`], counted in `weir_rows_failed_total`
//! per operator, logged (the first few with their row), kept as examples
//! for the run's summary, and written with their error to the dead-letter
//! table when the pipeline names one (`'pipeline.dead-letter.table'`); the
//! other rows go on as if nothing happened. Under `'fail'` the first
//! failure stops the pipeline, as before. Dead letters are written and
//! synced as they happen: they are rare, and a source commits past a row
//! only once its dead letter is safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use weir_connectors::{Sink, Split};
use weir_operators::rows::{isolate, FailedRow};
use weir_operators::{Operator, OperatorError};

use crate::plan::{Pipeline, RowPolicy};
use crate::{lock, EngineError, Result};

/// Examples kept for the summary, and rows logged one by one.
const EXAMPLES: usize = 5;

/// The dead-letter table's writer.
struct DeadLetters {
    table: String,
    schema: datafusion::arrow::datatypes::SchemaRef,
    sink: Mutex<Option<Box<dyn Sink>>>,
}

/// A run's failed rows.
pub(crate) struct FailedRows {
    policy: RowPolicy,
    dead: Option<DeadLetters>,
    total: AtomicU64,
    examples: Mutex<Vec<String>>,
    pipeline: String,
}

/// Where a row failed: the statement and the operator.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// `INSERT INTO o (line 5)` or `CREATE TABLE t`.
    pub(crate) statement: String,
    /// The operator's metric label, `o/project`.
    pub(crate) operator: String,
}

impl FailedRows {
    /// Opens the dead-letter table, if the pipeline names one.
    pub(crate) fn open(pipeline: &Pipeline, name: &str, cancel: &weir_connectors::Cancel) -> Result<Self> {
        let dead = match &pipeline.settings.dead_letter {
            None => None,
            Some(d) => {
                let sink = d.spec.open(Split::WHOLE, cancel).map_err(|source| EngineError::Connector { table: d.table.clone(), source })?;
                Some(DeadLetters { table: d.table.clone(), schema: Arc::clone(&d.schema), sink: Mutex::new(Some(sink)) })
            }
        };
        Ok(Self { policy: pipeline.settings.on_error, dead, total: AtomicU64::new(0), examples: Mutex::new(Vec::new()), pipeline: name.to_string() })
    }

    /// Runs `f` on `batch` under the policy: with `'fail'` its error is
    /// returned; with `'skip'` the rows it fails on are handled here and
    /// the results of the others returned, in order.
    pub(crate) fn guard<T>(
        &self,
        place: &Place,
        batch: &RecordBatch,
        f: &mut dyn FnMut(&RecordBatch) -> weir_operators::Result<T>,
        wrap: &dyn Fn(OperatorError) -> EngineError,
    ) -> Result<Vec<T>> {
        if self.policy == RowPolicy::Fail {
            return f(batch).map(|v| vec![v]).map_err(wrap);
        }
        let found = isolate(batch, f).map_err(wrap)?;
        if !found.failed.is_empty() {
            self.handle(place, found.failed)?;
        }
        Ok(found.ok)
    }

    /// Processes `batch` with `op` under the policy (see
    /// [`Operator::process`] for why a part can be retried).
    pub(crate) fn process(
        &self,
        place: &Place,
        op: &mut dyn Operator,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
        wrap: &dyn Fn(OperatorError) -> EngineError,
    ) -> Result<()> {
        if self.policy == RowPolicy::Fail {
            return op.process(batch, out).map_err(wrap);
        }
        let parts = self.guard(place, &batch, &mut |b| {
            let mut o = Vec::new();
            op.process(b.clone(), &mut o)?;
            Ok(o)
        }, wrap)?;
        out.extend(parts.into_iter().flatten());
        Ok(())
    }

    /// Counts, logs and dead-letters failed rows.
    fn handle(&self, place: &Place, failed: Vec<FailedRow>) -> Result<()> {
        let n = failed.len() as u64;
        let before = self.total.fetch_add(n, Ordering::Relaxed);
        crate::metrics::metrics().rows_failed.with_label_values(&[self.pipeline.as_str(), place.operator.as_str()]).inc_by(n);
        let rows: Vec<String> = failed.iter().map(|f| row_json(&f.row)).collect();
        {
            let mut examples = lock(&self.examples);
            for (f, row) in failed.iter().zip(&rows) {
                if examples.len() < EXAMPLES {
                    examples.push(format!("{} / {}: {}; row {row}", place.statement, place.operator, f.error));
                }
            }
        }
        for (i, (f, row)) in failed.iter().zip(&rows).enumerate() {
            if before + (i as u64) < EXAMPLES as u64 {
                tracing::warn!(statement = %place.statement, operator = %place.operator, "a row failed and was skipped: {}; row {row}", f.error);
            }
        }
        let Some(dead) = &self.dead else { return Ok(()) };
        let at = chrono::Utc::now().timestamp_millis();
        let column = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
        let errors: Vec<&str> = failed.iter().map(|f| f.error.as_str()).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&dead.schema),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![at; failed.len()]).with_timezone("UTC")),
                column(vec![place.statement.as_str(); failed.len()]),
                column(vec![place.operator.as_str(); failed.len()]),
                column(errors),
                column(rows.iter().map(String::as_str).collect()),
            ],
        )
        .map_err(|e| EngineError::Runtime(format!("building dead letters: {e}")))?;
        let mut sink = lock(&dead.sink);
        let Some(writer) = sink.as_mut() else { return Ok(()) };
        writer
            .write(&batch)
            .and_then(|()| writer.sync())
            .map_err(|source| EngineError::Connector { table: dead.table.clone(), source })
    }

    /// Flushes the dead-letter table at the end of the run.
    pub(crate) fn finish(&self) -> Result<()> {
        let Some(dead) = &self.dead else { return Ok(()) };
        match lock(&dead.sink).take() {
            Some(mut writer) => writer.finish().map_err(|source| EngineError::Connector { table: dead.table.clone(), source }),
            None => Ok(()),
        }
    }

    /// How many rows failed.
    pub(crate) fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// A summary with the first examples, or `None` when no row failed.
    pub(crate) fn summary(&self) -> Option<String> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let whither = match &self.dead {
            Some(d) => format!("; written to the dead-letter table '{}'", d.table),
            None => String::new(),
        };
        let mut text = format!("{n} row{} failed and {} skipped{whither}", if n == 1 { "" } else { "s" }, if n == 1 { "was" } else { "were" });
        let examples = lock(&self.examples);
        for e in examples.iter() {
            text.push_str(&format!("\n  {e}"));
        }
        if n > examples.len() as u64 {
            text.push_str(&format!("\n  ... and {} more", n - examples.len() as u64));
        }
        Some(text)
    }
}

/// One row as a JSON object, for logs and dead letters.
fn row_json(row: &RecordBatch) -> String {
    let mut buf = Vec::new();
    match weir_connectors::encode::write_json(row, &mut buf) {
        Ok(()) => String::from_utf8_lossy(&buf).trim_end().to_string(),
        Err(e) => format!("(the row could not be written as JSON: {e})"),
    }
}
