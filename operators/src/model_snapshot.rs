//! The file a model is saved to (`'snapshot.path'`) and starts warm from:
//! JSON, so that any tool can read a trained model. `weir model export`
//! writes the same document (or its tensors as safetensors).
//!
//! ```json
//! {
//!   "format": "weir-model/2",
//!   "model": "congestion",
//!   "task": "classification",
//!   "algorithm": "mlp",
//!   "features": ["speed", "volume", "occupancy"],
//!   "classes": ["free", "slow", "jammed"],
//!   "layers": [3, 32, 3],
//!   "activation": "relu",
//!   "scaler": true,
//!   "partition_by": "sensor_id",
//!   "keys": [
//!     { "key": "17", "weights": [..], "bias": [..], "adam_m": [..], "adam_v": [..],
//!       "steps": 812, "count": 812.0, "mean": [..], "var": [..] }
//!   ],
//!   "rows_learned": 40000
//! }
//! ```
//!
//! Every model is a small dense network. `layers` gives the units of each
//! level: the features, the hidden layers (none for linear, logistic and
//! softmax regression), the outputs (one, or one per class in `classes`
//! order). Layer `l` maps `layers[l]` inputs to `layers[l + 1]` outputs;
//! a key's `weights` hold every layer's weights in turn, each row-major
//! (`[output][input]`), and its `bias` every layer's biases in turn. The
//! inputs are the features in `features` order, standardised as
//! `(x[i] − mean[i]) / sqrt(var[i])` (0 where `var[i]` is 0) when
//! `scaler` is true; hidden layers apply `activation`; the outputs are the
//! score (regression), `sigmoid` of it (binary: the probability of TRUE)
//! or the softmax over classes (multiclass).
//!
//! `adam_m`, `adam_v` (the weights' moments, then the biases'), `steps`
//! and `count` are the optimizer's and the
//! scaler's running state, and `grad_weights`, `grad_bias` and `pending`
//! (present when `batch_size` > 1) an unfinished mini-batch, so training
//! resumes exactly where it stopped. A global model has one entry whose
//! `key` is null.

use serde::{Deserialize, Serialize};
use weir_kernels::{Activation, BankState, ModelSpec, Task};

/// The format tag of [`ModelSnapshot`].
pub const SNAPSHOT_FORMAT: &str = "weir-model/2";

/// A saved model (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSnapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// The model's name.
    pub model: String,
    /// `classification` or `regression`.
    pub task: String,
    /// `linear_regression`, `logistic_regression`, `softmax_regression` or `mlp`.
    pub algorithm: String,
    /// The feature names, in order.
    pub features: Vec<String>,
    /// A multiclass model's classes, in output order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Units per level: features, hidden layers, outputs.
    pub layers: Vec<usize>,
    /// The hidden layers' activation (`relu`, `tanh`, `sigmoid`).
    pub activation: String,
    /// Whether the inputs are standardised by the running scaler.
    pub scaler: bool,
    /// The key column, for per-key models.
    pub partition_by: Option<String>,
    /// One entry per key.
    pub keys: Vec<KeySnapshot>,
    /// Rows learned by the model so far (over all runs).
    pub rows_learned: u64,
}

/// The name of a task in snapshots (`classification` or `regression`).
pub fn task_name(task: Task) -> &'static str {
    if task.is_classification() { "classification" } else { "regression" }
}

/// The name of an activation in snapshots.
pub fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
    }
}

/// One key's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySnapshot {
    /// The key as text (`None` for a global model).
    pub key: Option<String>,
    /// Every layer's weights, in turn.
    pub weights: Vec<f32>,
    /// Every layer's biases, in turn.
    pub bias: Vec<f32>,
    /// Adam's first moments.
    pub adam_m: Vec<f32>,
    /// Adam's second moments.
    pub adam_v: Vec<f32>,
    /// Optimizer steps taken.
    pub steps: u32,
    /// Rows the scaler has seen.
    pub count: f32,
    /// Scaler means.
    pub mean: Vec<f32>,
    /// Scaler variances.
    pub var: Vec<f32>,
    /// The unfinished mini-batch's summed weight gradients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad_weights: Vec<f32>,
    /// The unfinished mini-batch's summed bias gradients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad_bias: Vec<f32>,
    /// Rows in the unfinished mini-batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u32>,
}

impl KeySnapshot {
    /// Key `index`'s numbers from a bank's state.
    pub fn from_state(key: Option<String>, state: &BankState, index: usize, spec: &ModelSpec) -> Self {
        let layout = spec.layout();
        let (nw, nb, f) = (layout.n_weights, layout.n_biases, spec.n_features);
        let slice = |v: &[f32], n: usize| v.get(index * n..(index + 1) * n).map(<[f32]>::to_vec).unwrap_or_default();
        Self {
            key,
            weights: slice(&state.weights, nw),
            bias: slice(&state.bias, nb),
            adam_m: slice(&state.adam_m, nw + nb),
            adam_v: slice(&state.adam_v, nw + nb),
            steps: state.steps[index],
            count: state.count[index],
            mean: slice(&state.mean, f),
            var: slice(&state.var, f),
            grad_weights: slice(&state.grad_weights, nw),
            grad_bias: slice(&state.grad_bias, nb),
            pending: state.pending.get(index).copied(),
        }
    }

    /// Appends this key's numbers to a bank's state (as its next key), or
    /// says why they do not fit `spec`.
    pub fn append_to(&self, state: &mut BankState, spec: &ModelSpec) -> Result<(), String> {
        let layout = spec.layout();
        let (nw, nb, f) = (layout.n_weights, layout.n_biases, spec.n_features);
        let batched = |n: usize| if spec.batch_size > 1 { n } else { 0 };
        for (what, v, n) in [
            ("weights", &self.weights, nw),
            ("adam_m", &self.adam_m, nw + nb),
            ("adam_v", &self.adam_v, nw + nb),
            ("bias", &self.bias, nb),
            ("mean", &self.mean, f),
            ("var", &self.var, f),
        ] {
            if v.len() != n {
                return Err(format!("key {:?}: '{what}' has {} values, the model needs {n}", self.key, v.len()));
            }
        }
        // A mini-batch in progress carries over only when both sides batch.
        let grads = |v: &Vec<f32>, n: usize| if v.len() == n { v.clone() } else { vec![0.0; n] };
        state.weights.extend(&self.weights);
        state.adam_m.extend(&self.adam_m);
        state.adam_v.extend(&self.adam_v);
        state.bias.extend(&self.bias);
        state.mean.extend(&self.mean);
        state.var.extend(&self.var);
        state.steps.push(self.steps);
        state.count.push(self.count);
        if spec.batch_size > 1 {
            let pending = if self.grad_weights.len() == nw && self.grad_bias.len() == nb { self.pending.unwrap_or(0) } else { 0 };
            state.grad_weights.extend(grads(&self.grad_weights, batched(nw)));
            state.grad_bias.extend(grads(&self.grad_bias, batched(nb)));
            state.pending.push(pending.min(spec.batch_size - 1));
        }
        Ok(())
    }
}
