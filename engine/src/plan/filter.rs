//! `filter`: `WHERE`.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::Filter as Predicate;

use super::node::{Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// The input's rows for which the predicate is true.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// The predicate.
    pub predicate: Arc<dyn PhysicalExpr>,
    /// Its text.
    pub text: String,
}

impl PlanOp for Filter {
    fn schema(&self, inputs: &[Node]) -> SchemaRef {
        super::input_schema_of(inputs)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        format!("filter {}", self.text)
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::passes_through(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        build.operator(node, inputs, Ok(Box::new(Predicate::new(Arc::clone(&self.predicate)))))
    }
}
