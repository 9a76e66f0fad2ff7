//! Model snapshots: `'snapshot.path'` files written while the pipeline runs
//! and when it ends, and read when it starts (warm start).
//!
//! Every worker holds the keys that hash to it, so a snapshot merges the
//! banks of all workers into one file, and a warm start gives each worker
//! back the keys that hash to it under the run's worker count (which may
//! differ from the run that wrote the file). Files are replaced atomically
//! (written beside, then renamed), so a crash never leaves half a model.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, UInt32Type};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use weir_kernels::BankState;
use weir_operators::model_snapshot::{activation_name, task_name};
use weir_operators::{ModelSnapshot, Partitioner, SNAPSHOT_FORMAT};

use super::shared::Shared;
use crate::plan::{ModelPlan, Pipeline};
use crate::{EngineError, Result};

fn error(model: &ModelPlan, what: impl std::fmt::Display) -> EngineError {
    let path = model.snapshot.as_deref().unwrap_or(Path::new("")).display();
    EngineError::Runtime(format!("model '{}': snapshot {path}: {what}", model.name))
}

pub(crate) fn read(model: &ModelPlan, path: &Path) -> Result<Option<ModelSnapshot>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(model, e)),
    };
    let snapshot: ModelSnapshot = serde_json::from_str(&text).map_err(|e| error(model, e))?;
    if snapshot.format != SNAPSHOT_FORMAT {
        return Err(error(model, format!("format '{}', expected '{SNAPSHOT_FORMAT}'", snapshot.format)));
    }
    let expected = header(model);
    // Say what differs, in words.
    let by = |p: &Option<String>| match p {
        Some(k) => format!("one model per {k}"),
        None => "one global model".to_string(),
    };
    let classes = |c: &Option<Vec<String>>| c.as_ref().map_or("none".to_string(), |c| c.join(", "));
    let pairs = [
        ("task", snapshot.task.clone(), expected.task.clone()),
        ("algorithm", snapshot.algorithm.clone(), expected.algorithm.clone()),
        ("features", snapshot.features.join(", "), expected.features.join(", ")),
        ("classes", classes(&snapshot.classes), classes(&expected.classes)),
        ("layers", format!("{:?}", snapshot.layers), format!("{:?}", expected.layers)),
        ("activation", snapshot.activation.clone(), expected.activation.clone()),
        ("scaler", snapshot.scaler.to_string(), expected.scaler.to_string()),
        ("partition_by", by(&snapshot.partition_by), by(&expected.partition_by)),
    ];
    let differs: Vec<String> =
        pairs.iter().filter(|(_, a, b)| a != b).map(|(what, file, declared)| format!("{what}: the file has {file}, the pipeline declares {declared}")).collect();
    if !differs.is_empty() {
        return Err(error(model, format!("the snapshot does not match the model ({}); move the file away to start afresh", differs.join("; "))));
    }
    Ok(Some(snapshot))
}

/// A snapshot of `model` without keys: what a file for it must declare.
pub(crate) fn header(model: &ModelPlan) -> ModelSnapshot {
    ModelSnapshot {
        format: SNAPSHOT_FORMAT.to_string(),
        model: model.name.clone(),
        task: task_name(model.spec.task).to_string(),
        algorithm: model.algorithm.clone(),
        features: model.inputs.clone(),
        classes: model.classes.clone(),
        layers: model.spec.layout().dims,
        activation: activation_name(model.spec.activation).to_string(),
        scaler: model.spec.scale,
        partition_by: model.partition_by.clone(),
        keys: Vec::new(),
        rows_learned: 0,
    }
}

/// What a worker starts warm from: the part of a model's snapshot file
/// it owns.
pub(super) struct Warm {
    /// The owned keys' models, as a bank.
    pub(super) state: BankState,
    /// The key of each entry of `state`.
    pub(super) names: Vec<Option<String>>,
    /// The rows the file says were learned (by every worker).
    pub(super) rows_learned: u64,
}

/// The saved keys that worker `index` of `workers` owns, or `None`
/// without a snapshot file.
pub(super) fn load(model: &ModelPlan, index: usize, workers: usize) -> Result<Option<Warm>> {
    let Some(path) = &model.snapshot else { return Ok(None) };
    let Some(snapshot) = read(model, path)? else { return Ok(None) };
    let owned: Vec<usize> = match &model.key_type {
        None => if index == 0 { (0..snapshot.keys.len()).collect() } else { Vec::new() },
        Some(key_type) => owned_keys(&snapshot, key_type, index, workers).map_err(|e| error(model, e))?,
    };
    let mut state = BankState::new(&model.spec, 0);
    let mut names = Vec::with_capacity(owned.len());
    for i in owned {
        let key = &snapshot.keys[i];
        key.append_to(&mut state, &model.spec).map_err(|e| error(model, e))?;
        names.push(key.key.clone());
    }
    Ok(Some(Warm { state, names, rows_learned: snapshot.rows_learned }))
}

/// Which entries hash to worker `index`: the same hash as the exchange in
/// front of the model, on the key cast back to its column's type.
fn owned_keys(snapshot: &ModelSnapshot, key_type: &DataType, index: usize, workers: usize) -> std::result::Result<Vec<usize>, String> {
    let text: StringArray = snapshot.keys.iter().map(|k| k.key.as_deref()).collect();
    let keys = cast(&text, key_type).map_err(|e| e.to_string())?;
    let positions: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..snapshot.keys.len() as u32));
    let schema = Arc::new(Schema::new(vec![Field::new("key", key_type.clone(), true), Field::new("i", DataType::UInt32, false)]));
    let batch = RecordBatch::try_new(schema, vec![keys, positions]).map_err(|e| e.to_string())?;
    let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("key", 0));
    let mut partitioner = Partitioner::new(vec![key], workers);
    let mut owned = Vec::new();
    for (worker, part) in partitioner.partition(&batch).map_err(|e| e.to_string())? {
        if worker as usize == index {
            owned.extend(part.column(1).as_primitive::<UInt32Type>().values().iter().map(|&i| i as usize));
        }
    }
    owned.sort_unstable();
    Ok(owned)
}

/// Writes every model with a `'snapshot.path'`, merging all workers' banks.
/// Rows learned are the file's count when the model first started from it
/// ([`ModelState::base_rows`](weir_operators::ModelState::base_rows), which
/// a checkpoint keeps) plus the rows learned since.
pub(super) fn save_all(pipeline: &Pipeline, shared: &Shared) -> Result<()> {
    for model in &pipeline.models {
        let Some(path) = &model.snapshot else { continue };
        let states: Vec<_> = match shared.models.lock() {
            Ok(all) => all.iter().filter(|(name, _)| *name == model.name).map(|(_, s)| Arc::clone(s)).collect(),
            Err(_) => return Err(error(model, "the model registry is poisoned")),
        };
        let mut keys = Vec::new();
        let mut rows = 0;
        for state in states {
            let mut state = match state.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            keys.extend(state.snapshot_keys().map_err(|e| error(model, e))?);
            rows += state.base_rows + state.metrics.rows;
        }
        let snapshot = ModelSnapshot { keys, rows_learned: rows, ..header(model) };
        let text = serde_json::to_string(&snapshot).map_err(|e| error(model, e))?;
        crate::durable::replace_file(path, text.as_bytes()).map_err(|e| error(model, format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Rewrites the snapshots every model's interval (the shortest) until
/// `done` is raised; failures are logged, and the final save reports them.
pub(super) fn periodic(pipeline: Arc<Pipeline>, shared: Arc<Shared>, done: Arc<AtomicBool>) -> Option<std::thread::JoinHandle<()>> {
    let interval = pipeline.models.iter().filter(|m| m.snapshot.is_some()).map(|m| m.snapshot_interval).min()?;
    Some(std::thread::spawn(move || {
        let mut last = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() >= interval {
                if let Err(e) = save_all(&pipeline, &shared) {
                    tracing::warn!("{e}");
                }
                last = Instant::now();
            }
        }
    }))
}
