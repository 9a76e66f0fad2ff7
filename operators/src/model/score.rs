//! `EventTimePredict`: `ML_PREDICT` of a model declared with
//! `'scoring' = 'event-time'`, which scores and learns in one operator.
//!
//! With `'scoring' = 'latest'` a row is scored by the model as it is when
//! the row arrives, so a prediction depends on how the training and the
//! scoring operators happen to interleave: two runs of one pipeline differ,
//! and a replay after a crash differs from the first attempt. Here each row
//! is scored by the model that has learned exactly the training rows whose
//! event time is earlier than the row's. That needs both streams in one
//! place and in one order, so this operator takes the scored rows (input 0)
//! and the training rows (input 1), both exchanged by the model's key, holds
//! them until the watermark passes them, and then walks them in event-time
//! order: at each time it scores that time's rows first and then learns
//! that time's training rows (test-then-train: a row never sees a label of
//! its own time). Ties within a time are ordered by the rows' columns, not
//! by arrival, so the predictions are the same for any worker count, any
//! arrival order within the watermark's bound, and after any recovery.
//!
//! It owns the model's learning (the training query's operator only passes
//! on the metrics and alerts it emits) and so is the model's checkpoint
//! participant; its snapshot begins as [`Train`]'s does.

use std::collections::HashMap;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, take_record_batch};
use datafusion::arrow::datatypes::DataType;

use crate::error::{OperatorError, Result};
use crate::operator::{Operator, StateSnapshot};
use crate::pending::{millis, Pending};

use super::train::SNAPSHOT_VERSION;
use super::{lock, Predict, Train};

/// Scores rows (input 0) and learns labelled rows (input 1) of one model in
/// event-time order: the operator behind `ML_PREDICT` of a model scored in
/// event time. Its output holds the scored rows' batches, and the training
/// query's `ML_METRICS` (and alert) batches.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
/// use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
/// use weir_kernels::{open_bank, DeviceRequest, ModelSpec, Task};
/// use weir_operators::{EventTimePredict, ModelState, Operator, Predict, Train};
///
/// let fields = vec![
///     Field::new("x", DataType::Float64, false),
///     Field::new("y", DataType::Float64, false),
///     Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
/// ];
/// let rows = Arc::new(Schema::new(fields.clone()));
/// let mut scored = fields;
/// scored.push(Field::new("prediction", DataType::Float64, true));
/// let bank = open_bank(ModelSpec::river_defaults(Task::Regression, 1), None, DeviceRequest::Cpu, false)?;
/// let model = ModelState::new("m", bank.bank, bank.choice).shared();
/// let predict = Predict::new(Arc::clone(&model), None, vec![0], Arc::new(Schema::new(scored)));
/// let train = Train::new(model, None, vec![0], 1);
/// let mut op = EventTimePredict::new(predict, 2, train, 2);
/// let batch = |ts: i64| RecordBatch::try_new(Arc::clone(&rows), vec![
///     Arc::new(Float64Array::from(vec![1.0])),
///     Arc::new(Float64Array::from(vec![2.0])),
///     Arc::new(TimestampMillisecondArray::from(vec![ts])),
/// ]);
/// let mut out = Vec::new();
/// op.process_input(1, batch(1_000)?, &mut out)?; // a label at 1 s
/// op.process_input(0, batch(1_000)?, &mut out)?; // scored at 1 s: before that label
/// op.process_input(0, batch(2_000)?, &mut out)?; // scored at 2 s: after it
/// op.on_watermark(5_000, &mut out)?;
/// let predictions: Vec<f64> = out.iter().filter(|b| b.num_columns() == 4).map(|b| {
///     b.column(3).as_any().downcast_ref::<Float64Array>().unwrap().value(0)
/// }).collect();
/// assert_eq!(predictions[0], 0.0, "the untrained model");
/// assert!(predictions[1] > 0.0, "the model that learned y = 2 once");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EventTimePredict {
    predict: Predict,
    train: Train,
    /// Per input (0: scored, 1: training) the columns that order its rows,
    /// the event time first.
    order: [Vec<usize>; 2],
    /// Per input, the key column.
    keys: [Option<usize>; 2],
    /// Per input, the rows waiting for the watermark.
    pending: [Pending; 2],
    /// The last watermark heard.
    watermark: i64,
}

impl EventTimePredict {
    /// Scores with `predict` the rows of input 0 by their event-time column
    /// `scored_time`, and learns with `train` (which must share its model)
    /// the rows of input 1 by theirs, `train_time`.
    pub fn new(predict: Predict, scored_time: usize, train: Train, train_time: usize) -> Self {
        let mut scored = vec![scored_time];
        scored.extend(predict.key);
        scored.extend(&predict.features);
        let order = [scored, train.order(train_time)];
        let keys = [predict.key, train.key()];
        let train = train.in_event_time_order(train_time).row_by_row();
        Self { predict, train, order, keys, pending: [Pending::default(), Pending::default()], watermark: i64::MIN }
    }

    /// Scores and learns every held row at or before `watermark` (all of
    /// them with `None`) in event-time order, scoring before learning
    /// within a time.
    ///
    /// Keys' models are independent, so what must be ordered is each key's
    /// own sequence: in time order its rows alternate between runs of
    /// scored rows and runs of training rows, and the `r`-th of those pairs
    /// is round `r`. Rounds go in order, each scoring every key's scored
    /// rows of it in one kernel call, then learning every key's training
    /// rows of it in another, instead of a call per distinct time.
    fn release(&mut self, watermark: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        let scored = self.pending[0].take_ready(&self.order[0], watermark, "ml_predict")?;
        let training = self.pending[1].take_ready(&self.order[1], watermark, "ml_predict")?;
        let side = |batch: &Option<RecordBatch>, i: usize| -> Result<Side> {
            let Some(b) = batch else { return Ok((Vec::new(), Vec::new())) };
            let keys = match self.keys[i] {
                Some(k) => {
                    let text = cast(b.column(k), &DataType::Utf8).map_err(|source| OperatorError::Arrow { operator: "ml_predict".into(), source })?;
                    text.as_string::<i32>().iter().map(|k| k.map(str::to_string)).collect()
                }
                None => vec![None; b.num_rows()],
            };
            Ok((millis(b, self.order[i][0], "ml_predict")?, keys))
        };
        let (s, t) = (side(&scored, 0)?, side(&training, 1)?);
        let (scored_rounds, training_rounds) = rounds(&s, &t);
        for r in 0..scored_rounds.len().max(training_rounds.len()) {
            if let (Some(b), Some(rows)) = (&scored, scored_rounds.get(r)) {
                self.predict.process(take(b, rows)?, out)?;
            }
            if let (Some(b), Some(rows)) = (&training, training_rounds.get(r)) {
                self.train.learn(take(b, rows)?, out)?;
            }
        }
        Ok(())
    }
}

/// One side's held rows in time order: their times (milliseconds) and keys.
type Side = (Vec<Option<i64>>, Vec<Option<String>>);

/// The rows of each round, per side (scored, training), from each side's
/// rows' times and keys in time order: per key, a scored row is in the
/// round after the key's last training row before it (a training row of
/// the same time comes after it: NULL times count as earliest), and a
/// training row in the round of the key's last scored row before it.
fn rounds(scored: &Side, training: &Side) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let mut by_key: HashMap<&Option<String>, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, k) in scored.1.iter().enumerate() {
        by_key.entry(k).or_default().0.push(i);
    }
    for (j, k) in training.1.iter().enumerate() {
        by_key.entry(k).or_default().1.push(j);
    }
    let (mut s_round, mut t_round) = (vec![0u32; scored.0.len()], vec![0u32; training.0.len()]);
    for (s, t) in by_key.values() {
        let (mut i, mut j, mut round, mut learning) = (0, 0, 0u32, false);
        while i < s.len() || j < t.len() {
            if j == t.len() || (i < s.len() && scored.0[s[i]] <= training.0[t[j]]) {
                if learning {
                    round += 1;
                    learning = false;
                }
                s_round[s[i]] = round;
                i += 1;
            } else {
                learning = true;
                t_round[t[j]] = round;
                j += 1;
            }
        }
    }
    let group = |rounds: &[u32]| {
        let mut out: Vec<Vec<u32>> = Vec::new();
        for (row, &r) in rounds.iter().enumerate() {
            if out.len() <= r as usize {
                out.resize(r as usize + 1, Vec::new());
            }
            out[r as usize].push(row as u32);
        }
        out
    };
    (group(&s_round), group(&t_round))
}

/// The `rows` of `batch`, in their order.
fn take(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
    take_record_batch(batch, &UInt32Array::from(rows.to_vec())).map_err(|source| OperatorError::Arrow { operator: "ml_predict".into(), source })
}

impl Operator for EventTimePredict {
    fn name(&self) -> &str {
        "ml_predict"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.process_input(0, batch, out)
    }

    fn process_input(&mut self, input: usize, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        match (self.pending.get_mut(input), self.order.get(input)) {
            (Some(pending), Some(order)) => pending.push(batch, order[0], "ml_predict"),
            _ => Err(OperatorError::Snapshot { operator: "ml_predict".into(), reason: format!("input {input} of two") }),
        }
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        self.release(Some(watermark), out)
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.release(None, out)
    }

    fn retained(&self) -> Option<i64> {
        // Rows wait for the watermark to pass them (they arrived ahead of it).
        self.pending.iter().any(|p| !p.is_empty()).then(|| self.watermark.saturating_add(1))
    }

    fn held_rows(&self) -> Option<u64> {
        Some(self.pending.iter().map(Pending::rows).sum())
    }

    /// The worker's model (as [`Train`]'s snapshot holds it), the
    /// watermark, and both inputs' rows waiting for it.
    fn snapshot(&mut self) -> Result<Option<StateSnapshot>> {
        let saved = lock(self.train.model()).save()?;
        let mut bytes = Vec::new();
        crate::codec::write_bytes(&mut bytes, &crate::codec::encode("ml_predict", &saved)?);
        crate::codec::write_i64(&mut bytes, self.watermark);
        for pending in &self.pending {
            pending.write(&mut bytes, "ml_predict")?;
        }
        Ok(Some(StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: StateSnapshot) -> Result<()> {
        let mut reader = crate::codec::Reader::new("ml_predict", &snapshot, SNAPSHOT_VERSION)?;
        let saved = crate::codec::decode("ml_predict", reader.bytes()?)?;
        self.watermark = reader.i64()?;
        for (pending, order) in self.pending.iter_mut().zip(&self.order) {
            *pending = Pending::read(&mut reader, order.first().copied(), "ml_predict")?;
        }
        lock(self.train.model()).load(saved)
    }
}

#[cfg(test)]
mod tests;
