//! The sink operator: one writer per sink table, fed by every INSERT into
//! it, each cast to the table's declared columns first.
//!
//! Several `INSERT INTO o` statements make one statement set, as in Flink:
//! their streams are concatenated in front of one writer, so every row
//! arrives whole, however many queries write the table.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline as Local};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::Operator as _;
use timely::dataflow::operators::Concatenate;
use weir_connectors::{Position, Resume, Sink, Split};
use weir_operators::{Batch, Project};

use super::shared::Shared;
use super::time::{epoch_of, lows, Time};
use super::BatchStream;
use crate::checkpoint::{Part, Who};
use crate::plan::SinkPlan;
use crate::EngineError;

/// How often a sink waits for its deliveries so that sources can commit.
const SYNC_EVERY: Duration = Duration::from_millis(500);

/// The INSERTs into one table: each one's position in the pipeline, its
/// stream and its plan.
pub(super) type Inserts<'s, 'p> = Vec<(usize, BatchStream<'s>, &'p SinkPlan)>;

/// Attaches the one sink of a table to the streams of the INSERTs into it.
pub(super) fn sink<'s>(inputs: Inserts<'s, '_>, split: Split, shared: Arc<Shared>) {
    let Some((_, first, plan)) = inputs.first() else { return };
    let scope = first.scope();
    let indices: Vec<usize> = inputs.iter().map(|(i, _, _)| *i).collect();
    let plan: &SinkPlan = plan;
    let gathered = !plan.spec.parallel();
    let mut streams: Vec<BatchStream<'s>> =
        inputs.iter().map(|(i, stream, p)| prepare(stream.clone(), p, *i, gathered, Arc::clone(&shared))).collect();
    let stream = if streams.len() == 1 { streams.remove(0) } else { scope.concatenate(streams) };
    if plan.spec.parallel() {
        attach(stream, Local, plan, indices, split, shared, true);
    } else {
        // One file, one terminal: worker 0 writes everything.
        let owner = split.worker == 0;
        attach(stream, Exchange::new(|_: &Batch| 0u64), plan, indices, split, shared, owner);
    }
}

/// Casts one INSERT's rows to the table's declared columns (a row whose
/// cast fails follows the row-level policy) and counts them; `gathered`:
/// they go on through the exchange to worker 0 (see `flow`).
fn prepare<'s>(stream: BatchStream<'s>, plan: &SinkPlan, index: usize, gathered: bool, shared: Arc<Shared>) -> BatchStream<'s> {
    let cast = plan.cast.as_ref().map(|(exprs, schema)| Project::new(exprs.clone(), Arc::clone(schema)));
    let name = format!("cast for {}", plan.table);
    stream.unary::<CapacityContainerBuilder<Vec<Batch>>, _, _, _>(Local, &name, move |_capability, _info| {
        let place = shared.place(index, "cast to the sink's columns");
        move |input, output| {
            input.for_each(|time, data| {
                let mut session = output.session(&time);
                for Batch(batch) in data.drain(..) {
                    let batches = match &cast {
                        Some(project) => match shared.failed.guard(&place, &batch, &mut |b| project.evaluate(b), &shared.operator_error(index)) {
                            Ok(parts) => parts,
                            Err(e) => {
                                shared.fail(e);
                                continue;
                            }
                        },
                        None => vec![batch],
                    };
                    for b in batches {
                        if let Some((_, counter)) = shared.rows_written.get(index) {
                            counter.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                        }
                        if gathered {
                            shared.in_flight.sent(&b);
                        }
                        session.give(Batch(b));
                    }
                }
            });
        }
    })
}

fn attach<P>(
    stream: BatchStream<'_>,
    pact: P,
    plan: &SinkPlan,
    indices: Vec<usize>,
    split: Split,
    shared: Arc<Shared>,
    owner: bool,
) where
    P: ParallelizationContract<Time, Vec<Batch>>,
{
    let table = plan.table.clone();
    let index = indices.first().copied().unwrap_or(0);
    let gathered = !plan.spec.parallel();
    let mut writer: Option<Box<dyn Sink>> = None;
    let checkpoints = Arc::clone(&shared.checkpoints);
    // A sink that keeps a position takes part in checkpoints: restoring
    // cuts what it wrote after the checkpoint. Others are at-least-once.
    let who = Who {
        id: format!("sink {table} worker {}", split.worker),
        what: format!("CREATE TABLE {table} (its writer on worker {})", split.worker),
        signature: plan.spec.describe(),
    };
    let participant = owner && checkpoints.on() && plan.spec.resumable();
    let restored: Option<(Position, Vec<u8>)> = if participant {
        checkpoints.register_parts(&who).unwrap_or_else(|e| {
            shared.fail(e);
            None
        })
    } else {
        None
    };
    // The same in every run of this pipeline, and unique to it: its
    // checkpoint directory, the table, the worker.
    let writer_name = if checkpoints.on() { format!("{}#{table}#{}", checkpoints.dir().unwrap_or_default(), split.worker) } else { String::new() };
    let mut publishes = false;
    if owner && !shared.failed() {
        let resume = restored.as_ref().map(|(position, staged)| Resume { position, staged });
        match plan.spec.open_from(split, &shared.cancel, &writer_name, resume) {
            Ok(w) => {
                if participant && let Some(publisher) = w.publisher() {
                    checkpoints.on_complete(&table, publisher);
                    publishes = true;
                }
                writer = Some(w);
            }
            Err(source) => shared.fail(EngineError::Connector { table: table.clone(), source }),
        }
    }
    let mut epoch = checkpoints.start();
    let mut held: Vec<(u64, RecordBatch)> = Vec::new();
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
            if publishes && let Some(e) = checkpoints.publish_failure() {
                // Staged output could not be published: stop, so that a
                // restart publishes it from the checkpoint.
                publishes = false;
                shared.fail(e);
            }
            let mut write = |writer: &mut Option<Box<dyn Sink>>, batch: &RecordBatch| {
                let Some(w) = writer.as_mut() else { return };
                if let Err(source) = w.write(batch) {
                    sink_failed(&shared, index, &table, source);
                    *writer = None;
                    return;
                }
                unflushed = true;
            };
            input.for_each(|time, data| {
                let outer = epoch_of(time.stamp()).unwrap_or(epoch);
                for Batch(batch) in data.drain(..) {
                    if gathered {
                        shared.in_flight.received(&batch);
                    }
                    if outer > epoch {
                        // After a checkpoint's cut that the frontier has not
                        // reached: written once the cut is taken.
                        held.push((outer, batch));
                    } else {
                        write(&mut writer, &batch);
                    }
                }
            });
            let lowest = lows(frontier.frontier().iter());
            while lowest.is_none_or(|(_, e)| e > epoch) && (lowest.is_some() || !held.is_empty()) {
                if participant {
                    // Every result before the cut is written: its length
                    // (or what it staged) is this sink's part of the
                    // checkpoint (also when the frontier jumped to empty
                    // with later rows held: its final length would count
                    // them, and the replay after the cut would write them
                    // again).
                    match writer.as_mut().map(|w| cut(w.as_mut(), epoch + 1)) {
                        Some(Ok(Some(part))) => checkpoints.report(epoch + 1, &who.id, part),
                        Some(Err(source)) => sink_failed(&shared, index, &table, source),
                        _ => {}
                    }
                }
                epoch += 1;
                let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut held).into_iter().partition(|(e, _)| *e <= epoch);
                held = later;
                for (_, batch) in now {
                    write(&mut writer, &batch);
                }
            }
            let low = lowest.map(|(w, _)| w);
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
                            for i in &indices {
                                shared.progress.synced(*i, split.worker, low);
                            }
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
                    _ => {
                        for i in &indices {
                            shared.progress.synced(*i, split.worker, u64::MAX);
                        }
                    }
                }
                if participant && !shared.stopping() {
                    match writer.as_mut().map(|w| cut(w.as_mut(), epoch + 1)) {
                        Some(Ok(Some(part))) => checkpoints.finished(&who.id, part),
                        Some(Err(source)) => sink_failed(&shared, index, &table, source),
                        _ => {}
                    }
                }
            }
        }
    });
}

/// A sink's part of checkpoint `checkpoint`: where its output stands
/// and what it staged for the checkpoint; `None` for a sink without a
/// position.
fn cut(writer: &mut dyn Sink, checkpoint: u64) -> Result<Option<Part>, weir_connectors::ConnectorError> {
    let Some(position) = writer.position()? else { return Ok(None) };
    let bytes = writer.seal(checkpoint)?;
    Ok(Some(Part { meta: serde_json::to_value(&position).unwrap_or_default(), version: 0, bytes }))
}

/// A write, flush or delivery failed: count it and stop the pipeline.
fn sink_failed(shared: &Shared, index: usize, table: &str, source: weir_connectors::ConnectorError) {
    if let Some(c) = shared.metrics.failures.get(index) {
        c.inc();
    }
    shared.fail(EngineError::Connector { table: table.to_string(), source });
}
