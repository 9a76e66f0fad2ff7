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
use weir_operators::{Batch, Filter, Operator, Project};

use super::shared::Shared;
use super::BatchStream;
use crate::plan::Node;
use crate::EngineError;

/// Builds the operators of `node` on top of the source streams.
pub(super) fn build<'s>(
    scope: Scope<'s, u64>,
    node: &Node,
    sources: &HashMap<&str, BatchStream<'s>>,
    sink: usize,
    shared: Arc<Shared>,
) -> BatchStream<'s> {
    match node {
        Node::Source { table, projection, .. } => {
            let stream = match sources.get(table.as_str()) {
                Some(s) => s.clone(),
                None => {
                    shared.fail(EngineError::Runtime(format!("no source operator for table '{table}'")));
                    return empty(scope);
                }
            };
            match projection {
                None => stream,
                Some(indices) => {
                    let schema = node.schema();
                    let exprs: Vec<Arc<dyn PhysicalExpr>> = indices
                        .iter()
                        .zip(schema.fields())
                        .map(|(i, f)| Arc::new(Column::new(f.name(), *i)) as Arc<dyn PhysicalExpr>)
                        .collect();
                    apply(stream, "scan columns", Box::new(Project::new(exprs, schema)), sink, shared)
                }
            }
        }
        Node::Project { input, exprs, schema, .. } => {
            let input = build(scope, input, sources, sink, Arc::clone(&shared));
            apply(input, "project", Box::new(Project::new(exprs.clone(), Arc::clone(schema))), sink, shared)
        }
        Node::Filter { input, predicate, .. } => {
            let input = build(scope, input, sources, sink, Arc::clone(&shared));
            apply(input, "filter", Box::new(Filter::new(Arc::clone(predicate))), sink, shared)
        }
        Node::Union { inputs, schema } => {
            let streams: Vec<BatchStream<'s>> = inputs
                .iter()
                .map(|i| {
                    let stream = build(scope, i, sources, sink, Arc::clone(&shared));
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
        Node::Empty { .. } => empty(scope),
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
    stream.unary::<CapacityContainerBuilder<Vec<Batch>>, _, _, _>(Local, name, move |_capability, _info| {
        let mut out: Vec<RecordBatch> = Vec::new();
        move |input, output| {
            input.for_each(|time, data| {
                let mut session = output.session(&time);
                for Batch(batch) in data.drain(..) {
                    if let Err(source) = op.process(batch, &mut out) {
                        let sink_name = shared.rows_written.get(sink).map(|(n, _)| n.clone()).unwrap_or_default();
                        shared.fail(EngineError::Operator { sink: sink_name, source });
                        out.clear();
                    }
                    for b in out.drain(..) {
                        session.give(Batch(b));
                    }
                }
            });
        }
    })
}
