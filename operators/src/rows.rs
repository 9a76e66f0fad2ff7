//! Finding the rows an expression fails on, so that one bad row does not
//! stop a stream that runs for months.
//!
//! Expressions run on whole batches. When a batch fails with a row-level
//! error ([`OperatorError::is_row_error`]: a division by zero, a cast of
//! `'abc'` to INT), [`isolate`] halves the batch and evaluates the halves,
//! recursively, until each failing row stands alone: a batch with one bad
//! row among 8,192 costs about 26 more evaluations, and clean batches cost
//! nothing extra. The rows that evaluate are processed as they would have
//! been, in order; the failing ones are handed back with their error for
//! the engine's policy (count, log, dead-letter, or stop).
//!
//! This is only sound for work that a failure leaves undone: stateless
//! expressions, or an operator that evaluates its expressions before it
//! changes its state (see [`Operator::process`](crate::Operator::process)).

use datafusion::arrow::array::RecordBatch;

use crate::{OperatorError, Result};

/// A row an expression failed on.
#[derive(Debug, Clone)]
pub struct FailedRow {
    /// The row, as a batch of one row of the input's schema.
    pub row: RecordBatch,
    /// Why it failed.
    pub error: String,
}

/// What [`isolate`] found: the results of the parts that evaluated, in
/// row order, and the rows that failed.
#[derive(Debug)]
pub struct Isolated<T> {
    /// Results for consecutive runs of good rows, in order.
    pub ok: Vec<T>,
    /// The rows that failed, in order.
    pub failed: Vec<FailedRow>,
}

/// Runs `f` on `batch`; if it fails with a row-level error, finds the rows
/// it fails on by halving and runs it on the rest. Any other error is
/// returned as it is.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
/// use datafusion::arrow::datatypes::Int64Type;
/// use weir_operators::rows::isolate;
/// use weir_operators::OperatorError;
///
/// let batch = RecordBatch::try_from_iter([("d", Arc::new(Int64Array::from(vec![1, 2, 0, 4])) as _)])?;
/// // 100 / d, which fails where d is 0.
/// let found = isolate(&batch, &mut |b: &RecordBatch| {
///     let d = b.column(0).as_primitive::<Int64Type>();
///     if d.values().contains(&0) {
///         let source = datafusion::error::DataFusionError::ArrowError(
///             Box::new(datafusion::arrow::error::ArrowError::DivideByZero), None);
///         return Err(OperatorError::Evaluate { operator: "project".into(), source });
///     }
///     Ok(d.values().iter().map(|v| 100 / v).collect::<Vec<i64>>())
/// })?;
/// assert_eq!(found.ok.concat(), vec![100, 50, 25]);
/// assert_eq!(found.failed.len(), 1);
/// assert!(found.failed[0].error.contains("Divide by zero"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn isolate<T>(batch: &RecordBatch, f: &mut dyn FnMut(&RecordBatch) -> Result<T>) -> Result<Isolated<T>> {
    let mut found = Isolated { ok: Vec::new(), failed: Vec::new() };
    split(batch, f, &mut found)?;
    Ok(found)
}

fn split<T>(batch: &RecordBatch, f: &mut dyn FnMut(&RecordBatch) -> Result<T>, found: &mut Isolated<T>) -> Result<()> {
    if batch.num_rows() == 0 {
        return Ok(());
    }
    match f(batch) {
        Ok(v) => {
            found.ok.push(v);
            Ok(())
        }
        Err(e) if e.is_row_error() && batch.num_rows() == 1 => {
            found.failed.push(FailedRow { row: batch.clone(), error: e.row_message() });
            Ok(())
        }
        Err(e) if e.is_row_error() => {
            let half = batch.num_rows() / 2;
            split(&batch.slice(0, half), f, found)?;
            split(&batch.slice(half, batch.num_rows() - half), f, found)
        }
        Err(e) => Err(e),
    }
}

impl OperatorError {
    /// Whether this error is about the values of some rows (evaluating an
    /// expression failed), so that the other rows of the batch are fine.
    pub fn is_row_error(&self) -> bool {
        matches!(self, OperatorError::Evaluate { .. })
    }

    /// The error as said of one row: DataFusion's message without its
    /// category prefix or backtrace.
    pub fn row_message(&self) -> String {
        match self {
            OperatorError::Evaluate { source, .. } => {
                let text = source.find_root().strip_backtrace();
                for prefix in ["Arrow error: ", "Execution error: ", "Compute error: ", "Cast error: "] {
                    if let Some(rest) = text.strip_prefix(prefix) {
                        return rest.to_string();
                    }
                }
                text
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use std::sync::Arc;

    fn fail_on_zero(b: &RecordBatch) -> Result<Vec<i64>> {
        let d = b.column(0).as_primitive::<Int64Type>();
        if d.values().contains(&0) {
            let source = datafusion::error::DataFusionError::Execution("zero".into());
            return Err(OperatorError::Evaluate { operator: "t".into(), source });
        }
        Ok(d.values().to_vec())
    }

    #[test]
    fn every_failing_row_is_found_and_the_rest_kept_in_order() {
        for zeros in [vec![], vec![0], vec![4999], vec![0, 1, 2, 3], (0..5000).step_by(7).collect::<Vec<_>>(), (0..5000).collect()] {
            let values: Vec<i64> = (0..5000).map(|i| if zeros.contains(&i) { 0 } else { i as i64 + 1 }).collect();
            let batch = RecordBatch::try_from_iter([("d", Arc::new(Int64Array::from(values.clone())) as _)]).unwrap();
            let mut calls = 0;
            let found = isolate(&batch, &mut |b| {
                calls += 1;
                fail_on_zero(b)
            })
            .unwrap();
            let kept: Vec<i64> = values.iter().copied().filter(|v| *v != 0).collect();
            assert_eq!(found.ok.concat(), kept);
            assert_eq!(found.failed.len(), zeros.len());
            assert!(found.failed.iter().all(|f| f.row.num_rows() == 1 && f.error == "zero"));
            if zeros.len() == 1 {
                assert!(calls <= 2 * 14, "{calls} evaluations for one bad row");
            }
        }
    }

    #[test]
    fn other_errors_are_returned() {
        let batch = RecordBatch::try_from_iter([("d", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap();
        let err = isolate::<()>(&batch, &mut |_| Err(OperatorError::NotBoolean { data_type: "Int64".into() })).unwrap_err();
        assert!(matches!(err, OperatorError::NotBoolean { .. }));
    }
}
