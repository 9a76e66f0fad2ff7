//! `union all`: the rows of every input, relabelled to one schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::Project;

use super::node::{Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// `UNION ALL` of its inputs.
#[derive(Debug, Clone)]
pub(crate) struct Union {
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Union {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        "union all".to_string()
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        (0..inputs.len()).map(|i| (i, index)).collect()
    }

    fn build<'s>(&self, build: &Build<'_, 's>, _node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let relabelled = inputs
            .into_iter()
            .map(|stream| {
                // Each input keeps its own column names; the union's win.
                let exprs = self
                    .schema
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(n, f)| Arc::new(Column::new(f.name(), n)) as Arc<dyn PhysicalExpr>)
                    .collect();
                build.apply(stream, "relabel", Box::new(Project::new(exprs, Arc::clone(&self.schema))))
            })
            .collect();
        build.concatenate(relabelled)
    }
}
