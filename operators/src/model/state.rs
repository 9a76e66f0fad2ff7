//! One model's bank on one worker: its keys, classes, metrics and drift
//! detector, shared by the model's `Train` and `Predict` operators.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type};
use weir_kernels::{BankState, ModelBank, ModelSpec, Task};

use crate::error::{OperatorError, Result};

use super::{KeyMetrics, LastMinute, Prequential, SharedModel};


/// One model's bank on one worker, its key index and its metrics.
pub struct ModelState {
    pub(super) name: String,
    pub(super) bank: Box<dyn ModelBank>,
    pub(super) keys: HashMap<String, u32>,
    /// The key of each bank entry (`None` for a global model).
    pub(super) names: Vec<Option<String>>,
    /// Metrics of each bank entry.
    pub(super) per_key: Vec<KeyMetrics>,
    /// Metrics over every row learned.
    pub metrics: Prequential,
    /// Metrics of the rows learned in the last minute of wall-clock time.
    pub recent: LastMinute,
    /// Rows scored by `ML_PREDICT`.
    pub rows_scored: u64,
    /// Rows learned before this run's lineage began: the count in the
    /// `'snapshot.path'` file the model first started warm from (on the
    /// worker that holds the count; 0 on the others). A checkpoint keeps
    /// it, so a restored run does not count the file's later saves twice.
    pub base_rows: u64,
    /// Where the bank runs and why (from `open_bank`).
    pub device: String,
    /// A multiclass model's class names, in output order.
    pub(super) classes: Vec<String>,
    /// Class index by name (for STRING labels).
    pub(super) class_index: HashMap<String, u32>,
    /// The type of `prediction` for a classifier (the OUTPUT's type).
    pub(super) output_type: DataType,
    /// `'drift.detector'` and `'on_drift'`, when declared.
    pub(super) drift: Option<crate::model_drift::ModelDrift>,
    /// Seconds of each kernel call not yet taken by [`ModelState::take_kernel_times`]:
    /// `(learning, seconds)`; the oldest are dropped past [`KERNEL_TIMES`].
    pub(super) kernel_times: Vec<(bool, f64)>,
}

/// Kernel timings kept between two readers.
pub(super) const KERNEL_TIMES: usize = 4096;

impl ModelState {
    /// Records one kernel call (a bank's learn or predict) that took
    /// `seconds`.
    pub(super) fn kernel_time(&mut self, learning: bool, seconds: f64) {
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
            base_rows: 0,
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

    /// Sets [`ModelState::base_rows`].
    pub fn with_base_rows(mut self, rows: u64) -> Self {
        self.base_rows = rows;
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
    pub(super) fn labels(&self, column: &ArrayRef) -> Result<Vec<Option<f32>>> {
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
    pub(super) fn class_column(&self, classes: Vec<Option<usize>>) -> Result<ArrayRef> {
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
        Ok(key_snapshots(&self.names, &state, self.bank.spec()))
    }

    /// What learning changed, for a checkpoint (see [`super::saved`]).
    pub(super) fn save(&mut self) -> Result<super::SavedModel> {
        let bank = self.bank.state().map_err(|e| self.error(e))?.into();
        let drift = match &mut self.drift {
            Some(d) => Some(d.save()?),
            None => None,
        };
        Ok(super::SavedModel { names: self.names.clone(), bank, per_key: self.per_key.clone(), metrics: self.metrics.clone(), base_rows: self.base_rows, drift })
    }

    /// Replaces the whole model with a checkpoint's: a bank warm-started
    /// from its `'snapshot.path'` file may hold keys the checkpoint has not
    /// learned yet, and keys scored since are made again by the replay.
    pub(super) fn load(&mut self, saved: super::SavedModel) -> Result<()> {
        let n_keys = saved.bank.n_keys();
        if saved.names.len() != n_keys && !(saved.names.is_empty() && n_keys <= 1) {
            return Err(OperatorError::Snapshot { operator: "train".into(), reason: format!("{} key names for {n_keys} models", saved.names.len()) });
        }
        self.bank.load_state(saved.bank.into()).map_err(|e| self.error(e))?;
        self.keys = saved.names.iter().enumerate().filter_map(|(i, k)| k.clone().map(|k| (k, i as u32))).collect();
        self.names = saved.names;
        self.per_key = saved.per_key;
        self.metrics = saved.metrics;
        self.base_rows = saved.base_rows;
        match (&mut self.drift, saved.drift) {
            (Some(d), Some(saved)) => d.load(saved)?,
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(OperatorError::Snapshot { operator: "train".into(), reason: "the model's drift detector was added or removed".into() });
            }
        }
        Ok(())
    }

    pub(super) fn error(&self, source: weir_kernels::KernelError) -> OperatorError {
        OperatorError::Model { model: self.name.clone(), source }
    }

    /// The dense index of every row's key (`None` for a NULL key), creating
    /// models for keys seen for the first time. Without a key column every
    /// row maps to model 0.
    pub(super) fn key_indices(&mut self, key: Option<&ArrayRef>, rows: usize) -> Result<Vec<Option<u32>>> {
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

    pub(super) fn arrow(&self, source: datafusion::arrow::error::ArrowError) -> OperatorError {
        OperatorError::Arrow { operator: format!("model {}", self.name), source }
    }
}

pub(super) fn lock(model: &SharedModel) -> MutexGuard<'_, ModelState> {
    match model.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The feature columns of a batch as Float32 arrays.
pub(super) fn feature_columns(batch: &RecordBatch, features: &[usize], state: &ModelState) -> Result<Vec<ArrayRef>> {
    features.iter().map(|&i| cast(batch.column(i), &DataType::Float32).map_err(|e| state.arrow(e))).collect()
}

/// Whether row `r` has every feature.
pub(super) fn complete(columns: &[ArrayRef], r: usize) -> bool {
    columns.iter().all(|c| c.is_valid(r))
}

/// Appends row `r`'s features to `rows`.
pub(super) fn push_row(columns: &[ArrayRef], r: usize, rows: &mut Vec<f32>) {
    rows.extend(columns.iter().map(|c| c.as_primitive::<Float32Type>().value(r)));
}

/// Every entry of `state` as a snapshot's key, named by `names` (an entry
/// past them, a global model's one, has no key).
pub(super) fn key_snapshots(names: &[Option<String>], state: &BankState, spec: &ModelSpec) -> Vec<crate::model_snapshot::KeySnapshot> {
    (0..state.n_keys()).map(|i| crate::model_snapshot::KeySnapshot::from_state(names.get(i).cloned().flatten(), state, i, spec)).collect()
}
