//! What the join operators share: evaluating keys and the join condition,
//! and reading their snapshots.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, prep_null_mask_filter};
use datafusion::arrow::datatypes::DataType;
use datafusion::physical_expr::PhysicalExpr;

use crate::{OperatorError, Result};

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

pub(super) use crate::codec::{write_batch, Reader};
