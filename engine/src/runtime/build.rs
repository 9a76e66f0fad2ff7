//! What a plan node needs to build its timely operators on one worker, and
//! the two ways a batch operator is wired into the dataflow.
//!
//! Plan nodes (`crate::plan`) build themselves; this is the only place that
//! knows how: [`Build::apply`] runs an operator on the batches where they
//! are, and [`Build::operator`] does that or, for a node that exchanges by
//! keys, routes rows by key first and drives the operator's watermark
//! ([`super::keyed`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::generic::Operator as _;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::Scope;
use weir_operators::{Batch, Operator, OperatorError, Partitioner, SharedModel};

use super::instrument::OpMetrics;
use super::models::Models;
use super::shared::Shared;
use super::BatchStream;
use crate::plan::{Exchange, Node};
use crate::EngineError;

/// The source streams of a worker, by table, with whether their batches
/// carry the hidden late-row column.
pub(super) type Sources<'s> = HashMap<&'s str, (BatchStream<'s>, bool)>;

/// One worker's context for building the operator tree of one `INSERT`.
pub(crate) struct Build<'a, 's> {
    pub(super) scope: Scope<'s, super::Time>,
    pub(super) sources: &'a Sources<'s>,
    pub(super) models: &'a Models,
    /// The output of each model's training query, by model (an event-time
    /// `ML_PREDICT` sets its model's, before the training `INSERT` is built).
    pub(super) trained: &'a std::cell::RefCell<HashMap<String, BatchStream<'s>>>,
    /// The `INSERT`'s index.
    pub(super) sink: usize,
    pub(super) workers: usize,
    pub(super) shared: &'a Arc<Shared>,
    /// Keyed operators built so far for this `INSERT`: each one's ordinal
    /// names its state in checkpoints.
    pub(super) keyed: std::cell::Cell<usize>,
}

impl<'s> Build<'_, 's> {
    /// The stream of a source table, and whether its batches carry the
    /// hidden late-row column.
    pub(crate) fn source(&self, table: &str) -> Option<(BatchStream<'s>, bool)> {
        self.sources.get(table).cloned()
    }

    /// The number of columns of a source table (without the late-row one).
    pub(crate) fn source_width(&self, table: &str) -> Option<usize> {
        self.shared.source_width(table)
    }

    /// This worker's instance of a model (`None` when it failed to open,
    /// which has already failed the run).
    pub(crate) fn model(&self, name: &str) -> Option<SharedModel> {
        self.models.get(name).cloned()
    }

    /// The output of the query that trains `model`.
    pub(crate) fn trained(&self, model: &str) -> Option<BatchStream<'s>> {
        self.trained.borrow().get(model).cloned()
    }

    /// Sets the output of the query that trains `model`: an event-time
    /// `ML_PREDICT`'s metrics and alerts.
    pub(crate) fn set_trained(&self, model: &str, stream: BatchStream<'s>) {
        self.trained.borrow_mut().insert(model.to_string(), stream);
    }

    /// This worker's index.
    pub(crate) fn worker(&self) -> usize {
        self.scope.index()
    }

    /// A stream with no batches.
    pub(crate) fn empty(&self) -> BatchStream<'s> {
        empty(self.scope)
    }

    /// Fails the run with `error`; the node produces nothing.
    pub(crate) fn fail(&self, error: EngineError) -> BatchStream<'s> {
        self.shared.fail(error);
        self.empty()
    }

    /// An operator's error, attributed to this `INSERT`.
    pub(crate) fn operator_error(&self, source: OperatorError) -> EngineError {
        EngineError::Operator { sink: self.shared.sink_name(self.sink), source }
    }

    /// The batches of every stream, as one.
    pub(crate) fn concatenate(&self, streams: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        self.scope.concatenate(streams)
    }

    /// Runs `op` for `node` on its inputs' batches, exchanged as the node
    /// says; an `op` that could not be made fails the run.
    pub(crate) fn operator(
        &self,
        node: &Node,
        mut inputs: Vec<BatchStream<'s>>,
        op: Result<Box<dyn Operator>, EngineError>,
    ) -> BatchStream<'s> {
        let op = match op {
            Ok(op) => op,
            Err(e) => return self.fail(e),
        };
        let keys = match node.exchange() {
            Exchange::Local => {
                let stream = match inputs.len() {
                    1 => inputs.remove(0),
                    _ => self.concatenate(inputs),
                };
                let name = op.name().to_string();
                return self.apply(stream, &name, op);
            }
            Exchange::Keys { exprs, .. } => vec![exprs],
            Exchange::PerInput { exprs, .. } => exprs,
        };
        if keys.len() != inputs.len() {
            return self.fail(EngineError::Runtime(format!("{}: {} inputs but {} key lists", op.name(), inputs.len(), keys.len())));
        }
        let latency = node.latency_column().map(|column| (column, node.tables()));
        let inputs = inputs.into_iter().zip(keys).map(|(stream, keys)| (stream, Partitioner::new(keys, self.workers))).collect();
        let ordinal = self.keyed.get();
        self.keyed.set(ordinal + 1);
        super::keyed::keyed(self.scope, inputs, op, (self.sink, ordinal, node.signature()), Arc::clone(self.shared), latency)
    }

    /// Runs `op` on every batch of `stream`, on the worker it is on.
    pub(crate) fn apply(&self, stream: BatchStream<'s>, name: &str, mut op: Box<dyn Operator>) -> BatchStream<'s> {
        let (sink, shared) = (self.sink, Arc::clone(self.shared));
        let worker = stream.scope().index();
        stream.unary::<CapacityContainerBuilder<Vec<Batch>>, _, _, _>(Local, name, move |_capability, _info| {
            let mut out: Vec<RecordBatch> = Vec::new();
            let metrics = OpMetrics::new(&shared, sink, op.name(), worker);
            let place = shared.place(sink, op.name());
            move |input, output| {
                input.for_each(|time, data| {
                    let mut session = output.session(&time);
                    for Batch(batch) in data.drain(..) {
                        let (rows, started) = (batch.num_rows(), Instant::now());
                        if let Err(e) = shared.failed.process(&place, op.as_mut(), batch, &mut out, &shared.operator_error(sink)) {
                            shared.fail(e);
                            out.clear();
                        }
                        metrics.batch_in(rows, started);
                        metrics.out(&out);
                        for b in out.drain(..) {
                            session.give(Batch(b));
                        }
                    }
                });
            }
        })
    }
}
