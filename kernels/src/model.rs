//! What a linear model bank is: its settings ([`LinearSpec`]), its state
//! ([`LinearState`]) and the interface every backend serves
//! ([`LinearBank`]).
//!
//! A bank holds one model per key (a sensor, a road segment), addressed by
//! a dense key index `0..n_keys`; a global model is a bank of one. Keeping
//! every key's numbers in a few flat arrays (structure of arrays) is what
//! lets the CPU walk them without pointer chasing and the GPU give each key
//! its own thread.
//!
//! The arithmetic is River's `StandardScaler | LinearRegression` or
//! `| LogisticRegression` (see `cuda/linear.cu` for the exact update), so
//! that accuracy can be compared with River on the same rows.

use crate::error::{KernelError, Result, check_len, row_count};

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Linear regression on squared loss; predictions are `w·x + b`.
    Regression,
    /// Binary logistic regression on log loss; predictions are
    /// probabilities of the positive class, labels are 0 or 1.
    Binary,
}

/// How the weights move (the bias always moves by plain SGD at
/// [`LinearSpec::intercept_lr`], as in River).
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

/// Settings of a bank of linear models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSpec {
    /// Regression or binary classification.
    pub task: Task,
    /// Number of input features (at least 1).
    pub n_features: usize,
    /// Weight optimizer.
    pub optimizer: Optimizer,
    /// L2 penalty `l2 · ‖w‖²` (the bias is not penalised).
    pub l2: f32,
    /// Step size of the bias.
    pub intercept_lr: f32,
    /// Standardise features with a running mean and variance per key.
    pub scale: bool,
}

impl LinearSpec {
    /// River's defaults for `task` with `n_features` inputs: SGD at 0.01,
    /// no L2, intercept step 0.01, no scaler.
    ///
    /// ```
    /// use weir_kernels::{LinearSpec, Task};
    /// let spec = LinearSpec::river_defaults(Task::Binary, 3);
    /// assert_eq!(spec.intercept_lr, 0.01);
    /// assert!(!spec.scale);
    /// ```
    pub fn river_defaults(task: Task, n_features: usize) -> Self {
        Self { task, n_features, optimizer: Optimizer::SGD_DEFAULT, l2: 0.0, intercept_lr: 0.01, scale: false }
    }
}

/// The numbers of every model in a bank, on the host. Key `k`'s values
/// are at `k * n_features ..` in the per-feature arrays and at `k` in the
/// per-key ones.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearState {
    /// Weights, `n_keys × n_features`.
    pub weights: Vec<f32>,
    /// Biases, one per key.
    pub bias: Vec<f32>,
    /// Adam's first moments, `n_keys × n_features` (zeros under SGD).
    pub adam_m: Vec<f32>,
    /// Adam's second moments, `n_keys × n_features`.
    pub adam_v: Vec<f32>,
    /// Adam steps taken, one per key.
    pub steps: Vec<u32>,
    /// Rows the scaler has seen, one per key.
    pub count: Vec<f32>,
    /// Scaler means, `n_keys × n_features`.
    pub mean: Vec<f32>,
    /// Scaler population variances, `n_keys × n_features`.
    pub var: Vec<f32>,
}

impl LinearState {
    /// A bank of `n_keys` fresh models (all zeros, as River starts).
    pub fn zeros(n_features: usize, n_keys: usize) -> Self {
        let per_feature = vec![0.0; n_features * n_keys];
        Self {
            weights: per_feature.clone(),
            bias: vec![0.0; n_keys],
            adam_m: per_feature.clone(),
            adam_v: per_feature.clone(),
            steps: vec![0; n_keys],
            count: vec![0.0; n_keys],
            mean: per_feature.clone(),
            var: per_feature,
        }
    }

    /// Number of keys.
    pub fn n_keys(&self) -> usize {
        self.bias.len()
    }

    /// Adds fresh models until there are `n_keys`.
    pub fn grow(&mut self, n_features: usize, n_keys: usize) {
        if n_keys <= self.n_keys() {
            return;
        }
        let (keys, features) = (n_keys, n_keys * n_features);
        for v in [&mut self.weights, &mut self.adam_m, &mut self.adam_v, &mut self.mean, &mut self.var] {
            v.resize(features, 0.0);
        }
        self.bias.resize(keys, 0.0);
        self.count.resize(keys, 0.0);
        self.steps.resize(keys, 0);
    }

    /// Checks that every array agrees with `n_features` and one key count,
    /// as a state read from a snapshot must.
    pub fn validate(&self, n_features: usize) -> Result<()> {
        const K: &str = "LinearState";
        let n = self.n_keys();
        check_len(K, "count length (= keys)", n, self.count.len())?;
        check_len(K, "steps length (= keys)", n, self.steps.len())?;
        for (what, v) in [
            ("weights length (= keys × features)", &self.weights),
            ("adam_m length (= keys × features)", &self.adam_m),
            ("adam_v length (= keys × features)", &self.adam_v),
            ("mean length (= keys × features)", &self.mean),
            ("var length (= keys × features)", &self.var),
        ] {
            check_len(K, what, n * n_features, v.len())?;
        }
        Ok(())
    }
}

/// A bank of linear models on some device. Every method checks shapes and
/// key indices and returns an error instead of panicking.
pub trait LinearBank: Send {
    /// The bank's settings.
    fn spec(&self) -> &LinearSpec;
    /// Which backend serves the bank (`"cpu"` or `"cuda"`).
    fn device(&self) -> &'static str;
    /// Number of keys the bank holds.
    fn n_keys(&self) -> usize;
    /// Adds fresh models until the bank holds at least `n_keys`.
    fn ensure_keys(&mut self, n_keys: usize) -> Result<()>;
    /// Scores `rows` (row-major, `n_features` columns), row `r` with the
    /// model of `keys[r]`: `out[r]` is `w·x + b` (regression) or the
    /// probability of the positive class (binary).
    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()>;
    /// Test-then-train: for each row in order, writes the prediction the
    /// row's model makes before learning it to `out[r]`, then learns
    /// `labels[r]`. Rows of one key are applied in their order; different
    /// keys are independent.
    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()>;
    /// A host copy of every model's numbers (for snapshots and export).
    fn state(&mut self) -> Result<LinearState>;
}

/// Checks a batch's shapes and key indices; returns its row count.
pub(crate) fn check_batch(
    kernel: &'static str,
    spec: &LinearSpec,
    n_keys: usize,
    keys: &[u32],
    rows: &[f32],
    out: &[f32],
) -> Result<usize> {
    let n = row_count(kernel, rows, spec.n_features)?;
    check_len(kernel, "keys length (= rows)", n, keys.len())?;
    check_len(kernel, "out length (= rows)", n, out.len())?;
    if let Some(&k) = keys.iter().find(|&&k| k as usize >= n_keys) {
        return Err(KernelError::Key { kernel, key: k as usize, n_keys });
    }
    Ok(n)
}

/// Rows grouped by key, each key's rows in their original order: the CSR
/// layout the per-key learning kernel walks (one thread per active key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyGroups {
    /// The distinct keys of the batch, ascending.
    pub active_keys: Vec<u32>,
    /// `offsets[i]..offsets[i + 1]` indexes `order` for `active_keys[i]`.
    pub offsets: Vec<u32>,
    /// Row indices, grouped by key, in row order within a key.
    pub order: Vec<u32>,
}

impl KeyGroups {
    /// Groups the rows of a batch by key (a stable sort, O(n log n) in
    /// the batch and independent of the bank's size).
    ///
    /// ```
    /// let g = weir_kernels::KeyGroups::new(&[7, 2, 7, 2, 5]);
    /// assert_eq!(g.active_keys, [2, 5, 7]);
    /// assert_eq!(g.offsets, [0, 2, 3, 5]);
    /// assert_eq!(g.order, [1, 3, 4, 0, 2]);
    /// ```
    pub fn new(keys: &[u32]) -> Self {
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_by_key(|&r| keys[r as usize]);
        let mut groups = Self { active_keys: Vec::new(), offsets: Vec::new(), order };
        for (j, &r) in groups.order.iter().enumerate() {
            let k = keys[r as usize];
            if groups.active_keys.last() != Some(&k) {
                groups.active_keys.push(k);
                groups.offsets.push(j as u32);
            }
        }
        groups.offsets.push(keys.len() as u32);
        groups
    }
}
