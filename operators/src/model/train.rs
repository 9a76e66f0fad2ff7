//! `Train`: test-then-train on labelled rows (`INSERT INTO model`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use weir_kernels::Task;

use crate::error::{OperatorError, Result};
use crate::operator::Operator;

use super::{complete, feature_columns, KeyMetrics, lock, metrics_schema, ModelState, Prequential, push_row, SharedModel};
use crate::pending::Pending;

/// Rows learned between two looks of an adapting model's drift detector
/// (see [`crate::model_drift`]).
const DRIFT_CHUNK: usize = 64;

/// Learns from labelled rows: the operator behind `INSERT INTO model`.
/// It emits nothing; its effect is on the shared model.
#[derive(Debug)]
pub struct Train {
    model: SharedModel,
    key: Option<usize>,
    features: Vec<usize>,
    label: usize,
    /// The event-time column: with one, rows wait until the watermark
    /// passes them and are learned in event-time order.
    time: Option<usize>,
    /// Rows waiting for the watermark.
    pending: Pending,
    /// The last watermark heard.
    watermark: i64,
    keys: Vec<u32>,
    rows: Vec<f32>,
    labels: Vec<f32>,
    /// Event times of the rows learned, for alerts: the rows' own, or
    /// without a time column the watermark when they were learned.
    times: Vec<Option<i64>>,
    out: Vec<f32>,
    /// Rows learned between two looks of an adapting drift detector.
    drift_chunk: usize,
}

impl Train {
    /// Trains `model` on column `label` from the `features` columns, per
    /// value of column `key` (or one global model).
    pub fn new(model: SharedModel, key: Option<usize>, features: Vec<usize>, label: usize) -> Self {
        Self {
            model,
            key,
            features,
            label,
            time: None,
            pending: Pending::default(),
            watermark: i64::MIN,
            keys: Vec::new(),
            rows: Vec::new(),
            labels: Vec::new(),
            times: Vec::new(),
            out: Vec::new(),
            drift_chunk: DRIFT_CHUNK,
        }
    }

    /// Learns in event-time order of column `time`: rows wait until the
    /// watermark passes them, then are learned sorted by time (ties by key,
    /// label and features, never by arrival).
    pub fn in_event_time_order(mut self, time: usize) -> Self {
        self.time = Some(time);
        self
    }

    /// Learns the pending rows at or before `watermark` (all of them with
    /// `None`), in event-time order.
    fn release(&mut self, watermark: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(time) = self.time else { return Ok(()) };
        let order = self.order(time);
        match self.pending.take_ready(&order, watermark, "train")? {
            Some(sorted) => self.learn(sorted, out),
            None => Ok(()),
        }
    }

    /// The columns that order the rows learned: the time, then (for ties)
    /// the key, the label and the features, so the order does not depend
    /// on arrival: two runs (or a run and its replay after a restore) learn
    /// the same sequence.
    pub(super) fn order(&self, time: usize) -> Vec<usize> {
        let mut columns = vec![time];
        columns.extend(self.key);
        columns.push(self.label);
        columns.extend(&self.features);
        columns
    }

    /// The key column.
    pub(super) fn key(&self) -> Option<usize> {
        self.key
    }

    /// The model it trains.
    pub(super) fn model(&self) -> &SharedModel {
        &self.model
    }

    /// Takes one kernel step per row with an adapting drift detector, so
    /// that where a reset or swap lands does not depend on how rows were
    /// batched (the event-time scorer's rows arrive in runs that do).
    pub(super) fn row_by_row(mut self) -> Self {
        self.drift_chunk = 1;
        self
    }

    /// Test-then-train on every row of `batch`, in its order.
    pub(super) fn learn(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let model = Arc::clone(&self.model);
        let mut state = lock(&model);
        let n = batch.num_rows();
        let indices = state.key_indices(self.key.map(|k| batch.column(k)), n)?;
        let columns = feature_columns(&batch, &self.features, &state)?;
        let labels = state.labels(batch.column(self.label))?;
        self.keys.clear();
        self.rows.clear();
        self.labels.clear();
        self.times.clear();
        let times = match (self.time, &state.drift) {
            (Some(t), Some(_)) => Some(cast(batch.column(t), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(|e| state.arrow(e))?),
            _ => None,
        };
        let times = times.as_ref().map(|t| t.as_primitive::<TimestampMillisecondType>());
        for (r, key) in indices.iter().enumerate() {
            match (key, labels[r]) {
                (Some(k), Some(y)) if complete(&columns, r) => {
                    self.keys.push(*k);
                    push_row(&columns, r, &mut self.rows);
                    self.labels.push(y);
                    match times {
                        Some(t) => self.times.push(t.is_valid(r).then(|| t.value(r))),
                        // Without an event-time column, the watermark the row
                        // was learned at: its event time is no earlier.
                        None if state.drift.is_some() => self.times.push((self.watermark > 0).then_some(self.watermark)),
                        None => {}
                    }
                }
                _ => state.metrics.skipped += 1,
            }
        }
        self.out.resize(self.keys.len() * state.bank.spec().n_outputs(), 0.0);
        let task = state.bank.spec().task;
        let (f, o, n) = (state.bank.spec().n_features, task.n_outputs(), self.keys.len());
        let state = &mut *state;
        // With adaptation, rows are learned in chunks so that a key's reset
        // or swap takes effect within DRIFT_CHUNK rows of its detection.
        let chunk = match &state.drift {
            Some(d) if d.adapts() => self.drift_chunk,
            _ => n.max(1),
        };
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let (keys, labels) = (&self.keys[start..end], &self.labels[start..end]);
            let (rows, outputs) = (&self.rows[start * f..end * f], &mut self.out[start * o..end * o]);
            let started = std::time::Instant::now();
            state.bank.learn(keys, rows, labels, outputs).map_err(|source| OperatorError::Model { model: state.name.clone(), source })?;
            state.kernel_time(true, started.elapsed().as_secs_f64());
            if let Some(drift) = &mut state.drift {
                let times = self.times.get(start..end).unwrap_or_default();
                drift
                    .observe(state.bank.as_mut(), keys, rows, labels, outputs, &state.names, times)
                    .map_err(|source| OperatorError::Model { model: state.name.clone(), source })?;
            }
        }
        let metrics = self.metrics_batch(state, task)?;
        let mut learned = Prequential::default();
        for (p, &y) in self.out.chunks(o).zip(&self.labels) {
            learned.add(task, p, y);
        }
        state.metrics.merge(&learned);
        state.recent.add(learned);
        out.extend(metrics);
        if let Some(drift) = &mut state.drift {
            let method = drift.method();
            out.extend(drift.alerts.batch(&state.name, Some(&state.name), method)?);
        }
        Ok(())
    }

    /// One [`metrics_schema`] row per key that this batch trained.
    fn metrics_batch(&self, state: &mut ModelState, task: Task) -> Result<Option<RecordBatch>> {
        let mut touched: Vec<u32> = Vec::new();
        if state.per_key.len() < state.bank.n_keys() {
            state.per_key.resize(state.bank.n_keys(), KeyMetrics::default());
        }
        for ((&k, p), &y) in self.keys.iter().zip(self.out.chunks(task.n_outputs())).zip(&self.labels) {
            let m = &mut state.per_key[k as usize];
            if m.batch_mark != state.metrics.rows + 1 {
                m.batch_mark = state.metrics.rows + 1;
                touched.push(k);
            }
            m.add(task, p, y);
        }
        if touched.is_empty() {
            return Ok(None);
        }
        let name = state.name.clone();
        let key_name = |k: u32| state.names.get(k as usize).cloned().flatten();
        let metric = |f: &dyn Fn(&KeyMetrics) -> Option<f64>| -> ArrayRef {
            Arc::new(touched.iter().map(|&k| f(&state.per_key[k as usize])).collect::<Float64Array>())
        };
        let classification = task.is_classification();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(touched.iter().map(|_| name.as_str()))),
            Arc::new(touched.iter().map(|&k| key_name(k)).collect::<StringArray>()),
            Arc::new(touched.iter().map(|&k| state.per_key[k as usize].total.rows as i64).collect::<Int64Array>()),
            metric(&|m| m.total.accuracy().filter(|_| classification)),
            metric(&|m| m.total.log_loss().filter(|_| classification)),
            metric(&|m| m.total.mae()),
            metric(&|m| m.total.rmse()),
            metric(&|m| m.recent.accuracy.filter(|_| classification)),
            metric(&|m| m.recent.log_loss.filter(|_| classification)),
            metric(&|m| m.recent.abs_error),
            metric(&|m| m.recent.sq_error.map(f64::sqrt)),
        ];
        RecordBatch::try_new(metrics_schema(), columns)
            .map(Some)
            .map_err(|source| OperatorError::Arrow { operator: "train".into(), source })
    }
}

/// The encoding of [`Train`]'s snapshots (and of the event-time scorer's,
/// which start the same way, so `weir model export` reads both).
pub(super) const SNAPSHOT_VERSION: u32 = 1;

impl Train {
    /// The keys' models in one worker's [`Train`] snapshot, as a model
    /// snapshot's keys, and the rows that worker's model counts as learned
    /// (including a warm start's): what `weir model export` reads out of a
    /// checkpoint. `spec` is the model's declaration.
    pub fn checkpointed_keys(snapshot: &crate::StateSnapshot, spec: &weir_kernels::ModelSpec) -> Result<(Vec<crate::KeySnapshot>, u64)> {
        let mut reader = crate::codec::Reader::new("train", snapshot, SNAPSHOT_VERSION)?;
        let saved: super::SavedModel = crate::codec::decode("train", reader.bytes()?)?;
        let state: weir_kernels::BankState = saved.bank.into();
        Ok((super::state::key_snapshots(&saved.names, &state, spec), saved.base_rows + saved.metrics.rows))
    }
}

impl Operator for Train {
    fn name(&self) -> &str {
        "train"
    }

    /// The worker's model (bank, keys, metrics, drift detectors and
    /// background models), the rows waiting for the watermark and the
    /// watermark. `Train` is the model's one participant: `ML_PREDICT`
    /// only adds untrained keys, which a replay adds again.
    fn snapshot(&mut self) -> Result<Option<crate::StateSnapshot>> {
        let saved = lock(&self.model).save()?;
        let mut bytes = Vec::new();
        crate::codec::write_bytes(&mut bytes, &crate::codec::encode("train", &saved)?);
        crate::codec::write_i64(&mut bytes, self.watermark);
        self.pending.write(&mut bytes, "train")?;
        Ok(Some(crate::StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: crate::StateSnapshot) -> Result<()> {
        let mut reader = crate::codec::Reader::new("train", &snapshot, SNAPSHOT_VERSION)?;
        let saved = crate::codec::decode("train", reader.bytes()?)?;
        self.watermark = reader.i64()?;
        self.pending = Pending::read(&mut reader, self.time, "train")?;
        lock(&self.model).load(saved)
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(time) = self.time {
            return self.pending.push(batch, time, "train");
        }
        self.learn(batch, out)
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
        (!self.pending.is_empty()).then(|| self.watermark.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use weir_kernels::{ModelSpec, Task};

    use super::Train;
    use crate::drift::DetectorSpec;
    use crate::model::ModelState;
    use crate::model_drift::{ModelDriftSpec, OnDrift};
    use crate::replay::{assert_restores, Step};
    use crate::Operator;

    /// `rows` labelled rows of three sensors, `(sensor, x1, x2, label, ts)`,
    /// each `batch` rows a batch and a watermark after it; the concept
    /// flips halfway, so drift detectors fire and adapt.
    fn steps(rows: i64, batch: i64) -> Vec<Step> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sensor", DataType::Int64, false),
            Field::new("x1", DataType::Float64, false),
            Field::new("x2", DataType::Float64, false),
            Field::new("label", DataType::Boolean, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ]));
        let mut steps = Vec::new();
        for start in (0..rows).step_by(batch as usize) {
            let i: Vec<i64> = (start..(start + batch).min(rows)).collect();
            let x1: Vec<f64> = i.iter().map(|i| ((i * 7919) % 200) as f64 / 100.0 - 1.0).collect();
            let x2: Vec<f64> = i.iter().map(|i| ((i * 104_729) % 200) as f64 / 100.0 - 1.0).collect();
            let label: Vec<bool> = i.iter().zip(&x1).map(|(i, x)| (*x > 0.0) != (*i >= rows / 2)).collect();
            // Up to 5 rows out of order, and ties in time.
            let ts: Vec<i64> = i.iter().map(|i| 1_000 * (i / 2) - (i * 31 % 5) * 1_000).collect();
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(i.iter().map(|i| i % 3).collect::<Vec<_>>())),
                    Arc::new(Float64Array::from(x1)),
                    Arc::new(Float64Array::from(x2)),
                    Arc::new(BooleanArray::from(label)),
                    Arc::new(TimestampMillisecondArray::from(ts.clone())),
                ],
            )
            .expect("batch");
            let watermark = ts.iter().max().copied().unwrap_or(0) - 6_000;
            steps.push(Step::Rows(0, batch));
            steps.push(Step::Watermark(watermark));
        }
        steps
    }

    /// A fresh operator over a fresh model each time: a restore replaces
    /// the whole model, as a restarted process has it.
    fn make(keyed: bool, event_time: bool, drift: Option<ModelDriftSpec>) -> impl Fn() -> Box<dyn Operator> {
        move || {
            let spec = ModelSpec::river_defaults(Task::Binary, 2);
            let opened = weir_kernels::open_bank(spec, None, weir_kernels::DeviceRequest::Cpu, keyed).expect("bank");
            let model = ModelState::new("m", opened.bank, opened.choice).with_drift(drift.clone()).shared();
            let train = Train::new(model, keyed.then_some(0), vec![1, 2], 3);
            Box::new(if event_time { train.in_event_time_order(4) } else { train })
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_the_model_file_would_write_it() {
        let op = make(true, false, None);
        let mut train = op();
        let mut out = Vec::new();
        for step in steps(300, 50) {
            if let Step::Rows(_, batch) = step {
                train.process(batch, &mut out).expect("learns");
            }
        }
        let snapshot = train.snapshot().expect("snapshot").expect("state");
        let spec = ModelSpec::river_defaults(Task::Binary, 2);
        let (keys, rows) = Train::checkpointed_keys(&snapshot, &spec).expect("reads");
        assert_eq!(rows, 300);
        let names: Vec<Option<String>> = keys.iter().map(|k| k.key.clone()).collect();
        assert_eq!(names, [Some("0".to_string()), Some("1".to_string()), Some("2".to_string())]);
        assert!(keys.iter().all(|k| k.weights.iter().any(|w| *w != 0.0)), "every key learned");
        let other = crate::StateSnapshot { version: snapshot.version + 1, bytes: snapshot.bytes.clone() };
        assert!(Train::checkpointed_keys(&other, &spec).is_err(), "another encoding is refused");
    }

    #[test]
    fn a_model_restores_as_if_it_had_never_stopped() {
        let steps = steps(600, 50);
        let ddm = DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 };
        for keyed in [false, true] {
            for event_time in [false, true] {
                assert_restores(&make(keyed, event_time, None), &steps);
                for on_drift in [OnDrift::None, OnDrift::Reset, OnDrift::Background] {
                    let drift = Some(ModelDriftSpec { detector: ddm.clone(), on_drift });
                    assert_restores(&make(keyed, event_time, drift), &steps);
                }
            }
        }
    }
}
