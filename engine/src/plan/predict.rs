//! `ml_predict`: `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))`.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;

use super::node::{column_name, Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// The input's rows with `prediction` (and `probability`) appended,
/// exchanged by the model's key.
///
/// A model scored in event time (`'scoring' = 'event-time'`) also learns
/// here: the planner moves the query that trains it under this node as its
/// second input, and this node's operator scores and learns in event-time
/// order, passing the training query's metrics on to it.
#[derive(Debug, Clone)]
pub(crate) struct Predict {
    /// The model.
    pub model: String,
    /// Index of the key column in the input (`partition_by`).
    pub key: Option<usize>,
    /// Indices of the feature columns, in the model's INPUT order.
    pub features: Vec<usize>,
    /// The input's event-time column, when it has one with a watermark.
    pub time: Option<usize>,
    /// In event time: how the second input, the training query's rows,
    /// trains the model (its event time is set).
    pub learns: Option<super::Train>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Predict {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, inputs: &[Node]) -> String {
        let name = |input: usize, i: usize| inputs.get(input).map(|n| column_name(n, i)).unwrap_or_default();
        let features: Vec<String> = self.features.iter().map(|i| name(0, *i)).collect();
        match (&self.learns, self.time) {
            (Some(train), Some(t)) => format!(
                "ml_predict {} (in event time: each row by {} once the watermark passes it, with the model of the training rows before it; then learns the second input's rows, label {}, test-then-train): features [{}]",
                self.model,
                name(0, t),
                name(1, train.label),
                features.join(", ")
            ),
            _ => format!("ml_predict {}: features [{}]", self.model, features.join(", ")),
        }
    }

    fn exchange(&self, inputs: &[Node]) -> Exchange {
        let Some(train) = &self.learns else { return super::model_key(inputs, self.key, "model") };
        let schema = |i: usize| inputs.get(i).map(Node::schema).unwrap_or_else(|| Arc::clone(&self.schema));
        let (scored, training) = (schema(0), schema(1));
        let texts = self.key.zip(inputs.first()).map(|(k, n)| column_name(n, k)).into_iter().collect();
        Exchange::PerInput {
            exprs: vec![crate::planner::key_exprs(&scored, self.key), crate::planner::key_exprs(&training, train.key)],
            texts,
        }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::passes_through(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        // A model that did not open has already failed the run.
        let Some(state) = build.model(&self.model) else { return build.empty() };
        let op = weir_operators::Predict::new(Arc::clone(&state), self.key, self.features.clone(), Arc::clone(&self.schema));
        let (Some(train), Some(time)) = (&self.learns, self.time) else {
            return build.operator(node, inputs, Ok(Box::new(op)));
        };
        let Some(train_time) = train.time else {
            return build.fail(crate::EngineError::Runtime(format!("the query that trains '{}' has no event time", self.model)));
        };
        let learner = weir_operators::Train::new(state, train.key, train.features.clone(), train.label);
        let op = weir_operators::EventTimePredict::new(op, time, learner, train_time);
        let out = build.operator(node, inputs, Ok(Box::new(op)));
        // The training query's metrics and alerts, for its INSERT and
        // ML_METRICS; the scored rows go on.
        build.set_trained(&self.model, super::metrics::schema_filter(build, out.clone(), &self.schema, false));
        super::metrics::schema_filter(build, out, &self.schema, true)
    }
}
