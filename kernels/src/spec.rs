//! What a model is: its task, its layers and how it learns
//! ([`ModelSpec`]), and where each of its numbers lives ([`Layout`]).
//!
//! Every model Weir trains is a small dense network: the input features
//! (optionally standardised by a running scaler), zero, one or two hidden
//! layers, and an output layer with one unit (regression, binary
//! classification) or one per class (multiclass, by softmax). With no
//! hidden layer this is exactly linear, logistic or softmax regression,
//! with River's arithmetic; with hidden layers it is a small multilayer
//! perceptron. One description serves both so that the CPU backend, the
//! CUDA kernels, snapshots and export share one layout.

use crate::error::{KernelError, Result};

/// Largest hidden layer, and largest number of classes: the CUDA kernels
/// keep one row's activations in per-thread arrays of this size.
pub const MAX_UNITS: usize = 256;

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Regression on squared loss; the output is the raw score.
    Regression,
    /// Binary classification on log loss; the output is the probability
    /// of the positive class, labels are 0 or 1.
    Binary,
    /// Multiclass classification on cross-entropy; the outputs are the
    /// softmax probabilities of each class, labels are class indices.
    Multiclass {
        /// Number of classes (2 to [`MAX_UNITS`]).
        classes: u32,
    },
}

impl Task {
    /// Output units: one per class for multiclass, else one.
    pub fn n_outputs(self) -> usize {
        match self {
            Self::Multiclass { classes } => classes as usize,
            _ => 1,
        }
    }

    /// The task's number in the CUDA kernels (`WEIR_TASK_*` in `cuda/model.cu`).
    pub fn code(self) -> i32 {
        match self {
            Self::Regression => 0,
            Self::Binary => 1,
            Self::Multiclass { .. } => 2,
        }
    }

    /// Whether the task predicts classes.
    pub fn is_classification(self) -> bool {
        !matches!(self, Self::Regression)
    }
}

/// The nonlinearity of hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// `max(0, z)` (River's `neural_net.activations.ReLU`, its default).
    #[default]
    Relu,
    /// `tanh(z)`.
    Tanh,
    /// `1 / (1 + e^-z)`.
    Sigmoid,
}

impl Activation {
    /// The activation's number in the CUDA kernels (`WEIR_ACT_*` in `cuda/model.cu`).
    pub fn code(self) -> i32 {
        match self {
            Self::Relu => 0,
            Self::Tanh => 1,
            Self::Sigmoid => 2,
        }
    }
}

/// How the weights move (a linear model's biases move by plain SGD at
/// [`ModelSpec::intercept_lr`], as River's do; a network's biases move
/// with its weights' optimizer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// `w -= lr · g`.
    Sgd {
        /// Step size.
        lr: f32,
    },
    /// Adam with bias correction (Kingma and Ba; River's `optim.Adam`).
    Adam {
        /// Step size.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
    },
}

impl Optimizer {
    /// River's `optim.SGD()` default: step 0.01.
    pub const SGD_DEFAULT: Self = Self::Sgd { lr: 0.01 };
    /// River's `optim.Adam()` defaults: step 0.1, betas 0.9 and 0.999, eps 1e-8.
    pub const ADAM_DEFAULT: Self = Self::Adam { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
}

/// Settings of a bank of models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    /// Regression, binary or multiclass classification.
    pub task: Task,
    /// Number of input features (at least 1).
    pub n_features: usize,
    /// Sizes of the hidden layers; 0 means no layer (`[0, 0]` is a linear
    /// model, `[h, 0]` one hidden layer, `[h1, h2]` two).
    pub hidden: [u32; 2],
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    /// Weight optimizer.
    pub optimizer: Optimizer,
    /// L2 penalty `l2 · ‖w‖²` on the weights (gradient `2 · l2 · w`; biases
    /// are not penalised).
    pub l2: f32,
    /// Step size of a linear model's biases (plain SGD, as River). A
    /// network's biases move with the optimizer instead: a network of odd
    /// activations (tanh) without biases is an odd function, so biases that
    /// crawl while Adam moves the weights can leave it unable to learn an
    /// even target such as XOR.
    pub intercept_lr: f32,
    /// Standardise features with a running mean and variance per key.
    pub scale: bool,
    /// Rows per gradient step, per key: each key averages the gradients
    /// of this many of its rows, then steps (1 = fully online).
    pub batch_size: u32,
    /// Seed of the hidden layers' initial weights (the same for every key,
    /// so a key's model does not depend on which worker holds it).
    pub seed: u64,
}

impl ModelSpec {
    /// Whether the CUDA bank learns this model with a warp per key
    /// (`cuda/model_warp.cu`): a linear model (no hidden layer) learning
    /// online, with at most 64 features and 4 outputs.
    ///
    /// ```
    /// use weir_kernels::{ModelSpec, Task};
    /// assert!(ModelSpec::river_defaults(Task::Binary, 8).warp_learns());
    /// assert!(!ModelSpec { hidden: [16, 0], ..ModelSpec::river_defaults(Task::Binary, 8) }.warp_learns());
    /// ```
    pub fn warp_learns(&self) -> bool {
        self.hidden == [0, 0] && self.batch_size == 1 && self.n_features <= 64 && self.n_outputs() <= 4
    }

    /// Whether the CUDA bank learns this network with a warp per key
    /// (`cuda/model_mlp_warp.cu`): one hidden layer of at most 32 units, at
    /// most 32 features and 4 outputs, learning online.
    ///
    /// ```
    /// use weir_kernels::{ModelSpec, Task};
    /// let mlp = ModelSpec { hidden: [16, 0], ..ModelSpec::river_defaults(Task::Binary, 8) };
    /// assert!(mlp.warp_mlp_learns());
    /// assert!(!ModelSpec { hidden: [16, 8], ..mlp }.warp_mlp_learns());
    /// assert!(!ModelSpec { batch_size: 4, ..mlp }.warp_mlp_learns());
    /// ```
    pub fn warp_mlp_learns(&self) -> bool {
        (1..=32).contains(&self.hidden[0])
            && self.hidden[1] == 0
            && self.batch_size == 1
            && self.n_features <= 32
            && self.n_outputs() <= 4
    }

    /// River's defaults for a linear model of `task` with `n_features`
    /// inputs: SGD at 0.01, no L2, intercept step 0.01, no scaler.
    ///
    /// ```
    /// use weir_kernels::{ModelSpec, Task};
    /// let spec = ModelSpec::river_defaults(Task::Binary, 3);
    /// assert_eq!(spec.intercept_lr, 0.01);
    /// assert_eq!(spec.hidden, [0, 0]);
    /// assert!(!spec.scale);
    /// ```
    pub fn river_defaults(task: Task, n_features: usize) -> Self {
        Self {
            task,
            n_features,
            hidden: [0, 0],
            activation: Activation::Relu,
            optimizer: Optimizer::SGD_DEFAULT,
            l2: 0.0,
            intercept_lr: 0.01,
            scale: false,
            batch_size: 1,
            seed: 0,
        }
    }

    /// Output units per row: what `predict` writes for each row.
    pub fn n_outputs(&self) -> usize {
        self.task.n_outputs()
    }

    /// Where every number of one key's model lives.
    pub fn layout(&self) -> Layout {
        Layout::new(self)
    }

    /// Checks the sizes the kernels rely on.
    ///
    /// ```
    /// use weir_kernels::{ModelSpec, Task};
    /// let mut spec = ModelSpec::river_defaults(Task::Multiclass { classes: 3 }, 4);
    /// assert!(spec.validate().is_ok());
    /// spec.hidden = [0, 8];
    /// assert!(spec.validate().is_err()); // a second layer needs a first
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, got: usize, expected: usize| Err(KernelError::Shape { kernel: "model spec", what, expected, got });
        if self.n_features == 0 {
            return bad("n_features (minimum)", 0, 1);
        }
        if let Task::Multiclass { classes } = self.task
            && !(2..=MAX_UNITS).contains(&(classes as usize))
        {
            return bad("classes (2 to 256)", classes as usize, MAX_UNITS);
        }
        for h in self.hidden {
            if h as usize > MAX_UNITS {
                return bad("hidden layer size (at most 256)", h as usize, MAX_UNITS);
            }
        }
        if self.hidden[0] == 0 && self.hidden[1] > 0 {
            return bad("first hidden layer (a second layer needs one)", 0, 1);
        }
        if self.batch_size == 0 {
            return bad("batch_size (minimum)", 0, 1);
        }
        Ok(())
    }

    /// The weights a fresh key starts with: zeros for a linear model (as
    /// River starts), Glorot-uniform draws from [`ModelSpec::seed`] for a
    /// network (zeros would keep every hidden unit the same).
    pub fn initial_weights(&self) -> Vec<f32> {
        let layout = self.layout();
        let mut w = vec![0.0; layout.n_weights];
        if layout.n_layers() == 1 {
            return w;
        }
        for l in 0..layout.n_layers() {
            let (fan_in, fan_out) = (layout.dims[l], layout.dims[l + 1]);
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            let at = layout.weight_offset[l];
            for (i, w) in w[at..at + fan_in * fan_out].iter_mut().enumerate() {
                let draw = splitmix64(self.seed ^ ((l as u64) << 56) ^ i as u64);
                let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
                *w = ((2.0 * unit - 1.0) * limit) as f32;
            }
        }
        w
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where one key's numbers live. Layer `l` maps `dims[l]` inputs to
/// `dims[l + 1]` outputs; its weights are row-major (`[out][in]`) at
/// `weight_offset[l]` in the key's weights, its biases at
/// `bias_offset[l]` in the key's biases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Units per level: inputs, hidden layers, outputs.
    pub dims: Vec<usize>,
    /// Start of each layer's weights.
    pub weight_offset: Vec<usize>,
    /// Start of each layer's biases.
    pub bias_offset: Vec<usize>,
    /// Weights per key.
    pub n_weights: usize,
    /// Biases per key.
    pub n_biases: usize,
}

impl Layout {
    /// Optimizer moments per key: the weights' (first), then the biases'.
    pub fn n_moments(&self) -> usize {
        self.n_weights + self.n_biases
    }
}

impl Layout {
    fn new(spec: &ModelSpec) -> Self {
        let mut dims = vec![spec.n_features];
        dims.extend(spec.hidden.iter().filter(|&&h| h > 0).map(|&h| h as usize));
        dims.push(spec.n_outputs());
        let (mut weight_offset, mut bias_offset) = (Vec::new(), Vec::new());
        let (mut w, mut b) = (0, 0);
        for l in 0..dims.len() - 1 {
            weight_offset.push(w);
            bias_offset.push(b);
            w += dims[l] * dims[l + 1];
            b += dims[l + 1];
        }
        Self { dims, weight_offset, bias_offset, n_weights: w, n_biases: b }
    }

    /// Number of layers with weights (1 for a linear model).
    pub fn n_layers(&self) -> usize {
        self.dims.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_two_layer_network() {
        let mut spec = ModelSpec::river_defaults(Task::Multiclass { classes: 3 }, 4);
        spec.hidden = [8, 5];
        let l = spec.layout();
        assert_eq!(l.dims, [4, 8, 5, 3]);
        assert_eq!(l.weight_offset, [0, 32, 72]);
        assert_eq!(l.bias_offset, [0, 8, 13]);
        assert_eq!((l.n_weights, l.n_biases), (87, 16));
        let w = spec.initial_weights();
        assert!(w.iter().all(|w| w.abs() <= (6.0f32 / 8.0).sqrt()) && w.iter().any(|&w| w != 0.0));
        assert_eq!(w, spec.initial_weights(), "initial weights depend only on the seed");
    }

    #[test]
    fn linear_models_start_at_zero() {
        let spec = ModelSpec::river_defaults(Task::Binary, 3);
        assert_eq!(spec.layout().dims, [3, 1]);
        assert_eq!(spec.initial_weights(), [0.0; 3]);
    }
}
