//! `ml_metrics` / `ml_alerts`: the rows a training query emits.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use weir_operators::Operator;

use super::node::{Node, PlanOp};
use crate::runtime::{BatchStream, Build};
use crate::EngineError;

/// `ML_METRICS(MODEL m)` or `ML_ALERTS(MODEL m)`: the metrics rows, or the
/// drift alerts, of the query that trains `m`.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    /// The model.
    pub model: String,
    /// `ML_ALERTS` (the model's detector's alerts) rather than `ML_METRICS`.
    pub alerts: bool,
    /// The output schema (`weir_operators::model::metrics_schema` or
    /// `weir_operators::drift::alerts_schema`).
    pub schema: SchemaRef,
}

impl PlanOp for Metrics {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        match self.alerts {
            false => format!("ml_metrics {} (per key, after each batch the model trains on)", self.model),
            true => format!("ml_alerts {} (its drift detector's alerts, per key, as the model trains)", self.model),
        }
    }

    fn build<'s>(&self, build: &Build<'_, 's>, _node: &Node, _inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        match build.trained(&self.model) {
            // The training query emits metrics and alert batches; keep one kind.
            Some(stream) => schema_filter(build, stream, &self.schema, true),
            None => build.fail(EngineError::Runtime(format!("nothing trains model '{}' for ML_METRICS", self.model))),
        }
    }
}

/// The batches of `stream` whose schema is `schema` (`keep`) or is not
/// (`!keep`): a training query's output holds metrics batches and (with a
/// drift detector) alert batches, and an event-time `ML_PREDICT`'s holds
/// those and its scored rows.
pub(super) fn schema_filter<'s>(build: &Build<'_, 's>, stream: BatchStream<'s>, schema: &SchemaRef, keep: bool) -> BatchStream<'s> {
    build.apply(stream, "ml_metrics", Box::new(SchemaIs(Arc::clone(schema), keep)))
}

/// Passes on the batches of one schema (`.1`), or all the others (`!.1`).
struct SchemaIs(SchemaRef, bool);

impl Operator for SchemaIs {
    /// Stateless: nothing to checkpoint.
    fn snapshot(&mut self) -> weir_operators::Result<Option<weir_operators::StateSnapshot>> {
        Ok(None)
    }

    fn name(&self) -> &str {
        "ml_metrics"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> weir_operators::Result<()> {
        if (batch.schema() == self.0) == self.1 {
            out.push(batch);
        }
        Ok(())
    }
}
