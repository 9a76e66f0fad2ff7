//! `over`: `LAG` and running aggregates `OVER (PARTITION BY keys ORDER BY
//! ts ...)`, in event-time order per key.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::{OverAggregate, OverFunction};

use super::node::{column_name, Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// The input's columns plus one per function, emitted as the watermark
/// passes each row.
#[derive(Debug, Clone)]
pub(crate) struct Over {
    /// `PARTITION BY` expressions over the input.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Their text.
    pub key_texts: Vec<String>,
    /// Index of the event-time column in the input.
    pub time: usize,
    /// The functions.
    pub functions: Vec<OverFunction>,
    /// Their text.
    pub texts: Vec<String>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Over {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, inputs: &[Node]) -> String {
        let column = inputs.first().map(|i| column_name(i, self.time)).unwrap_or_default();
        format!("over (in {column} order per key, emitted when the watermark passes each row): {}", self.texts.join(", "))
    }

    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::Keys { exprs: self.keys.clone(), texts: self.key_texts.clone(), unit: None }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::passes_through(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let op = OverAggregate::new(self.keys.clone(), self.time, self.functions.clone(), super::input_schema(node), Arc::clone(&self.schema));
        build.operator(node, inputs, op.map(|op| Box::new(op) as _).map_err(|e| build.operator_error(e)))
    }
}
