//! Lowering plan nodes to timely operators that run [`weir_operators`] on
//! batches.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::operator::empty;
use timely::dataflow::operators::generic::Operator as _;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::Scope;
use datafusion::physical_expr::expressions::NotExpr;
use weir_operators::window::{GroupColumn, WindowAggregate, WindowAssign};
use weir_operators::{Batch, Filter, Operator, OverAggregate, Partitioner, Predict, Project, Train};

use std::time::Instant;

use super::instrument::OpMetrics;
use super::models::Models;
use super::shared::Shared;
use super::BatchStream;
use super::sources::LATE_COLUMN;
use crate::plan::{Node, SourceRows};
use crate::EngineError;

/// The source streams of a worker, by table, with whether their batches
/// carry the hidden late-row column.
pub(super) type Sources<'s> = HashMap<&'s str, (BatchStream<'s>, bool)>;

/// Builds the operators of `node` on top of the source streams.
// One argument a concern of the build; issue 16 turns this match into a
// trait of plan nodes that carry their own context.
#[allow(clippy::too_many_arguments)]
pub(super) fn build<'s>(
    scope: Scope<'s, u64>,
    node: &Node,
    sources: &Sources<'s>,
    models: &Models,
    trained: &HashMap<String, BatchStream<'s>>,
    sink: usize,
    workers: usize,
    shared: Arc<Shared>,
) -> BatchStream<'s> {
    match node {
        Node::Source { table, projection, rows, schema } => {
            let (stream, late_column) = match sources.get(table.as_str()) {
                Some((s, late)) => (s.clone(), *late),
                None => {
                    shared.fail(EngineError::Runtime(format!("no source operator for table '{table}'")));
                    return empty(scope);
                }
            };
            let mut stream = stream;
            if late_column && *rows != SourceRows::All {
                let Some(width) = shared.source_width(table) else { return empty(scope) };
                let late: Arc<dyn PhysicalExpr> = Arc::new(Column::new(LATE_COLUMN, width));
                let (name, predicate): (&str, Arc<dyn PhysicalExpr>) = match rows {
                    SourceRows::Late => ("late rows", late),
                    _ => ("on-time rows", Arc::new(NotExpr::new(late))),
                };
                stream = apply(stream, name, Box::new(Filter::new(predicate)), sink, Arc::clone(&shared));
            }
            if projection.is_none() && !late_column {
                return stream;
            }
            let indices: Vec<usize> = match projection {
                Some(p) => p.clone(),
                None => (0..schema.fields().len()).collect(),
            };
            let exprs: Vec<Arc<dyn PhysicalExpr>> = indices
                .iter()
                .zip(schema.fields())
                .map(|(i, f)| Arc::new(Column::new(f.name(), *i)) as Arc<dyn PhysicalExpr>)
                .collect();
            apply(stream, "scan columns", Box::new(Project::new(exprs, Arc::clone(schema))), sink, shared)
        }
        Node::WindowAssign { input, kind, time, schema } => {
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            apply(input, "window", Box::new(WindowAssign::new(*kind, *time, Arc::clone(schema))), sink, shared)
        }
        Node::WindowAggregate { input, kind, start, end, keys, layout, aggregates, schema, .. } => {
            let input_schema = input.schema();
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            match WindowAggregate::new(*kind, *start, *end, keys.clone(), layout.clone(), aggregates.clone(), &input_schema, Arc::clone(schema)) {
                Ok(op) => {
                    let end = layout.iter().position(|g| *g == GroupColumn::WindowEnd);
                    let latency = end.map(|column| (column, node.tables()));
                    super::keyed::keyed(input, Partitioner::new(keys.clone(), workers), Box::new(op), sink, shared, latency)
                }
                Err(source) => {
                    shared.fail(EngineError::Operator { sink: shared.sink_name(sink), source });
                    empty(scope)
                }
            }
        }
        Node::Over { input, keys, time, functions, schema, .. } => {
            let input_schema = input.schema();
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            match OverAggregate::new(keys.clone(), *time, functions.clone(), input_schema, Arc::clone(schema)) {
                Ok(op) => super::keyed::keyed(input, Partitioner::new(keys.clone(), workers), Box::new(op), sink, shared, None),
                Err(source) => {
                    shared.fail(EngineError::Operator { sink: shared.sink_name(sink), source });
                    empty(scope)
                }
            }
        }
        Node::Project { input, exprs, schema, .. } => {
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            apply(input, "project", Box::new(Project::new(exprs.clone(), Arc::clone(schema))), sink, shared)
        }
        Node::Filter { input, predicate, .. } => {
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            apply(input, "filter", Box::new(Filter::new(Arc::clone(predicate))), sink, shared)
        }
        Node::Union { inputs, schema } => {
            let streams: Vec<BatchStream<'s>> = inputs
                .iter()
                .map(|i| {
                    let stream = build(scope, i, sources, models, trained, sink, workers, Arc::clone(&shared));
                    // Relabel each input to the union's column names.
                    let exprs = schema
                        .fields()
                        .iter()
                        .enumerate()
                        .map(|(n, f)| Arc::new(Column::new(f.name(), n)) as Arc<dyn PhysicalExpr>)
                        .collect();
                    apply(stream, "relabel", Box::new(Project::new(exprs, Arc::clone(schema))), sink, Arc::clone(&shared))
                })
                .collect();
            scope.concatenate(streams)
        }
        Node::Train { input, model, key, features, label, time, .. } => {
            let Some(state) = models.get(model) else { return empty(scope) };
            let keys = crate::planner::key_exprs(&input.schema(), *key);
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            let mut op = Train::new(Arc::clone(state), *key, features.clone(), *label);
            if let Some(t) = time {
                op = op.in_event_time_order(*t);
            }
            super::keyed::keyed(input, Partitioner::new(keys, workers), Box::new(op), sink, shared, None)
        }
        Node::Predict { input, model, key, features, schema } => {
            let Some(state) = models.get(model) else { return empty(scope) };
            let keys = crate::planner::key_exprs(&input.schema(), *key);
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            let op = Predict::new(Arc::clone(state), *key, features.clone(), Arc::clone(schema));
            super::keyed::keyed(input, Partitioner::new(keys, workers), Box::new(op), sink, shared, None)
        }
        Node::Monitor { input, monitor, spec, key, columns, time, .. } => {
            let keys = crate::planner::key_exprs(&input.schema(), *key);
            let input = build(scope, input, sources, models, trained, sink, workers, Arc::clone(&shared));
            use weir_operators::drift::{DriftMonitor, MonitorSpec, WindowedMonitor};
            let op: Box<dyn weir_operators::Operator> = match (spec, time) {
                (MonitorSpec::Point(p), _) => Box::new(DriftMonitor::new(monitor.clone(), p.clone(), *key, columns.clone(), *time)),
                (MonitorSpec::Windowed(w), Some(t)) => {
                    let op = WindowedMonitor::new(monitor.clone(), w.clone(), *key, columns.clone(), *t);
                    match weir_kernels::histograms::open_histogrammer(w.device) {
                        Ok(opened) => {
                            if scope.index() == 0 {
                                tracing::info!(monitor = %monitor, device = %opened.choice, "monitor bins its windows");
                            }
                            Box::new(op.with_histogrammer(opened.histogrammer))
                        }
                        Err(e) => {
                            shared.fail(EngineError::Runtime(format!("monitor '{monitor}': {e}")));
                            return empty(scope);
                        }
                    }
                }
                (MonitorSpec::Windowed(_), None) => {
                    shared.fail(EngineError::Runtime(format!("monitor '{monitor}' has no event-time column for its windows")));
                    return empty(scope);
                }
            };
            super::keyed::keyed(input, Partitioner::new(keys, workers), op, sink, shared, None)
        }
        Node::Metrics { model, schema, .. } => match trained.get(model) {
            // The training query emits metrics and alert batches; keep one kind.
            Some(stream) => apply(stream.clone(), "ml_metrics", Box::new(SchemaIs(Arc::clone(schema))), sink, shared),
            None => {
                shared.fail(EngineError::Runtime(format!("nothing trains model '{model}' for ML_METRICS")));
                empty(scope)
            }
        },
        Node::Empty { .. } => empty(scope),
    }
}

/// Passes on the batches of one schema: a training query's output holds
/// metrics batches and (with a drift detector) alert batches.
struct SchemaIs(datafusion::arrow::datatypes::SchemaRef);

impl Operator for SchemaIs {
    fn name(&self) -> &str {
        "ml_metrics"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> weir_operators::Result<()> {
        if batch.schema() == self.0 {
            out.push(batch);
        }
        Ok(())
    }
}

/// Runs `op` on every batch of `stream`.
fn apply<'s>(
    stream: BatchStream<'s>,
    name: &str,
    mut op: Box<dyn Operator>,
    sink: usize,
    shared: Arc<Shared>,
) -> BatchStream<'s> {
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
