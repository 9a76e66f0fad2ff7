//! `window`: a window function (`TUMBLE`, `HOP`, `SESSION`) assigning each
//! row its windows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use weir_operators::window::{WindowAssign as Assign, WindowKind};

use super::node::{column_name, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// The input's columns plus `window_start` and `window_end`: one row per
/// window a row falls in (sessions are merged later, per key).
#[derive(Debug, Clone)]
pub(crate) struct WindowAssign {
    /// The windows.
    pub kind: WindowKind,
    /// Index of the time column in the input.
    pub time: usize,
    /// `SESSION`'s `PARTITION BY` columns (sessions per partition key).
    pub partition: Vec<String>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for WindowAssign {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, inputs: &[Node]) -> String {
        let column = inputs.first().map(|i| column_name(i, self.time)).unwrap_or_default();
        match self.partition.as_slice() {
            [] => format!("window {} on {column}", self.kind),
            keys => format!("window {} on {column}, partition by {}", self.kind, keys.join(", ")),
        }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::passes_through(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        build.operator(node, inputs, Ok(Box::new(Assign::new(self.kind, self.time, Arc::clone(&self.schema)))))
    }
}
