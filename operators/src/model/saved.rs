//! A model's state as a checkpoint holds it: a serde mirror of the
//! kernels' [`BankState`] (the kernels crate stays free of serde, so that
//! its test binary stays small enough to carry to a GPU machine) and the
//! rest of a worker's [`ModelState`](super::ModelState) that learning
//! changes.

use weir_kernels::BankState;

use super::{KeyMetrics, Prequential};

/// [`BankState`], field for field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedBank {
    weights: Vec<f32>,
    bias: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    steps: Vec<u32>,
    count: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    grad_weights: Vec<f32>,
    grad_bias: Vec<f32>,
    pending: Vec<u32>,
}

impl SavedBank {
    /// The number of models it holds.
    pub(crate) fn n_keys(&self) -> usize {
        self.steps.len()
    }
}

impl From<BankState> for SavedBank {
    fn from(s: BankState) -> Self {
        let BankState { weights, bias, adam_m, adam_v, steps, count, mean, var, grad_weights, grad_bias, pending } = s;
        Self { weights, bias, adam_m, adam_v, steps, count, mean, var, grad_weights, grad_bias, pending }
    }
}

impl From<SavedBank> for BankState {
    fn from(s: SavedBank) -> Self {
        let SavedBank { weights, bias, adam_m, adam_v, steps, count, mean, var, grad_weights, grad_bias, pending } = s;
        Self { weights, bias, adam_m, adam_v, steps, count, mean, var, grad_weights, grad_bias, pending }
    }
}

/// One worker's model in a checkpoint. Left out, because no replay can
/// make them agree with an uninterrupted run: the last minute of wall-clock
/// metrics and the count of rows scored (scoring is not replayed into the
/// model). Kernel timings are not state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedModel {
    /// The key of each bank entry.
    pub(crate) names: Vec<Option<String>>,
    pub(crate) bank: SavedBank,
    pub(crate) per_key: Vec<KeyMetrics>,
    pub(crate) metrics: Prequential,
    pub(crate) base_rows: u64,
    pub(crate) drift: Option<crate::model_drift::SavedDrift>,
}
