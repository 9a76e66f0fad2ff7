//! `empty`: a query the planner proved produces no rows (`WHERE false`).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;

use super::node::{Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// No rows, of this schema.
#[derive(Debug, Clone)]
pub(crate) struct Empty {
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Empty {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        "empty (the query can produce no rows)".to_string()
    }

    fn build<'s>(&self, build: &Build<'_, 's>, _node: &Node, _inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        build.empty()
    }
}
