//! `ml_predict`: `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))`.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;

use super::node::{column_name, Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// The input's rows with `prediction` (and `probability`) appended,
/// exchanged by the model's key.
#[derive(Debug, Clone)]
pub(crate) struct Predict {
    /// The model.
    pub model: String,
    /// Index of the key column in the input (`partition_by`).
    pub key: Option<usize>,
    /// Indices of the feature columns, in the model's INPUT order.
    pub features: Vec<usize>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl PlanOp for Predict {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, inputs: &[Node]) -> String {
        let features: Vec<String> =
            self.features.iter().map(|i| inputs.first().map(|n| column_name(n, *i)).unwrap_or_default()).collect();
        format!("ml_predict {}: features [{}]", self.model, features.join(", "))
    }

    fn exchange(&self, inputs: &[Node]) -> Exchange {
        super::model_key(inputs, self.key, "model")
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::passes_through(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        // A model that did not open has already failed the run.
        let Some(state) = build.model(&self.model) else { return build.empty() };
        let op = weir_operators::Predict::new(state, self.key, self.features.clone(), Arc::clone(&self.schema));
        build.operator(node, inputs, Ok(Box::new(op)))
    }
}
