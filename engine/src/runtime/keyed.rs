//! Keyed, event-time operators: rows are exchanged by a hash of their keys,
//! and the operator is told each time the watermark (its input frontier)
//! advances.
//!
//! Timely timestamps are watermarks (see the module above), so the input
//! frontier's lower bound `w` means: every row still to come is ahead of
//! `w`. Each input keeps its own frontier, so an operator with several
//! inputs hears when one of them has ended (`on_input_ended`: a join's
//! bounded table is whole). The operator hears `on_watermark(w)` when the
//! least of them moves, emits what that completes, and holds one
//! capability at `w` for those outputs; when every frontier is empty
//! (every input ended or the pipeline stops) it hears `finish`, emits the
//! rest and drops the capability.

use std::sync::Arc;

use std::time::Instant;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator as _, OutputBuilder};
use timely::dataflow::Stream;
use weir_operators::{Batch, Operator, Partitioner, StateSnapshot};

use super::instrument::OpMetrics;
use super::shared::Shared;
use super::time::{at, least, lower, Time};
use super::BatchStream;
use crate::checkpoint::{Part, Who};
use crate::EngineError;

/// Routes the rows of each input stream to workers by its partitioner,
/// then runs `op` on them (telling it which input each batch came from),
/// driving its watermark from the frontier: the least of the inputs'.
pub(super) fn keyed<'s>(
    scope: timely::dataflow::Scope<'s, Time>,
    inputs: Vec<(BatchStream<'s>, Partitioner)>,
    mut op: Box<dyn Operator>,
    (sink, ordinal, signature): (usize, usize, String),
    shared: Arc<Shared>,
    latency: Option<(usize, Vec<String>)>,
) -> BatchStream<'s> {
    let name = op.name().to_string();
    let retention = shared.progress.retention();
    let mut builder = OperatorBuilder::new(name.clone(), scope);
    let mut handles = Vec::with_capacity(inputs.len());
    for (index, (stream, partitioner)) in inputs.into_iter().enumerate() {
        let routed = route(stream, partitioner, index as u64, sink, &name, Arc::clone(&shared));
        handles.push(builder.new_input(routed, Exchange::new(|(worker, _, _): &(u64, u64, Batch)| *worker)));
    }
    let (output, stream) = builder.new_output::<Vec<Batch>>();
    let mut output = OutputBuilder::<Time, CapacityContainerBuilder<Vec<Batch>>>::from(output);
    let worker = scope.index();
    let who = Who {
        id: format!("operator {sink}.{ordinal} worker {worker}"),
        what: format!("{}: its operator {} ({name}) on worker {worker}", shared.statement(sink), ordinal + 1),
        signature,
    };
    let mut watermark: Option<u64> = restore(op.as_mut(), &who, &shared);
    let checkpoints = Arc::clone(&shared.checkpoints);
    builder.build(move |mut capabilities| {
        let mut metrics = OpMetrics::new(&shared, sink, op.name(), worker);
        let place = shared.place(sink, op.name());
        let mut capability = capabilities.pop();
        let mut out: Vec<RecordBatch> = Vec::new();
        let mut ended = vec![false; handles.len()];
        // The epoch whose rows are processed; rows of later epochs wait in
        // `held` until the frontier has left it (see `crate::checkpoint`).
        let mut epoch = checkpoints.start();
        let mut held: Vec<(Time, u64, Batch)> = Vec::new();
        let mut reported_final = false;
        move |frontiers| {
            let mut output = output.activate();
            let fail = |source| shared.fail(EngineError::Operator { sink: shared.sink_name(sink), source });
            let process = |op: &mut Box<dyn Operator>, index: u64, batch: RecordBatch, out: &mut Vec<RecordBatch>| {
                let (rows, started) = (batch.num_rows(), Instant::now());
                let mut input = Input { op: op.as_mut(), index: index as usize };
                if let Err(e) = shared.failed.process(&place, &mut input, batch, out, &shared.operator_error(sink)) {
                    shared.fail(e);
                }
                metrics.batch_in(rows, started);
            };
            for handle in &mut handles {
                handle.for_each(|time, data| {
                    let time = least(time.stamp()).unwrap_or_else(|| at(epoch, 0));
                    for (_, index, Batch(batch)) in data.drain(..) {
                        shared.in_flight.received(&batch);
                        if time.outer > epoch {
                            held.push((time, index, Batch(batch)));
                        } else {
                            process(&mut op, index, batch, &mut out);
                        }
                    }
                });
            }
            let Some(cap) = capability.as_mut() else {
                out.clear();
                return;
            };
            let frontier = frontiers.iter().fold(None, |low, f| f.frontier().iter().fold(low, lower));
            // Epochs the frontier has left: checkpoint, then go on with
            // the rows held for the next one.
            while frontier.is_none_or(|(_, e)| e > epoch) && (frontier.is_some() || !held.is_empty()) {
                // Also when the frontier jumped from the old epoch straight
                // to empty (every input ended) with rows of the new one held:
                // the state before them is this operator's part of the
                // checkpoint the sources already cut; their final state (after
                // the held rows and `finish`) is not, and standing in for it
                // would drop everything replayed after the cut as late.
                if checkpoints.on() {
                    match part(op.as_mut(), watermark) {
                        Ok(part) => checkpoints.report(epoch + 1, &who.id, part),
                        Err(e) => shared.fail(EngineError::Checkpoint(format!("{}: {e}", who.what))),
                    }
                }
                metrics.out(&out);
                give(&mut output, cap, &mut out);
                epoch += 1;
                if epoch > cap.time().outer {
                    cap.downgrade(&at(epoch, cap.time().inner));
                }
                let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut held).into_iter().partition(|(t, _, _)| t.outer <= epoch);
                held = later;
                for (_, index, Batch(batch)) in now {
                    process(&mut op, index, batch, &mut out);
                }
            }
            // An input that ended while others go on (a bounded table).
            let several = frontiers.len() > 1;
            for (index, frontier) in frontiers.iter().enumerate() {
                if several && !ended[index] && frontier.frontier().is_empty() {
                    ended[index] = true;
                    if let Err(source) = op.on_input_ended(index, &mut out) {
                        fail(source);
                    }
                }
            }
            let at_time = cap.time().inner;
            // Rows held back are not processed yet: the watermark waits
            // for them.
            let low = frontier.map(|(w, _)| held.iter().map(|(t, _, _)| t.inner).fold(w, u64::min));
            match low {
                None => {
                    if let Err(source) = op.finish(&mut out) {
                        fail(source);
                    }
                    if checkpoints.on() && !reported_final && !shared.stopping() {
                        reported_final = true;
                        match part(op.as_mut(), watermark) {
                            Ok(part) => checkpoints.finished(&who.id, part),
                            Err(e) => shared.fail(EngineError::Checkpoint(format!("{}: {e}", who.what))),
                        }
                    }
                }
                Some(low) if watermark.is_none_or(|w| low > w) => {
                    watermark = Some(low);
                    if let Err(source) = op.on_watermark(low as i64, &mut out) {
                        fail(source);
                    }
                    if let Some((column, tables)) = &latency {
                        record_latencies(&shared, &out, *column, tables);
                    }
                }
                Some(_) => {}
            }
            let emitted = !out.is_empty();
            metrics.out(&out);
            give(&mut output, cap, &mut out);
            // Before the capability moves on: see `progress`. A finished
            // operator holds nothing.
            retention.update(low.and(op.retained()), emitted.then_some(at_time));
            metrics.held(op.held_rows(), &shared);
            match low {
                None => capability = None,
                Some(low) if low > cap.time().inner => cap.downgrade(&at(cap.time().outer, low)),
                Some(_) => {}
            }
        }
    });
    stream
}

/// Registers the operator with the checkpoints and restores its state if
/// the run resumes; returns the watermark it had then. An operator that
/// cannot be checkpointed fails the run before it starts.
fn restore(op: &mut dyn Operator, who: &Who, shared: &Shared) -> Option<u64> {
    if !shared.checkpoints.on() {
        return None;
    }
    let fail = |e: String| shared.fail(EngineError::Checkpoint(format!("{}: {e}", who.what)));
    if let Err(e) = op.snapshot() {
        fail(e.to_string());
        return None;
    }
    match shared.checkpoints.register(who.clone()) {
        Ok(Some(part)) => {
            if part.meta.get("state").and_then(|s| s.as_bool()) == Some(true)
                && let Err(e) = op.restore(StateSnapshot { version: part.version, bytes: part.bytes })
            {
                fail(e.to_string());
            }
            part.meta.get("watermark").and_then(|w| w.as_u64())
        }
        Ok(None) => None,
        Err(e) => {
            shared.fail(e);
            None
        }
    }
}

/// The operator's part of a checkpoint: its state and the watermark it
/// last acted on.
fn part(op: &mut dyn Operator, watermark: Option<u64>) -> weir_operators::Result<Part> {
    let snapshot = op.snapshot()?;
    let meta = serde_json::json!({ "watermark": watermark, "state": snapshot.is_some() });
    Ok(match snapshot {
        Some(StateSnapshot { version, bytes }) => Part { meta, version, bytes },
        None => Part::meta(meta),
    })
}

/// Routes the rows of input `index` to the workers their keys hash to.
fn route<'s>(
    stream: BatchStream<'s>,
    mut partitioner: Partitioner,
    index: u64,
    sink: usize,
    name: &str,
    failed: Arc<Shared>,
) -> Stream<'s, Time, Vec<(u64, u64, Batch)>> {
    let place = failed.place(sink, &format!("partition for {name}"));
    stream.unary::<CapacityContainerBuilder<Vec<(u64, u64, Batch)>>, _, _, _>(
        timely::dataflow::channels::pact::Pipeline,
        &format!("partition for {name}"),
        move |_capability, _info| {
            move |input, output| {
                input.for_each(|time, data| {
                    let mut session = output.session(&time);
                    for Batch(batch) in data.drain(..) {
                        match failed.failed.guard(&place, &batch, &mut |b| partitioner.partition(b), &failed.operator_error(sink)) {
                            Ok(parts) => {
                                for (worker, part) in parts.into_iter().flatten() {
                                    failed.in_flight.sent(&part);
                                    session.give((worker, index, Batch(part)));
                                }
                            }
                            Err(e) => failed.fail(e),
                        }
                    }
                });
            }
        },
    )
}

/// One input of a keyed operator, as a single-input operator (so row-error
/// isolation retries its parts like any other).
struct Input<'a> {
    op: &'a mut dyn Operator,
    index: usize,
}

impl Operator for Input<'_> {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> weir_operators::Result<()> {
        self.op.process_input(self.index, batch, out)
    }
}

/// Records, for each window end in `out`, how long ago the watermark of
/// `tables` passed it.
fn record_latencies(shared: &Shared, out: &[RecordBatch], column: usize, tables: &[String]) {
    let now = Instant::now();
    let mut ends: Vec<i64> = Vec::new();
    for batch in out {
        let Some(array) = batch.columns().get(column) else { continue };
        let Ok(ms) = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None)) else { continue };
        ends.extend(ms.as_primitive::<TimestampMillisecondType>().iter().flatten());
    }
    ends.sort_unstable();
    ends.dedup();
    for end in ends {
        let complete = u64::try_from(end.saturating_sub(1)).unwrap_or(0);
        if let Some(at) = shared.clock.reached(tables, complete) {
            let latency = now.saturating_duration_since(at);
            shared.clock.record(latency);
            shared.metrics.window_latency.observe(latency.as_secs_f64());
        }
    }
}

fn give(
    output: &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, Time, CapacityContainerBuilder<Vec<Batch>>>,
    capability: &timely::dataflow::operators::Capability<Time>,
    out: &mut Vec<RecordBatch>,
) {
    if out.is_empty() {
        return;
    }
    let mut session = output.session(capability);
    for batch in out.drain(..) {
        session.give(Batch(batch));
    }
}
