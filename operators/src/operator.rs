//! The operator trait.
//!
//! Modelled on Arroyo's operator trait and DataFusion's `ExecutionPlan`: one
//! required method that processes a batch, default hooks for everything else.
//! Snapshot and restore are part of the trait from the start because
//! consistent checkpoints must be able to reach every stateful operator
//! through one interface; stateless operators keep the defaults.

use datafusion::arrow::array::RecordBatch;

use crate::Result;

/// An opaque, versioned snapshot of an operator's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateSnapshot {
    /// The operator's own encoding version, checked on restore.
    pub version: u32,
    /// The encoded state.
    pub bytes: Vec<u8>,
}

/// A dataflow operator over Arrow record batches.
///
/// # Error handling
/// Operators never panic on data. Malformed *records* are a source's
/// concern and never reach operators. An [`OperatorError::Evaluate`] from
/// [`Operator::process`] is a row-level error: it promises that the batch
/// was not applied (the operator evaluates its expressions before it
/// changes any state or emits anything), so the engine may find the failing
/// rows by processing parts of the batch ([`crate::rows::isolate`]) and go
/// on with the others. Any other `Err` stops the pipeline.
///
/// [`OperatorError::Evaluate`]: crate::OperatorError::Evaluate
///
/// # Cancellation
/// The engine may drop an operator at any point between calls (Ctrl-C, a
/// failure elsewhere). Nothing an operator holds needs explicit cleanup.
pub trait Operator: Send {
    /// A short name for plans, logs and errors (`filter`, `project`).
    fn name(&self) -> &str;

    /// Processes one batch, appending any output batches to `out`.
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()>;

    /// Processes one batch of input `input` (0, 1, ...) of an operator with
    /// several inputs (a join); single-input operators keep the default.
    fn process_input(&mut self, _input: usize, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.process(batch, out)
    }

    /// Called when the event-time watermark of the operator's input advances
    /// to `watermark` (epoch milliseconds): no row with an event time at or
    /// before it will arrive any more, so windows that end by then are
    /// complete and can be emitted. Stateless operators ignore it.
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Called once when input `input` of an operator with several inputs
    /// has ended (every row of it has arrived) while others go on: a join
    /// with a bounded table starts joining once the table is whole.
    fn on_input_ended(&mut self, _input: usize, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Called once when the input has ended, to emit whatever is still held.
    /// Stateless operators hold nothing.
    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// The earliest event time (epoch ms) of the rows this operator holds
    /// whose results it has not emitted yet, or `None` when it holds none.
    ///
    /// The engine commits a source's positions (Kafka offsets) only past
    /// rows that no operator still holds, so that a restart re-reads them:
    /// an operator that buffers rows must report them here. A bound that
    /// is lower than the truth is safe (commits wait longer); one that is
    /// higher loses rows on a crash. Called after every call, so keep it
    /// cheap.
    fn retained(&self) -> Option<i64> {
        None
    }

    /// How many rows the operator holds as state (a join's sides, a
    /// temporal join's versions and waiting rows), for the state-size
    /// gauge and the run's peak; `None` for operators that do not count
    /// them. Called after every call, so keep it cheap.
    fn held_rows(&self) -> Option<u64> {
        None
    }

    /// Encodes the operator's state for a checkpoint, or `None` when it
    /// has none. It takes `&mut self` because DataFusion's accumulators
    /// give their state up only by value (`state()` consumes it); an
    /// operator encodes and then rebuilds what it holds, so the run goes
    /// on exactly as if nothing had happened. The default says the
    /// operator cannot be checkpointed, which the engine reports before
    /// the run starts; stateless operators return `Ok(None)`.
    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        Err(crate::OperatorError::Snapshot {
            operator: self.name().to_string(),
            reason: "this operator's state cannot be checkpointed yet".into(),
        })
    }

    /// Restores state written by [`Operator::snapshot`].
    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        Err(crate::OperatorError::Snapshot {
            operator: self.name().to_string(),
            reason: format!("a stateless operator got a snapshot of {} bytes", snapshot.bytes.len()),
        })
    }
}
