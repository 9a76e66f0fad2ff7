//! `weir model export`: a trained model out of its snapshot, for use
//! outside Weir.
//!
//! Two formats. JSON is the snapshot document itself (format
//! `weir-model/2`, described in `weir_operators::model_snapshot` and
//! docs/models.md), checked against the pipeline's declaration. The
//! safetensors file holds the same numbers as tensors with a leading key
//! dimension, so that NumPy or PyTorch can load every key's model at once:
//!
//! | tensor | shape |
//! |---|---|
//! | `layers.{l}.weight` | keys × outputs of layer `l` × its inputs |
//! | `layers.{l}.bias` | keys × outputs of layer `l` |
//! | `scaler.mean`, `scaler.var` | keys × features |
//! | `scaler.count` | keys |
//!
//! and its metadata names the format (`weir-model-tensors/1`), the model,
//! task, algorithm, activation, whether the scaler applies, and, as JSON
//! lists, the features, the classes and the keys (in the tensors' order).

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use weir_operators::ModelSnapshot;

use crate::plan::Pipeline;
use crate::{EngineError, Result};

/// The format tag in a safetensors export's metadata.
pub const TENSORS_FORMAT: &str = "weir-model-tensors/1";

/// What `weir model export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The snapshot document, pretty-printed.
    Json,
    /// Tensors with a leading key dimension (see the module docs).
    Safetensors,
}

/// The snapshot of `model` in `pipeline`, and where it came from: the
/// newest complete checkpoint when the pipeline checkpoints and one holds
/// the model's training state, else its `'snapshot.path'` file, checked
/// against the declaration.
pub fn read_model(pipeline: &Pipeline, model: &str) -> Result<(ModelSnapshot, String)> {
    let fail = |why: String| EngineError::Runtime(format!("model '{model}': {why}"));
    let Some(plan) = pipeline.models.iter().find(|m| m.name == model) else {
        let known: Vec<&str> = pipeline.models.iter().map(|m| m.name.as_str()).collect();
        return Err(fail(format!("the pipeline declares no such model (it declares: {})", known.join(", "))));
    };
    // A checkpoint is consistent with what the sources read; a snapshot
    // file saved after it (by a run that then crashed) is not.
    if let Some(dir) = &pipeline.settings.checkpoints.dir
        && let Some((id, snapshot)) = crate::checkpoint::model((dir, &pipeline.settings.checkpoints.store), plan)?
    {
        return Ok((snapshot, format!("checkpoint {id} in {dir}")));
    }
    let Some(path) = &plan.snapshot else {
        return Err(fail("it has no 'snapshot.path' and no checkpoint holds it, so nothing of it is saved to export".into()));
    };
    let snapshot = crate::runtime::snapshots::read(plan, path)?
        .ok_or_else(|| fail(format!("no snapshot at {} yet: run the pipeline first", path.display())))?;
    Ok((snapshot, path.display().to_string()))
}

/// `snapshot` in `format`.
///
/// ```
/// use weir_engine::export::{ExportFormat, export};
/// # let snapshot: weir_operators::ModelSnapshot = serde_json::from_str(r#"{"format": "weir-model/2",
/// #   "model": "m", "task": "regression", "algorithm": "linear_regression", "features": ["x"],
/// #   "layers": [1, 1], "activation": "relu", "scaler": false, "partition_by": null,
/// #   "keys": [{"key": null, "weights": [2.0], "bias": [1.0], "adam_m": [0.0], "adam_v": [0.0],
/// #             "steps": 0, "count": 0.0, "mean": [0.0], "var": [0.0]}], "rows_learned": 10}"#)?;
/// let bytes = export(&snapshot, ExportFormat::Safetensors)?;
/// let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
/// assert_eq!(tensors.tensor("layers.0.weight").expect("weights").shape(), [1, 1, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export(snapshot: &ModelSnapshot, format: ExportFormat) -> Result<Vec<u8>> {
    let fail = |why: String| EngineError::Runtime(format!("exporting model '{}': {why}", snapshot.model));
    match format {
        ExportFormat::Json => serde_json::to_vec_pretty(snapshot).map_err(|e| fail(e.to_string())),
        ExportFormat::Safetensors => {
            let keys = snapshot.keys.len();
            let layers = &snapshot.layers;
            let features = layers.first().copied().unwrap_or(0);
            // Every key's values of one array, one after another, as bytes.
            let gather = |pick: &dyn Fn(&weir_operators::KeySnapshot) -> &[f32], from: usize, len: usize| -> Result<Vec<u8>> {
                let mut bytes = Vec::with_capacity(keys * len * 4);
                for k in &snapshot.keys {
                    let values = pick(k).get(from..from + len).ok_or_else(|| fail(format!("key {:?} has too few values", k.key)))?;
                    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
                }
                Ok(bytes)
            };
            let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
            let (mut w_at, mut b_at) = (0, 0);
            for l in 0..layers.len().saturating_sub(1) {
                let (n_in, n_out) = (layers[l], layers[l + 1]);
                tensors.push((format!("layers.{l}.weight"), vec![keys, n_out, n_in], gather(&|k| &k.weights, w_at, n_in * n_out)?));
                tensors.push((format!("layers.{l}.bias"), vec![keys, n_out], gather(&|k| &k.bias, b_at, n_out)?));
                w_at += n_in * n_out;
                b_at += n_out;
            }
            tensors.push(("scaler.mean".into(), vec![keys, features], gather(&|k| &k.mean, 0, features)?));
            tensors.push(("scaler.var".into(), vec![keys, features], gather(&|k| &k.var, 0, features)?));
            let counts: Vec<u8> = snapshot.keys.iter().flat_map(|k| k.count.to_le_bytes()).collect();
            tensors.push(("scaler.count".into(), vec![keys], counts));
            let views = tensors
                .iter()
                .map(|(name, shape, bytes)| {
                    TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v)).map_err(|e| fail(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            let key_names: Vec<Option<&str>> = snapshot.keys.iter().map(|k| k.key.as_deref()).collect();
            let metadata: HashMap<String, String> = [
                ("format", TENSORS_FORMAT.to_string()),
                ("model", snapshot.model.clone()),
                ("task", snapshot.task.clone()),
                ("algorithm", snapshot.algorithm.clone()),
                ("activation", snapshot.activation.clone()),
                ("scaler", snapshot.scaler.to_string()),
                ("features", serde_json::json!(snapshot.features).to_string()),
                ("classes", serde_json::json!(snapshot.classes).to_string()),
                ("partition_by", serde_json::json!(snapshot.partition_by).to_string()),
                ("keys", serde_json::json!(key_names).to_string()),
                ("rows_learned", snapshot.rows_learned.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| fail(e.to_string()))
        }
    }
}
