//! `'scoring' = 'event-time'`: the query that trains such a model moves
//! under the model's `ML_PREDICT`, which then scores and learns in one
//! operator in event-time order (see `weir_operators::EventTimePredict`).
//!
//! Training and scoring are separate statements, and so separate operator
//! trees with their own frontiers; ordering one's effect on the model
//! before the other's rows needs both streams at one operator. So, once
//! every statement is planned, the training `INSERT`'s input becomes the
//! `ML_PREDICT` node's second input, and the `INSERT` itself only passes on
//! the metrics that node emits ([`plan::TrainedInScoring`]).

use datafusion::sql::sqlparser::tokenizer::Span;

use super::Planner;
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node};

impl Planner {
    /// Rewires every model scored in event time, or says why it cannot be.
    pub(super) fn score_in_event_time(&mut self) -> Result<(), Diagnostic> {
        let models: Vec<(String, Vec<Span>, Vec<Span>)> = self
            .models
            .iter()
            .filter(|m| m.used && m.plan.event_time_scoring)
            .map(|m| (m.plan.name.clone(), m.trained_at.clone(), m.scored_at.clone()))
            .collect();
        for (model, trained_at, scored_at) in models {
            let scores = |n: &Node| n.op::<plan::Predict>().is_some_and(|p| p.model == model);
            let training: Vec<usize> = (0..self.sinks.len()).filter(|&i| self.sinks[i].trains() == Some(model.as_str())).collect();
            let scoring: Vec<usize> = (0..self.sinks.len()).filter(|&i| self.sinks[i].input.count_where(&scores) > 0).collect();
            let (Some(&t), Some(&p)) = (training.first(), scoring.first()) else {
                // Trained but never scored, or scored but never trained: there
                // is nothing to order.
                continue;
            };
            let at = |spans: &[Span], i: usize| spans.get(i).or(spans.last()).copied().unwrap_or_else(Span::empty);
            if training.len() > 1 {
                return Err(Diagnostic::at(format!("model '{model}' is scored in event time, so one INSERT may train it; this is the second"), at(&trained_at, 1))
                    .with_help("combine the training queries with UNION ALL"));
            }
            let scored: usize = self.sinks.iter().map(|s| s.input.count_where(&scores)).sum();
            if scored > 1 {
                return Err(Diagnostic::at(format!("model '{model}' is scored in event time, so one ML_PREDICT may score it, but the pipeline scores it {scored} times"), at(&scored_at, 1))
                    .with_help("score it once, in a view that every query reads, or declare it with 'scoring' = 'latest'"));
            }
            let Some(train) = self.sinks[t].input.op::<plan::Train>().cloned() else { continue };
            let Some(training_rows) = self.sinks[t].input.inputs().first().cloned() else { continue };
            if train.time.is_none() {
                return Err(Diagnostic::at(
                    format!("model '{model}' is scored in event time, so the query that trains it needs an event-time column (a table's WATERMARK FOR column)"),
                    at(&trained_at, 0),
                ));
            }
            if training_rows.count_where(&scores) > 0 {
                return Err(Diagnostic::at(format!("model '{model}' is scored in event time, so the query that trains it cannot also score it"), at(&trained_at, 0)));
            }
            let reads_metrics = |n: &Node| n.op::<plan::Metrics>().is_some();
            if self.sinks[p].input.count_where(&reads_metrics) > 0 {
                return Err(Diagnostic::at(
                    format!("model '{model}' is scored in event time, so the query that scores it cannot read ML_METRICS or ML_ALERTS"),
                    at(&scored_at, 0),
                )
                .with_help("read them in another INSERT"));
            }
            let predict = self.sinks[p].input.replace(&|n: &Node| {
                let op = n.op::<plan::Predict>().filter(|op| op.model == model)?;
                Some(Node::new(plan::Predict { learns: Some(train.clone()), ..op.clone() }, vec![n.inputs()[0].clone(), training_rows.clone()]))
            });
            let Some(op) = find(&predict, &scores).and_then(|n| n.op::<plan::Predict>().cloned()) else { continue };
            if op.time.is_none() {
                return Err(Diagnostic::at(
                    format!("model '{model}' is scored in event time, so the rows ML_PREDICT scores need an event-time column (a table's WATERMARK FOR column)"),
                    at(&scored_at, 0),
                ));
            }
            self.sinks[p].input = predict;
            self.sinks[t].input = Node::new(plan::TrainedInScoring { model: model.clone(), schema: train.schema.clone() }, Vec::new());
        }
        Ok(())
    }
}

/// The first node of `node`'s tree for which `f` holds.
fn find<'n>(node: &'n Node, f: &dyn Fn(&Node) -> bool) -> Option<&'n Node> {
    if f(node) {
        return Some(node);
    }
    node.inputs().iter().find_map(|i| find(i, f))
}
