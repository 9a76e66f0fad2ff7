//! Window assignment: appends `window_start` and `window_end` to every row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;

use super::{as_millis, millis, WindowKind};
use crate::{Operator, OperatorError, Result};

/// Appends the bounds of the window(s) each row belongs to.
///
/// Tumbling windows give each row one window; hopping and cumulating
/// windows repeat the row once per window; session windows give each row its own session
/// `[ts, ts + gap)`, which [`super::WindowAggregate`] merges per key. Rows
/// without a time are not in any window and are dropped (the source already
/// counts them as behind the watermark).
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
/// use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
/// use weir_operators::{Operator, window::{WindowAssign, WindowKind}};
///
/// let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
/// let input = Arc::new(Schema::new(vec![Field::new("ts", ts.clone(), false)]));
/// let output = Arc::new(Schema::new(vec![
///     Field::new("ts", ts.clone(), false),
///     Field::new("window_start", ts.clone(), false),
///     Field::new("window_end", ts, false),
/// ]));
/// let mut hop = WindowAssign::new(WindowKind::Hop { size: 10_000, slide: 5_000 }, 0, output);
/// let batch = RecordBatch::try_new(input, vec![Arc::new(TimestampMillisecondArray::from(vec![12_000]))])?;
/// let mut out = Vec::new();
/// hop.process(batch, &mut out)?;
/// assert_eq!(out[0].num_rows(), 2); // [5s, 15s) and [10s, 20s)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WindowAssign {
    kind: WindowKind,
    time: usize,
    schema: SchemaRef,
}

impl WindowAssign {
    /// Assigns windows of `kind` by the time column at index `time`;
    /// `schema` is the input's followed by `window_start` and `window_end`.
    pub fn new(kind: WindowKind, time: usize, schema: SchemaRef) -> Self {
        Self { kind, time, schema }
    }

    fn bounds(&self, ts: &ArrayRef) -> (Vec<u32>, Vec<i64>, Vec<i64>) {
        let valid = |i: usize| ts.is_valid(i);
        let values = as_millis(ts);
        let mut rows = Vec::with_capacity(values.len());
        let mut starts = Vec::with_capacity(values.len());
        let mut ends = Vec::with_capacity(values.len());
        for (i, &t) in values.iter().enumerate() {
            if !valid(i) {
                continue;
            }
            match self.kind {
                WindowKind::Tumble { size } => {
                    let start = t - t.rem_euclid(size);
                    rows.push(i as u32);
                    starts.push(start);
                    ends.push(start + size);
                }
                WindowKind::Hop { size, slide } => {
                    let mut start = t - t.rem_euclid(slide);
                    while start > t - size {
                        rows.push(i as u32);
                        starts.push(start);
                        ends.push(start + size);
                        start -= slide;
                    }
                }
                WindowKind::Cumulate { size, step } => {
                    let start = t - t.rem_euclid(size);
                    // The first end after t, then every step up to the size.
                    let mut end = start + (t - start) / step * step + step;
                    while end <= start + size {
                        rows.push(i as u32);
                        starts.push(start);
                        ends.push(end);
                        end += step;
                    }
                }
                WindowKind::Session { gap } => {
                    rows.push(i as u32);
                    starts.push(t);
                    ends.push(t + gap);
                }
            }
        }
        (rows, starts, ends)
    }
}

impl Operator for WindowAssign {
    /// Stateless: nothing to checkpoint.
    fn snapshot(&mut self) -> crate::Result<Option<crate::StateSnapshot>> {
        Ok(None)
    }

    fn name(&self) -> &str {
        "window assign"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let arrow = |source| OperatorError::Arrow { operator: "window assign".into(), source };
        let ts = millis(batch.column(self.time), "window assign")?;
        let (rows, starts, ends) = self.bounds(&ts);
        if rows.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = if rows.len() == batch.num_rows() {
            batch.columns().to_vec()
        } else {
            let indices = UInt32Array::from(rows);
            batch.columns().iter().map(|c| take(c.as_ref(), &indices, None)).collect::<Result<_, _>>().map_err(arrow)?
        };
        let zone = match self.schema.fields().last().map(|f| f.data_type()) {
            Some(datafusion::arrow::datatypes::DataType::Timestamp(_, zone)) => zone.clone(),
            _ => None,
        };
        columns.push(Arc::new(TimestampMillisecondArray::from(starts).with_timezone_opt(zone.clone())));
        columns.push(Arc::new(TimestampMillisecondArray::from(ends).with_timezone_opt(zone)));
        out.push(RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(arrow)?);
        Ok(())
    }
}
