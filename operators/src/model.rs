//! Online models as operators: [`Train`] learns from labelled rows
//! (test-then-train) and [`Predict`] appends predictions to rows, both
//! against one [`ModelState`] that the worker shares between them, so a
//! prediction uses the model as it is at that moment.
//!
//! Rows reach a model's operators through a keyed exchange on the model's
//! `partition_by` column (all rows to one worker for a global model), so
//! every key's model lives on exactly one worker and learns that key's rows
//! in the order they arrive there. Keys become dense indices into the
//! kernels' bank the first time they are seen: per-key models are created
//! on first sight, by training or by scoring.
//!
//! A row whose key, label or any feature is NULL cannot be learned: it is
//! counted in [`Prequential::skipped`] and left out, never a failure. A row
//! scored with a NULL feature gets a NULL prediction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::kernels::boolean::not;
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Float32Type, SchemaRef, TimeUnit, TimestampMillisecondType};
use weir_kernels::{ModelBank, Task};

use crate::error::{OperatorError, Result};
use crate::operator::Operator;

/// A model's bank on one worker, shared by its `Train` and `Predict`
/// operators.
pub type SharedModel = Arc<Mutex<ModelState>>;

/// Prequential (test-then-train) metrics: every training row is scored
/// before it is learned, so these estimate accuracy on unseen data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prequential {
    /// Rows learned.
    pub rows: u64,
    /// Rows left out because a key, label or feature was NULL.
    pub skipped: u64,
    /// Rows predicted correctly (classification).
    pub correct: u64,
    /// Sum of log losses (classification, probabilities clipped to 1e-15).
    pub log_loss_sum: f64,
    /// Sum of absolute errors (regression; for classification, of the
    /// probability given to the true class against 1).
    pub abs_error_sum: f64,
    /// Sum of squared errors.
    pub sq_error_sum: f64,
}

impl Prequential {
    /// Adds one row: the model's outputs before learning it (one value,
    /// or one probability per class) and its label.
    fn add(&mut self, task: Task, outputs: &[f32], label: f32) {
        let y = f64::from(label);
        self.rows += 1;
        // The error: of the score (regression) or of the probability given
        // to the true class against 1 (classification).
        let (error, p_true, correct) = match task {
            Task::Regression => (f64::from(outputs[0]) - y, 1.0, false),
            Task::Binary => {
                let p = f64::from(outputs[0]);
                let p_true = if y > 0.5 { p } else { 1.0 - p };
                (1.0 - p_true, p_true, (p > 0.5) == (y > 0.5))
            }
            Task::Multiclass { .. } => {
                let p_true = outputs.get(label as usize).map_or(0.0, |&p| f64::from(p));
                (1.0 - p_true, p_true, argmax(outputs) as f64 == y)
            }
        };
        if task.is_classification() {
            self.correct += u64::from(correct);
            self.log_loss_sum -= p_true.clamp(1e-15, 1.0).ln();
        }
        self.abs_error_sum += error.abs();
        self.sq_error_sum += error * error;
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: &Prequential) {
        self.rows += other.rows;
        self.skipped += other.skipped;
        self.correct += other.correct;
        self.log_loss_sum += other.log_loss_sum;
        self.abs_error_sum += other.abs_error_sum;
        self.sq_error_sum += other.sq_error_sum;
    }

    fn mean(&self, sum: f64) -> Option<f64> {
        (self.rows > 0).then(|| sum / self.rows as f64)
    }

    /// Fraction of rows predicted correctly.
    pub fn accuracy(&self) -> Option<f64> {
        self.mean(self.correct as f64)
    }

    /// Mean log loss.
    pub fn log_loss(&self) -> Option<f64> {
        self.mean(self.log_loss_sum)
    }

    /// Mean absolute error.
    pub fn mae(&self) -> Option<f64> {
        self.mean(self.abs_error_sum)
    }

    /// Root mean squared error.
    pub fn rmse(&self) -> Option<f64> {
        self.mean(self.sq_error_sum).map(f64::sqrt)
    }
}

/// Prequential metrics of the rows learned in the last 60 seconds of wall
/// clock time, in one-second buckets (what `weir_model_accuracy` and the
/// other gauges report; in a run younger than a minute, every row so far).
///
/// ```
/// use weir_operators::model::LastMinute;
/// let mut recent = LastMinute::default();
/// recent.add_at(100, weir_operators::Prequential { rows: 10, correct: 9, ..Default::default() });
/// recent.add_at(130, weir_operators::Prequential { rows: 10, correct: 5, ..Default::default() });
/// assert_eq!(recent.sum_at(150).accuracy(), Some(0.7));
/// assert_eq!(recent.sum_at(165).accuracy(), Some(0.5)); // second 100 is over a minute old
/// ```
#[derive(Debug, Clone, Default)]
pub struct LastMinute {
    /// `(second, metrics)`, oldest first, at most one per second.
    buckets: std::collections::VecDeque<(u64, Prequential)>,
}

impl LastMinute {
    /// The window's length in seconds.
    pub const SECONDS: u64 = 60;

    /// Adds rows learned now.
    pub fn add(&mut self, learned: Prequential) {
        self.add_at(now_second(), learned);
    }

    /// Adds rows learned at `second` (seconds since the epoch).
    pub fn add_at(&mut self, second: u64, learned: Prequential) {
        match self.buckets.back_mut() {
            Some((s, m)) if *s == second => m.merge(&learned),
            _ => self.buckets.push_back((second, learned)),
        }
        while self.buckets.front().is_some_and(|(s, _)| *s + Self::SECONDS <= second) {
            self.buckets.pop_front();
        }
    }

    /// The rows learned in the minute up to now.
    pub fn sum(&self) -> Prequential {
        self.sum_at(now_second())
    }

    /// The rows learned in the minute up to `second`.
    pub fn sum_at(&self, second: u64) -> Prequential {
        let mut total = Prequential::default();
        for (_, m) in self.buckets.iter().filter(|(s, _)| *s + Self::SECONDS > second) {
            total.merge(m);
        }
        total
    }
}

fn now_second() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The class with the highest probability (the first of ties).
pub(crate) fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (c, &q) in p.iter().enumerate() {
        if q > p[best] {
            best = c;
        }
    }
    best
}

/// Rows over which the `recent_*` metrics are averaged (exponentially
/// weighted: a row's weight halves about every 700 rows).
pub const RECENT_ROWS: f64 = 1000.0;

/// Exponentially weighted means of the recent rows' errors.
#[derive(Debug, Clone, Default, PartialEq)]
struct Recent {
    accuracy: Option<f64>,
    log_loss: Option<f64>,
    abs_error: Option<f64>,
    sq_error: Option<f64>,
}

impl Recent {
    fn add(&mut self, rows: u64, correct: f64, log_loss: f64, abs_error: f64, sq_error: f64) {
        // Plain means until the window fills, then exponential decay.
        let alpha = 1.0 / (rows as f64).min(RECENT_ROWS);
        let ew = |slot: &mut Option<f64>, x: f64| *slot = Some(slot.map_or(x, |m| m + alpha * (x - m)));
        ew(&mut self.accuracy, correct);
        ew(&mut self.log_loss, log_loss);
        ew(&mut self.abs_error, abs_error);
        ew(&mut self.sq_error, sq_error);
    }
}

/// One key's prequential metrics: over all rows and over recent ones.
#[derive(Debug, Clone, Default, PartialEq)]
struct KeyMetrics {
    total: Prequential,
    recent: Recent,
    /// Marks the key as already listed in the current batch's output.
    batch_mark: u64,
}

impl KeyMetrics {
    fn add(&mut self, task: Task, outputs: &[f32], label: f32) {
        let before = self.total.clone();
        self.total.add(task, outputs, label);
        let d = |a: f64, b: f64| a - b;
        self.recent.add(
            self.total.rows,
            d(self.total.correct as f64, before.correct as f64),
            d(self.total.log_loss_sum, before.log_loss_sum),
            d(self.total.abs_error_sum, before.abs_error_sum),
            d(self.total.sq_error_sum, before.sq_error_sum),
        );
    }
}

/// The columns of `ML_METRICS(MODEL m)`: after each training batch, one row
/// per key it trained, with prequential metrics over all of that key's rows
/// and over its recent ones ([`RECENT_ROWS`], exponentially weighted).
/// Accuracy and log loss are NULL for regression.
pub fn metrics_schema() -> SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    static SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
        let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
        Arc::new(Schema::new(vec![
            f("model", DataType::Utf8, false),
            f("key", DataType::Utf8, true),
            f("rows", DataType::Int64, false),
            f("accuracy", DataType::Float64, true),
            f("log_loss", DataType::Float64, true),
            f("mae", DataType::Float64, true),
            f("rmse", DataType::Float64, true),
            f("recent_accuracy", DataType::Float64, true),
            f("recent_log_loss", DataType::Float64, true),
            f("recent_mae", DataType::Float64, true),
            f("recent_rmse", DataType::Float64, true),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// One model's bank on one worker, its key index and its metrics.
pub struct ModelState {
    name: String,
    bank: Box<dyn ModelBank>,
    keys: HashMap<String, u32>,
    /// The key of each bank entry (`None` for a global model).
    names: Vec<Option<String>>,
    /// Metrics of each bank entry.
    per_key: Vec<KeyMetrics>,
    /// Metrics over every row learned.
    pub metrics: Prequential,
    /// Metrics of the rows learned in the last minute of wall-clock time.
    pub recent: LastMinute,
    /// Rows scored by `ML_PREDICT`.
    pub rows_scored: u64,
    /// Where the bank runs and why (from `open_bank`).
    pub device: String,
    /// A multiclass model's class names, in output order.
    classes: Vec<String>,
    /// Class index by name (for STRING labels).
    class_index: HashMap<String, u32>,
    /// The type of `prediction` for a classifier (the OUTPUT's type).
    output_type: DataType,
    /// `'drift.detector'` and `'on_drift'`, when declared.
    drift: Option<crate::model_drift::ModelDrift>,
    /// Seconds of each kernel call not yet taken by [`ModelState::take_kernel_times`]:
    /// `(learning, seconds)`; the oldest are dropped past [`KERNEL_TIMES`].
    kernel_times: Vec<(bool, f64)>,
}

/// Kernel timings kept between two readers.
const KERNEL_TIMES: usize = 4096;

impl ModelState {
    /// Records one kernel call (a bank's learn or predict) that took
    /// `seconds`.
    fn kernel_time(&mut self, learning: bool, seconds: f64) {
        if self.kernel_times.len() >= KERNEL_TIMES {
            self.kernel_times.drain(..KERNEL_TIMES / 2);
        }
        self.kernel_times.push((learning, seconds));
    }

    /// The kernel calls' durations since the last call, `(learning,
    /// seconds)`, for a metrics histogram.
    pub fn take_kernel_times(&mut self) -> Vec<(bool, f64)> {
        std::mem::take(&mut self.kernel_times)
    }
}

impl std::fmt::Debug for ModelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelState").field("name", &self.name).field("keys", &self.keys.len()).field("device", &self.device).finish()
    }
}

impl ModelState {
    /// A model named `name` over `bank`.
    pub fn new(name: impl Into<String>, bank: Box<dyn ModelBank>, device: String) -> Self {
        Self {
            name: name.into(),
            bank,
            keys: HashMap::new(),
            names: Vec::new(),
            per_key: Vec::new(),
            metrics: Prequential::default(),
            recent: LastMinute::default(),
            rows_scored: 0,
            device,
            classes: Vec::new(),
            class_index: HashMap::new(),
            output_type: DataType::Float64,
            drift: None,
            kernel_times: Vec::new(),
        }
    }

    /// Runs `spec`'s detector on every key's prequential errors, adapting
    /// as it says (see [`crate::model_drift`]); its alerts join the
    /// training query's output ([`alerts_schema`](crate::drift::alerts_schema)
    /// batches beside the metrics).
    pub fn with_drift(mut self, spec: Option<crate::model_drift::ModelDriftSpec>) -> Self {
        let model_spec = *self.bank.spec();
        self.drift = spec.map(|s| crate::model_drift::ModelDrift::new(s, model_spec));
        self
    }

    /// Sets the type of the labels and predictions (the model's OUTPUT)
    /// and, for a multiclass model, its classes in output order: labels
    /// are their names (a STRING output) or their indices (an integer one).
    pub fn with_output(mut self, output_type: DataType, classes: Option<Vec<String>>) -> Self {
        self.classes = classes.unwrap_or_default();
        self.class_index = self.classes.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        self.output_type = output_type;
        self
    }

    /// The labels of a training batch as the kernels take them (0/1 for
    /// binary, the class index for multiclass), `None` where a label is
    /// NULL or names no class of the model.
    fn labels(&self, column: &ArrayRef) -> Result<Vec<Option<f32>>> {
        let task = self.bank.spec().task;
        let Task::Multiclass { classes } = task else {
            let values = cast(column, &DataType::Float32).map_err(|e| self.arrow(e))?;
            return Ok(values.as_primitive::<Float32Type>().iter().collect());
        };
        if self.output_type.is_integer() {
            let values = cast(column, &DataType::Int64).map_err(|e| self.arrow(e))?;
            let values = values.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            return Ok(values.iter().map(|v| v.filter(|&c| (0..i64::from(classes)).contains(&c)).map(|c| c as f32)).collect());
        }
        let names = cast(column, &DataType::Utf8).map_err(|e| self.arrow(e))?;
        Ok(names.as_string::<i32>().iter().map(|v| v.and_then(|name| self.class_index.get(name)).map(|&c| c as f32)).collect())
    }

    /// The `prediction` column of scored rows: the class with the highest
    /// probability, as the OUTPUT's type.
    fn class_column(&self, classes: Vec<Option<usize>>) -> Result<ArrayRef> {
        if !self.output_type.is_integer() {
            let names: StringArray = classes.iter().map(|c| c.and_then(|c| self.classes.get(c).map(String::as_str))).collect();
            return cast(&names, &self.output_type).map_err(|e| self.arrow(e));
        }
        let indices: Int64Array = classes.iter().map(|c| c.map(|c| c as i64)).collect();
        cast(&indices, &self.output_type).map_err(|e| self.arrow(e))
    }

    /// Wraps the state for sharing between a worker's operators.
    pub fn shared(self) -> SharedModel {
        Arc::new(Mutex::new(self))
    }

    /// Number of models in the bank (keys seen; 1 for a global model).
    pub fn keys(&self) -> usize {
        self.bank.n_keys()
    }

    /// A model that starts from saved keys: `keys[i]` names bank entry `i`
    /// (`None` for a global model's single entry).
    pub fn with_keys(mut self, keys: Vec<Option<String>>) -> Self {
        for (i, key) in keys.iter().enumerate() {
            if let Some(k) = key {
                self.keys.insert(k.clone(), i as u32);
            }
        }
        self.names = keys;
        self
    }

    /// Every key's numbers, for a snapshot.
    pub fn snapshot_keys(&mut self) -> Result<Vec<crate::model_snapshot::KeySnapshot>> {
        let state = self.bank.state().map_err(|e| self.error(e))?;
        let spec = *self.bank.spec();
        let mut names: Vec<Option<String>> = vec![None; state.n_keys()];
        for (k, &i) in &self.keys {
            if let Some(slot) = names.get_mut(i as usize) {
                *slot = Some(k.clone());
            }
        }
        Ok(names.into_iter().enumerate().map(|(i, key)| crate::model_snapshot::KeySnapshot::from_state(key, &state, i, &spec)).collect())
    }

    fn error(&self, source: weir_kernels::KernelError) -> OperatorError {
        OperatorError::Model { model: self.name.clone(), source }
    }

    /// The dense index of every row's key (`None` for a NULL key), creating
    /// models for keys seen for the first time. Without a key column every
    /// row maps to model 0.
    fn key_indices(&mut self, key: Option<&ArrayRef>, rows: usize) -> Result<Vec<Option<u32>>> {
        let indices = match key {
            None => vec![Some(0); rows],
            Some(column) => {
                let text = cast(column, &DataType::Utf8).map_err(|source| self.arrow(source))?;
                let text: &StringArray = text.as_string();
                text.iter()
                    .map(|k| {
                        k.map(|k| match self.keys.get(k) {
                            Some(&i) => i,
                            None => {
                                let i = self.keys.len() as u32;
                                self.keys.insert(k.to_string(), i);
                                self.names.push(Some(k.to_string()));
                                i
                            }
                        })
                    })
                    .collect()
            }
        };
        let needed = if key.is_none() { 1 } else { self.keys.len() };
        if needed > self.bank.n_keys() {
            self.bank.ensure_keys(needed).map_err(|e| self.error(e))?;
        }
        Ok(indices)
    }

    fn arrow(&self, source: datafusion::arrow::error::ArrowError) -> OperatorError {
        OperatorError::Arrow { operator: format!("model {}", self.name), source }
    }
}

fn lock(model: &SharedModel) -> MutexGuard<'_, ModelState> {
    match model.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The feature columns of a batch as Float32 arrays.
fn feature_columns(batch: &RecordBatch, features: &[usize], state: &ModelState) -> Result<Vec<ArrayRef>> {
    features.iter().map(|&i| cast(batch.column(i), &DataType::Float32).map_err(|e| state.arrow(e))).collect()
}

/// Whether row `r` has every feature.
fn complete(columns: &[ArrayRef], r: usize) -> bool {
    columns.iter().all(|c| c.is_valid(r))
}

/// Appends row `r`'s features to `rows`.
fn push_row(columns: &[ArrayRef], r: usize, rows: &mut Vec<f32>) {
    rows.extend(columns.iter().map(|c| c.as_primitive::<Float32Type>().value(r)));
}

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
    pending: Vec<RecordBatch>,
    /// The last watermark heard.
    watermark: i64,
    keys: Vec<u32>,
    rows: Vec<f32>,
    labels: Vec<f32>,
    /// Event times of the rows learned, for alerts: the rows' own, or
    /// without a time column the watermark when they were learned.
    times: Vec<Option<i64>>,
    out: Vec<f32>,
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
            pending: Vec::new(),
            watermark: i64::MIN,
            keys: Vec::new(),
            rows: Vec::new(),
            labels: Vec::new(),
            times: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Learns in event-time order of column `time`: rows wait until the
    /// watermark passes them, then are learned sorted by time (ties in
    /// arrival order).
    pub fn in_event_time_order(mut self, time: usize) -> Self {
        self.time = Some(time);
        self
    }

    /// Learns the pending rows at or before `watermark` (all of them with
    /// `None`), in event-time order.
    fn release(&mut self, watermark: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        let (Some(time), Some(first)) = (self.time, self.pending.first()) else { return Ok(()) };
        let arrow = |source| OperatorError::Arrow { operator: "train".into(), source };
        let all = concat_batches(&first.schema(), &self.pending).map_err(arrow)?;
        self.pending.clear();
        let ms = cast(all.column(time), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(arrow)?;
        let ms = ms.as_primitive::<TimestampMillisecondType>();
        // NULL times are learned at once, first: they can never be ordered.
        let ready: BooleanArray = ms.iter().map(|t| Some(match (t, watermark) {
            (Some(t), Some(w)) => t <= w,
            _ => true,
        })).collect();
        let (now, later) = (filter_record_batch(&all, &ready).map_err(arrow)?, filter_record_batch(&all, &not(&ready).map_err(arrow)?).map_err(arrow)?);
        if later.num_rows() > 0 {
            self.pending.push(later);
        }
        if now.num_rows() == 0 {
            return Ok(());
        }
        let order: UInt32Array = {
            let times = cast(now.column(time), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(arrow)?;
            let times = times.as_primitive::<TimestampMillisecondType>();
            let mut idx: Vec<u32> = (0..now.num_rows() as u32).collect();
            idx.sort_by_key(|&i| times.is_valid(i as usize).then(|| times.value(i as usize)));
            idx.into()
        };
        let columns = now.columns().iter().map(|c| take(c, &order, None)).collect::<std::result::Result<Vec<_>, _>>().map_err(arrow)?;
        let sorted = RecordBatch::try_new(now.schema(), columns).map_err(arrow)?;
        self.learn(sorted, out)
    }

    /// Test-then-train on every row of `batch`, in its order.
    fn learn(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
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
            Some(d) if d.adapts() => DRIFT_CHUNK,
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

impl Operator for Train {
    fn name(&self) -> &str {
        "train"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if self.time.is_some() {
            self.pending.push(batch);
            return Ok(());
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

/// Appends `prediction` (and `probability` for classification) to every
/// row: the operator behind `ML_PREDICT`.
#[derive(Debug)]
pub struct Predict {
    model: SharedModel,
    key: Option<usize>,
    features: Vec<usize>,
    schema: SchemaRef,
    keys: Vec<u32>,
    rows: Vec<f32>,
    out: Vec<f32>,
}

impl Predict {
    /// Scores the `features` columns with `model` per value of column `key`;
    /// `schema` is the input's plus the appended columns.
    pub fn new(model: SharedModel, key: Option<usize>, features: Vec<usize>, schema: SchemaRef) -> Self {
        Self { model, key, features, schema, keys: Vec::new(), rows: Vec::new(), out: Vec::new() }
    }
}

impl Operator for Predict {
    fn name(&self) -> &str {
        "ml_predict"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let model = Arc::clone(&self.model);
        let mut state = lock(&model);
        let n = batch.num_rows();
        let indices = state.key_indices(self.key.map(|k| batch.column(k)), n)?;
        let columns = feature_columns(&batch, &self.features, &state)?;
        self.keys.clear();
        self.rows.clear();
        let mut scored = Vec::with_capacity(n);
        for (r, key) in indices.iter().enumerate() {
            let ok = key.is_some() && complete(&columns, r);
            if let (true, Some(k)) = (ok, key) {
                self.keys.push(*k);
                push_row(&columns, r, &mut self.rows);
            }
            scored.push(ok);
        }
        let task = state.bank.spec().task;
        self.out.resize(self.keys.len() * task.n_outputs(), 0.0);
        let started = std::time::Instant::now();
        let result = state.bank.predict(&self.keys, &self.rows, &mut self.out);
        state.kernel_time(false, started.elapsed().as_secs_f64());
        result.map_err(|e| state.error(e))?;
        state.rows_scored += self.keys.len() as u64;
        let mut values = self.out.chunks(task.n_outputs());
        let per_row: Vec<Option<&[f32]>> = scored.iter().map(|&ok| if ok { values.next() } else { None }).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        match task {
            Task::Binary => {
                columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| p[0] > 0.5)).collect::<BooleanArray>()));
                columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| f64::from(p[0]))).collect::<Float64Array>()));
            }
            Task::Multiclass { .. } => {
                let best: Vec<Option<usize>> = per_row.iter().map(|p| p.map(argmax)).collect();
                columns.push(state.class_column(best.clone())?);
                let probability = per_row.iter().zip(&best).map(|(p, c)| p.zip(*c).map(|(p, c)| f64::from(p[c])));
                columns.push(Arc::new(probability.collect::<Float64Array>()));
            }
            Task::Regression => columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| f64::from(p[0]))).collect::<Float64Array>())),
        }
        drop(state);
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|source| OperatorError::Arrow { operator: "ml_predict".into(), source })?;
        out.push(batch);
        Ok(())
    }
}
