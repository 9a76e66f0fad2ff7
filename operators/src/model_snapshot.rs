//! The file a model is saved to (`'snapshot.path'`) and starts warm from:
//! JSON, so that any tool can read a trained model.
//!
//! ```json
//! {
//!   "format": "weir-linear-model/1",
//!   "model": "congestion",
//!   "task": "classification",
//!   "features": ["speed", "volume", "occupancy"],
//!   "partition_by": "sensor_id",
//!   "keys": [
//!     { "key": "17", "weights": [..], "bias": 0.1, "adam_m": [..], "adam_v": [..],
//!       "steps": 812, "count": 812.0, "mean": [..], "var": [..] }
//!   ],
//!   "rows_learned": 40000
//! }
//! ```
//!
//! `weights`, `mean` and `var` have one value per feature in `features`
//! order; the model of key `key` scores `x` as
//! `bias + Σ weights[i] · (x[i] − mean[i]) / sqrt(var[i])` (the scaler's
//! term is 0 where `var[i]` is 0, and `x[i]` itself when the model has no
//! scaler), then `sigmoid` for classification. `adam_m`, `adam_v`, `steps`
//! and `count` are the optimizer's and scaler's running state, so training
//! resumes exactly where it stopped. A global model has one entry whose
//! `key` is null.

use serde::{Deserialize, Serialize};
use weir_kernels::LinearState;

/// The format tag of [`ModelSnapshot`].
pub const SNAPSHOT_FORMAT: &str = "weir-linear-model/1";

/// A saved model (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSnapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// The model's name.
    pub model: String,
    /// `classification` or `regression`.
    pub task: String,
    /// The feature names, in order.
    pub features: Vec<String>,
    /// The key column, for per-key models.
    pub partition_by: Option<String>,
    /// One entry per key.
    pub keys: Vec<KeySnapshot>,
    /// Rows learned by the model so far (over all runs).
    pub rows_learned: u64,
}

/// One key's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySnapshot {
    /// The key as text (`None` for a global model).
    pub key: Option<String>,
    /// Weights, one per feature.
    pub weights: Vec<f32>,
    /// Bias.
    pub bias: f32,
    /// Adam's first moments.
    pub adam_m: Vec<f32>,
    /// Adam's second moments.
    pub adam_v: Vec<f32>,
    /// Adam steps taken.
    pub steps: u32,
    /// Rows the scaler has seen.
    pub count: f32,
    /// Scaler means.
    pub mean: Vec<f32>,
    /// Scaler variances.
    pub var: Vec<f32>,
}

impl KeySnapshot {
    /// Key `index`'s numbers from a bank's state.
    pub fn from_state(key: Option<String>, state: &LinearState, index: usize, n_features: usize) -> Self {
        let at = index * n_features..(index + 1) * n_features;
        Self {
            key,
            weights: state.weights[at.clone()].to_vec(),
            bias: state.bias[index],
            adam_m: state.adam_m[at.clone()].to_vec(),
            adam_v: state.adam_v[at.clone()].to_vec(),
            steps: state.steps[index],
            count: state.count[index],
            mean: state.mean[at.clone()].to_vec(),
            var: state.var[at].to_vec(),
        }
    }

    /// Appends this key's numbers to a bank's state (as its next key), or
    /// says why they do not fit `n_features`.
    pub fn append_to(&self, state: &mut LinearState, n_features: usize) -> Result<(), String> {
        for (what, v) in [("weights", &self.weights), ("adam_m", &self.adam_m), ("adam_v", &self.adam_v), ("mean", &self.mean), ("var", &self.var)] {
            if v.len() != n_features {
                return Err(format!("key {:?}: '{what}' has {} values, the model has {n_features} features", self.key, v.len()));
            }
        }
        state.weights.extend(&self.weights);
        state.adam_m.extend(&self.adam_m);
        state.adam_v.extend(&self.adam_v);
        state.mean.extend(&self.mean);
        state.var.extend(&self.var);
        state.bias.push(self.bias);
        state.steps.push(self.steps);
        state.count.push(self.count);
        Ok(())
    }
}
