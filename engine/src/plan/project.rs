//! `project`: a `SELECT` list, one expression per output column.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::Project as Projection;

use super::node::{Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// One expression per output column, evaluated batch by batch.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    /// One per output column.
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// Their text, for plans.
    pub texts: Vec<String>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Project {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let items: Vec<String> = self
            .texts
            .iter()
            .zip(self.schema.fields())
            .map(|(t, f)| if t == f.name() { t.clone() } else { format!("{t} AS {}", f.name()) })
            .collect();
        format!("project {}", items.join(", "))
    }

    fn copies(&self, index: usize, _inputs: &[Node]) -> Vec<(usize, usize)> {
        match self.exprs.get(index).and_then(|e| e.downcast_ref::<Column>()) {
            Some(column) => vec![(0, column.index())],
            None => Vec::new(),
        }
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        build.operator(node, inputs, Ok(Box::new(Projection::new(self.exprs.clone(), Arc::clone(&self.schema)))))
    }
}
