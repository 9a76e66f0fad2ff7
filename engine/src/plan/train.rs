//! `train`: `INSERT INTO model SELECT ...`, test-then-train on every row.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;

use super::node::{column_name, Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// Trains a model, exchanged by the model's key; produces its
/// `ML_METRICS` rows (and, with a drift detector, its alerts).
#[derive(Debug, Clone)]
pub(crate) struct Train {
    /// The model.
    pub model: String,
    /// Index of the key column in the input (`partition_by`).
    pub key: Option<usize>,
    /// Indices of the feature columns, in the model's INPUT order.
    pub features: Vec<usize>,
    /// Index of the label column.
    pub label: usize,
    /// The event-time column, when the query has one with a watermark:
    /// rows are then learned in its order as the watermark passes them.
    pub time: Option<usize>,
    /// The output schema: `ML_METRICS` rows.
    pub schema: SchemaRef,
}

impl PlanOp for Train {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, inputs: &[Node]) -> String {
        let name = |i: &usize| inputs.first().map(|n| column_name(n, *i)).unwrap_or_default();
        let features: Vec<String> = self.features.iter().map(name).collect();
        let order = match &self.time {
            Some(t) => format!("in {} order per key, as the watermark passes each row", name(t)),
            None => "in arrival order".to_string(),
        };
        format!("train {} (test-then-train, {order}): features [{}], label {}", self.model, features.join(", "), name(&self.label))
    }

    fn exchange(&self, inputs: &[Node]) -> Exchange {
        super::model_key(inputs, self.key, "model")
    }

    fn trains(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        // A model that did not open has already failed the run.
        let Some(state) = build.model(&self.model) else { return build.empty() };
        let mut op = weir_operators::Train::new(state, self.key, self.features.clone(), self.label);
        if let Some(t) = self.time {
            op = op.in_event_time_order(t);
        }
        build.operator(node, inputs, Ok(Box::new(op)))
    }
}

/// The root of a query that trains a model scored in event time: the
/// planner has moved the query under the model's `ML_PREDICT`, which
/// learns from it; this passes on the metrics (and alerts) it emits there.
#[derive(Debug, Clone)]
pub(crate) struct TrainedInScoring {
    /// The model.
    pub model: String,
    /// The output schema: `ML_METRICS` rows.
    pub schema: SchemaRef,
}

impl PlanOp for TrainedInScoring {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        format!("train {} in its ml_predict (scoring in event time): the metrics of the rows it learns there", self.model)
    }

    fn trains(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, _node: &Node, _inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        match build.trained(&self.model) {
            Some(stream) => stream,
            None => build.fail(crate::EngineError::Runtime(format!("the ML_PREDICT that trains '{}' was not built first", self.model))),
        }
    }
}
