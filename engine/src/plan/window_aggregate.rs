//! `window aggregate`: `GROUP BY window_start, window_end, keys...`,
//! emitted when the watermark passes each window's end.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::window::{AggregateSpec, GroupColumn, WindowAggregate as Aggregate, WindowKind};

use super::node::{Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// Windowed aggregates, keyed across workers by the group keys.
#[derive(Debug, Clone)]
pub(crate) struct WindowAggregate {
    /// The windows (sessions merge per key).
    pub kind: WindowKind,
    /// Index of `window_start` in the input.
    pub start: usize,
    /// Index of `window_end` in the input.
    pub end: usize,
    /// Key expressions over the input.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Their text.
    pub key_texts: Vec<String>,
    /// The GROUP BY columns in output order.
    pub layout: Vec<GroupColumn>,
    /// The aggregates.
    pub aggregates: Vec<AggregateSpec>,
    /// Their text.
    pub aggregate_texts: Vec<String>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for WindowAggregate {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let groups: Vec<String> = self
            .layout
            .iter()
            .map(|g| match g {
                GroupColumn::WindowStart => "window_start".to_string(),
                GroupColumn::WindowEnd => "window_end".to_string(),
                GroupColumn::Key(i) => self.key_texts.get(*i).cloned().unwrap_or_default(),
            })
            .collect();
        format!(
            "window aggregate ({}, emitted when the watermark passes window_end) group by {}: {}",
            self.kind,
            groups.join(", "),
            self.aggregate_texts.join(", ")
        )
    }

    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::Keys { exprs: self.keys.clone(), texts: self.key_texts.clone(), unit: None }
    }

    fn latency_column(&self) -> Option<usize> {
        self.layout.iter().position(|g| *g == GroupColumn::WindowEnd)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let input_schema = super::input_schema(node);
        let op = Aggregate::new(
            self.kind,
            self.start,
            self.end,
            self.keys.clone(),
            self.layout.clone(),
            self.aggregates.clone(),
            &input_schema,
            Arc::clone(&self.schema),
        );
        build.operator(node, inputs, op.map(|op| Box::new(op) as _).map_err(|e| build.operator_error(e)))
    }
}
