//! What the join operators share: evaluating keys and the join condition,
//! and reading their snapshots.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, prep_null_mask_filter};
use datafusion::arrow::datatypes::DataType;
use datafusion::physical_expr::PhysicalExpr;

use crate::{Batch, OperatorError, Result, StateSnapshot};

pub(super) fn arrow(source: datafusion::arrow::error::ArrowError) -> OperatorError {
    OperatorError::Arrow { operator: "join".into(), source }
}

pub(super) fn evaluate(source: datafusion::error::DataFusionError) -> OperatorError {
    OperatorError::Evaluate { operator: "join".into(), source }
}

/// The key columns `exprs` give on `batch`, cast to `types` (both inputs'
/// keys in one type, so equal values have equal row-format bytes).
pub(super) fn key_columns(exprs: &[Arc<dyn PhysicalExpr>], types: &[DataType], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    let n = batch.num_rows();
    let mut keys = Vec::with_capacity(exprs.len());
    for (expr, field) in exprs.iter().zip(types) {
        let array = expr.evaluate(batch).and_then(|v| v.into_array(n)).map_err(evaluate)?;
        keys.push(if array.data_type() == field { array } else { cast(&array, field).map_err(arrow)? });
    }
    Ok(keys)
}

/// Which candidate pairs the join's condition accepts (NULL: not).
pub(super) fn accepted(filter: Option<&Arc<dyn PhysicalExpr>>, pairs: &RecordBatch) -> Result<BooleanArray> {
    let Some(f) = filter else { return Ok(BooleanArray::from(vec![true; pairs.num_rows()])) };
    let mask = f.evaluate(pairs).and_then(|v| v.into_array(pairs.num_rows())).map_err(evaluate)?;
    let mask = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| OperatorError::NotBoolean { data_type: mask.data_type().to_string() })?
        .clone();
    Ok(if mask.null_count() > 0 { prep_null_mask_filter(&mask) } else { mask })
}

/// Appends `batch` to a snapshot as its length and an Arrow IPC stream.
pub(super) fn write_batch(bytes: &mut Vec<u8>, batch: RecordBatch) -> Result<()> {
    let ipc = Batch(batch).to_ipc().map_err(arrow)?;
    bytes.extend((ipc.len() as u64).to_le_bytes());
    bytes.extend(ipc);
    Ok(())
}

/// Reads a join's snapshot back, every shortfall an error naming it.
pub(super) struct Reader<'a> {
    operator: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `snapshot`, which must be of encoding `version`.
    pub(super) fn new(operator: &'static str, snapshot: &'a StateSnapshot, version: u32) -> Result<Self> {
        let reader = Self { operator, rest: &snapshot.bytes };
        if snapshot.version != version {
            return Err(reader.bad(format!("version {} (this build reads {version})", snapshot.version)));
        }
        Ok(reader)
    }

    /// A damaged-snapshot error.
    pub(super) fn bad(&self, reason: String) -> OperatorError {
        OperatorError::Snapshot { operator: self.operator.into(), reason }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.bad(format!("{} bytes short", n - self.rest.len())));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Eight little-endian bytes.
    pub(super) fn i64(&mut self) -> Result<i64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(word))
    }

    /// One byte, as a flag.
    pub(super) fn flag(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A batch [`write_batch`] wrote.
    pub(super) fn batch(&mut self) -> Result<RecordBatch> {
        let len = usize::try_from(self.i64()?).map_err(|e| self.bad(e.to_string()))?;
        let bytes = self.take(len)?;
        Ok(Batch::from_ipc(bytes).map_err(|e| self.bad(e.to_string()))?.0)
    }
}
