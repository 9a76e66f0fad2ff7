//! Filter: keeps the rows for which a predicate is true (SQL `WHERE`).
//!
//! NULL counts as false, as in SQL. Empty results are not forwarded, so a
//! selective filter does not flood downstream operators with empty batches.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{filter_record_batch, prep_null_mask_filter};
use datafusion::physical_expr::PhysicalExpr;

use crate::{Operator, OperatorError, Result};

/// Keeps rows where `predicate` evaluates to true.
#[derive(Debug)]
pub struct Filter {
    predicate: Arc<dyn PhysicalExpr>,
}

impl Filter {
    /// A filter on a boolean predicate over the input schema.
    pub fn new(predicate: Arc<dyn PhysicalExpr>) -> Self {
        Self { predicate }
    }
}

impl Operator for Filter {
    /// Stateless: nothing to checkpoint.
    fn snapshot(&mut self) -> crate::Result<Option<crate::StateSnapshot>> {
        Ok(None)
    }

    fn name(&self) -> &str {
        "filter"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let mask = self
            .predicate
            .evaluate(&batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|source| OperatorError::Evaluate { operator: "filter".into(), source })?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| OperatorError::NotBoolean { data_type: mask.data_type().to_string() })?;
        let selected = mask.true_count();
        if selected == batch.num_rows() {
            out.push(batch);
        } else if selected > 0 {
            let mask = if mask.null_count() > 0 { prep_null_mask_filter(mask) } else { mask.clone() };
            let filtered = filter_record_batch(&batch, &mask)
                .map_err(|source| OperatorError::Arrow { operator: "filter".into(), source })?;
            out.push(filtered);
        }
        Ok(())
    }
}
