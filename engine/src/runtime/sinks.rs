//! The sink operator: casts to the sink's declared columns and writes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline as Local};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::Operator as _;
use weir_connectors::{Sink, Split};
use weir_operators::{Batch, Project};

use super::shared::Shared;
use super::BatchStream;
use crate::plan::SinkPlan;
use crate::EngineError;

/// How often a sink waits for its deliveries so that sources can commit.
const SYNC_EVERY: Duration = Duration::from_millis(500);

/// Attaches the sink of `plan` to `stream`.
pub(super) fn sink(stream: BatchStream<'_>, plan: &SinkPlan, index: usize, split: Split, shared: Arc<Shared>) {
    if plan.spec.parallel() {
        attach(stream, Local, plan, index, split, shared, true);
    } else {
        // One file, one terminal: worker 0 writes everything.
        let owner = split.worker == 0;
        attach(stream, Exchange::new(|_: &Batch| 0u64), plan, index, split, shared, owner);
    }
}

fn attach<P>(
    stream: BatchStream<'_>,
    pact: P,
    plan: &SinkPlan,
    index: usize,
    split: Split,
    shared: Arc<Shared>,
    owner: bool,
) where
    P: ParallelizationContract<u64, Vec<Batch>>,
{
    let table = plan.table.clone();
    let cast = plan.cast.as_ref().map(|(exprs, schema)| Project::new(exprs.clone(), Arc::clone(schema)));
    let mut writer: Option<Box<dyn Sink>> = None;
    if owner {
        match plan.spec.open(split) {
            Ok(w) => writer = Some(w),
            Err(source) => shared.fail(EngineError::Connector { table: table.clone(), source }),
        }
    }
    let mut finished = false;
    let mut unflushed = false;
    let mut flushed_at: Option<u64> = None;
    let mut synced_at = Instant::now();
    let mut synced_to: Option<u64> = None;
    let name = format!("sink {table}");
    let scope = stream.scope();
    stream.unary_frontier::<CapacityContainerBuilder<Vec<Batch>>, _, _, _>(pact, &name, move |_capability, info| {
        let activator = scope.activator_for(info.address);
        move |(input, frontier), _output| {
            input.for_each(|_time, data| {
                for Batch(batch) in data.drain(..) {
                    let Some(w) = writer.as_mut() else { continue };
                    let batch = match &cast {
                        Some(project) => match project.evaluate(&batch) {
                            Ok(b) => b,
                            Err(source) => {
                                shared.fail(EngineError::Operator { sink: table.clone(), source });
                                continue;
                            }
                        },
                        None => batch,
                    };
                    let rows = batch.num_rows() as u64;
                    if let Err(source) = w.write(&batch) {
                        sink_failed(&shared, index, &table, source);
                        writer = None;
                        continue;
                    }
                    unflushed = true;
                    if let Some((_, counter)) = shared.rows_written.get(index) {
                        counter.fetch_add(rows, Ordering::Relaxed);
                    }
                }
            });
            let low = frontier.frontier().iter().min().copied();
            if unflushed && low.is_some() && low != flushed_at {
                // The watermark moved: what was written is complete up to it.
                flushed_at = low;
                unflushed = false;
                if let Some(w) = writer.as_mut()
                    && let Err(source) = w.flush()
                {
                    sink_failed(&shared, index, &table, source);
                }
            }
            if let Some(low) = low
                && synced_to != Some(low)
            {
                // Deliver everything written, then say so: sources commit
                // their positions up to here (see `progress`). At most every
                // SYNC_EVERY, and again later if the frontier stops moving.
                let since = synced_at.elapsed();
                if since >= SYNC_EVERY {
                    synced_at = Instant::now();
                    match writer.as_mut().map(|w| w.sync()) {
                        Some(Err(source)) => sink_failed(&shared, index, &table, source),
                        _ => {
                            shared.progress.synced(index, split.worker, low);
                            synced_to = Some(low);
                        }
                    }
                } else {
                    activator.activate_after(SYNC_EVERY - since);
                }
            }
            if frontier.is_empty() && !finished {
                finished = true;
                match writer.as_mut().map(|w| w.finish()) {
                    Some(Err(source)) => sink_failed(&shared, index, &table, source),
                    _ => shared.progress.synced(index, split.worker, u64::MAX),
                }
            }
        }
    });
}

/// A write, flush or delivery failed: count it and stop the pipeline.
fn sink_failed(shared: &Shared, index: usize, table: &str, source: weir_connectors::ConnectorError) {
    if let Some(c) = shared.metrics.failures.get(index) {
        c.inc();
    }
    shared.fail(EngineError::Connector { table: table.to_string(), source });
}
