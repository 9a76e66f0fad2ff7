//! Rows that wait for the watermark, then go on in event-time order.
//!
//! Operators whose result depends on the order of their rows (a model's
//! training, an event-time scorer, a point drift detector) hold the rows
//! until the watermark passes them and then take them sorted by time, ties
//! broken by the rows' own columns: the order is then the same on every
//! run, for any number of workers and after a restore, instead of the
//! order in which rows of several readers happen to arrive.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::boolean::not;
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, lexsort_to_indices, take, SortColumn};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};

use crate::error::{OperatorError, Result};

/// Rows waiting for the watermark, as the batches they came in, each with
/// its earliest event time: a watermark step looks only into the batches
/// it can release rows of, so rows far ahead of it (a file split read
/// ahead of another) are not copied again at every step.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Each batch with its earliest time (`None`: it has a NULL time).
    batches: Vec<(Option<i64>, RecordBatch)>,
}

impl Pending {
    /// Holds `batch`, whose event time is column `time`.
    pub(crate) fn push(&mut self, batch: RecordBatch, time: usize, operator: &str) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let earliest = millis(&batch, time, operator)?.into_iter().min().flatten();
        self.batches.push((earliest, batch));
        Ok(())
    }

    /// Whether no row waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// How many rows wait.
    pub(crate) fn rows(&self) -> u64 {
        self.batches.iter().map(|(_, b)| b.num_rows() as u64).sum()
    }

    /// Takes the rows at or before `watermark` (all with `None`), sorted
    /// by the `order` columns, the event time first (see [`take_ready`]).
    pub(crate) fn take_ready(&mut self, order: &[usize], watermark: Option<i64>, operator: &str) -> Result<Option<RecordBatch>> {
        let ready = |e: &Option<i64>| match (e, watermark) {
            (Some(e), Some(w)) => *e <= w,
            _ => true,
        };
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.batches).into_iter().partition(|(e, _)| ready(e));
        self.batches = later;
        let mut now: Vec<RecordBatch> = now.into_iter().map(|(_, b)| b).collect();
        let taken = take_ready(&mut now, order, watermark, operator)?;
        if let (Some(rest), Some(&time)) = (now.pop(), order.first()) {
            self.push(rest, time, operator)?;
        }
        Ok(taken)
    }

    /// Writes the waiting rows: a flag, then the rows as one batch.
    pub(crate) fn write(&self, bytes: &mut Vec<u8>, operator: &str) -> Result<()> {
        match self.batches.first() {
            Some((_, first)) => {
                bytes.push(1);
                let all = concat_batches(&first.schema(), self.batches.iter().map(|(_, b)| b))
                    .map_err(|source| OperatorError::Arrow { operator: operator.into(), source })?;
                crate::codec::write_batch(bytes, all)
            }
            None => {
                bytes.push(0);
                Ok(())
            }
        }
    }

    /// Reads what [`Pending::write`] wrote, with the event time in column
    /// `time` (`None` for an operator that holds no rows).
    pub(crate) fn read(reader: &mut crate::codec::Reader<'_>, time: Option<usize>, operator: &str) -> Result<Self> {
        let mut pending = Self::default();
        if reader.flag()? {
            let batch = reader.batch()?;
            match time {
                Some(t) => pending.push(batch, t, operator)?,
                None => return Err(reader.bad(format!("{} waiting rows but no event-time column", batch.num_rows()))),
            }
        }
        Ok(pending)
    }
}

/// Takes the rows of `pending` at or before `watermark` (all of them with
/// `None`; rows with a NULL time at once, first, since they can never be
/// ordered), sorted by the `order` columns, the event time first; the
/// others stay. `None` when no row is ready.
fn take_ready(pending: &mut Vec<RecordBatch>, order: &[usize], watermark: Option<i64>, operator: &str) -> Result<Option<RecordBatch>> {
    let (Some(&time), Some(first)) = (order.first(), pending.first()) else { return Ok(None) };
    let arrow = |source| OperatorError::Arrow { operator: operator.into(), source };
    let all = concat_batches(&first.schema(), pending.as_slice()).map_err(arrow)?;
    pending.clear();
    let ms = millis(&all, time, operator)?;
    let ready: BooleanArray = ms.iter().map(|t| Some(match (t, watermark) {
        (Some(t), Some(w)) => *t <= w,
        _ => true,
    })).collect();
    let (now, later) = (filter_record_batch(&all, &ready).map_err(arrow)?, filter_record_batch(&all, &not(&ready).map_err(arrow)?).map_err(arrow)?);
    if later.num_rows() > 0 {
        pending.push(later);
    }
    if now.num_rows() == 0 {
        return Ok(None);
    }
    let sort: Vec<SortColumn> = order.iter().map(|&c| SortColumn { values: Arc::clone(now.column(c)), options: None }).collect();
    let indices: UInt32Array = lexsort_to_indices(&sort, None).map_err(arrow)?;
    let columns = now.columns().iter().map(|c| take(c, &indices, None)).collect::<std::result::Result<Vec<_>, _>>().map_err(arrow)?;
    RecordBatch::try_new(now.schema(), columns).map(Some).map_err(arrow)
}

/// Column `time` of `batch` as epoch milliseconds (`None` where NULL).
pub(crate) fn millis(batch: &RecordBatch, time: usize, operator: &str) -> Result<Vec<Option<i64>>> {
    let ms = cast(batch.column(time), &DataType::Timestamp(TimeUnit::Millisecond, None))
        .map_err(|source| OperatorError::Arrow { operator: operator.into(), source })?;
    Ok(ms.as_primitive::<TimestampMillisecondType>().iter().collect())
}
