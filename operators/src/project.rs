//! Projection: evaluates one physical expression per output column.
//!
//! This is where `SELECT` lists, scalar functions, `CAST` and `CASE` run, on
//! whole batches. It also re-labels batches to a target schema (the output of
//! `UNION ALL`, or a sink's declared columns) when its expressions are plain
//! columns or casts.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use crate::{Operator, OperatorError, Result};

/// Evaluates a list of expressions into a batch of `schema`.
#[derive(Debug)]
pub struct Project {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

impl Project {
    /// A projection producing `schema`, one expression per field, in order.
    pub fn new(exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef) -> Self {
        Self { exprs, schema }
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Evaluates the projection on one batch.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = self
            .exprs
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(rows)))
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()
            .map_err(|source| OperatorError::Evaluate { operator: "project".into(), source })?;
        RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|source| OperatorError::Arrow { operator: "project".into(), source })
    }
}

impl Operator for Project {
    /// Stateless: nothing to checkpoint.
    fn snapshot(&mut self) -> crate::Result<Option<crate::StateSnapshot>> {
        Ok(None)
    }

    fn name(&self) -> &str {
        "project"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        out.push(self.evaluate(&batch)?);
        Ok(())
    }
}
