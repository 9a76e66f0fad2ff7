//! The CPU backend of [`LinearBank`]: the same arithmetic as
//! `cuda/linear.cu`, one row at a time in batch order (which applies each
//! key's rows in order, as the GPU's per-key threads do).
//!
//! Nothing here allocates per row: a batch borrows its rows, labels and
//! output buffer from the caller and updates the bank's arrays in place.
//! Two cores do not pay for threading at these sizes (a row costs tens of
//! nanoseconds), so there is no rayon here; timely's workers already give
//! each core its own share of the keys.

use crate::error::Result;
use crate::linear::sigmoid;
use crate::model::{LinearBank, LinearSpec, LinearState, Optimizer, Task, check_batch};

/// Largest gradient magnitude, as River's `clip_gradient` default.
const CLIP: f32 = 1e12;

/// A bank of linear models in host memory.
///
/// ```
/// use weir_kernels::{CpuBank, LinearBank, LinearSpec, Task};
/// # fn main() -> weir_kernels::Result<()> {
/// let mut bank = CpuBank::new(LinearSpec::river_defaults(Task::Regression, 1), 2);
/// let mut out = [0.0; 2];
/// // Key 0 learns y = 1 at x = 1, key 1 learns y = -1: they stay apart.
/// for _ in 0..2000 {
///     bank.learn(&[0, 1], &[1.0, 1.0], &[1.0, -1.0], &mut out)?;
/// }
/// bank.predict(&[0, 1], &[1.0, 1.0], &mut out)?;
/// assert!((out[0] - 1.0).abs() < 1e-3 && (out[1] + 1.0).abs() < 1e-3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CpuBank {
    spec: LinearSpec,
    state: LinearState,
}

impl CpuBank {
    /// A bank of `n_keys` fresh models.
    pub fn new(spec: LinearSpec, n_keys: usize) -> Self {
        Self { state: LinearState::zeros(spec.n_features, n_keys), spec }
    }

    /// A bank that starts from saved numbers (a snapshot).
    pub fn from_state(spec: LinearSpec, state: LinearState) -> Result<Self> {
        state.validate(spec.n_features)?;
        Ok(Self { spec, state })
    }
}

#[inline]
fn standardise(x: f32, mean: f32, var: f32) -> f32 {
    if var > 0.0 { (x - mean) / var.sqrt() } else { 0.0 }
}

/// Borrowed view of one key's model.
struct Model<'a> {
    w: &'a mut [f32],
    bias: &'a mut f32,
    m: &'a mut [f32],
    v: &'a mut [f32],
    steps: &'a mut u32,
    count: &'a mut f32,
    mean: &'a mut [f32],
    var: &'a mut [f32],
}

impl LinearState {
    fn model(&mut self, key: usize, f: usize) -> Model<'_> {
        let at = key * f..(key + 1) * f;
        Model {
            w: &mut self.weights[at.clone()],
            bias: &mut self.bias[key],
            m: &mut self.adam_m[at.clone()],
            v: &mut self.adam_v[at.clone()],
            steps: &mut self.steps[key],
            count: &mut self.count[key],
            mean: &mut self.mean[at.clone()],
            var: &mut self.var[at],
        }
    }
}

#[inline]
fn score(x: &[f32], w: &[f32], b: f32, scale: bool, mean: &[f32], var: &[f32]) -> f32 {
    let mut z = b;
    if scale {
        for f in 0..x.len() {
            z += w[f] * standardise(x[f], mean[f], var[f]);
        }
    } else {
        for (w, x) in w.iter().zip(x) {
            z += w * x;
        }
    }
    z
}

#[inline]
fn link(task: Task, z: f32) -> f32 {
    match task {
        Task::Binary => sigmoid(z),
        Task::Regression => z,
    }
}

impl Model<'_> {
    fn predict(&self, spec: &LinearSpec, x: &[f32]) -> f32 {
        link(spec.task, score(x, self.w, *self.bias, spec.scale, self.mean, self.var))
    }

    /// Test-then-train on one row; returns the prediction before learning.
    fn learn(&mut self, spec: &LinearSpec, x: &[f32], y: f32) -> f32 {
        let mut z = score(x, self.w, *self.bias, spec.scale, self.mean, self.var);
        let prediction = link(spec.task, z);
        if spec.scale {
            let c = *self.count + 1.0;
            *self.count = c;
            for ((&x, mean), var) in x.iter().zip(self.mean.iter_mut()).zip(self.var.iter_mut()) {
                let old = *mean;
                *mean = old + (x - old) / c;
                *var += ((x - old) * (x - *mean) - *var) / c;
            }
            z = score(x, self.w, *self.bias, true, self.mean, self.var);
        }
        let g = match spec.task {
            Task::Binary => sigmoid(z) - y,
            Task::Regression => 2.0 * (z - y),
        }
        .clamp(-CLIP, CLIP);
        *self.bias -= spec.intercept_lr * g;
        let l2 = 2.0 * spec.l2;
        let xs = |f: usize| if spec.scale { standardise(x[f], self.mean[f], self.var[f]) } else { x[f] };
        match spec.optimizer {
            Optimizer::Sgd { lr } => {
                for f in 0..x.len() {
                    let gi = g * xs(f) + l2 * self.w[f];
                    self.w[f] -= lr * gi;
                }
            }
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                let t = *self.steps + 1;
                *self.steps = t;
                let rate = lr * (1.0 - beta2.powf(t as f32)).sqrt() / (1.0 - beta1.powf(t as f32));
                for f in 0..x.len() {
                    let gi = g * xs(f) + l2 * self.w[f];
                    self.m[f] = beta1 * self.m[f] + (1.0 - beta1) * gi;
                    self.v[f] = beta2 * self.v[f] + (1.0 - beta2) * gi * gi;
                    self.w[f] -= rate * self.m[f] / (self.v[f].sqrt() + eps);
                }
            }
        }
        prediction
    }
}

impl LinearBank for CpuBank {
    fn spec(&self) -> &LinearSpec {
        &self.spec
    }

    fn device(&self) -> &'static str {
        "cpu"
    }

    fn n_keys(&self) -> usize {
        self.state.n_keys()
    }

    fn ensure_keys(&mut self, n_keys: usize) -> Result<()> {
        self.state.grow(self.spec.n_features, n_keys);
        Ok(())
    }

    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()> {
        check_batch("cpu predict", &self.spec, self.n_keys(), keys, rows, out)?;
        let f = self.spec.n_features;
        for ((x, &k), o) in rows.chunks_exact(f).zip(keys).zip(out.iter_mut()) {
            *o = self.state.model(k as usize, f).predict(&self.spec, x);
        }
        Ok(())
    }

    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()> {
        let n = check_batch("cpu learn", &self.spec, self.n_keys(), keys, rows, out)?;
        crate::error::check_len("cpu learn", "labels length (= rows)", n, labels.len())?;
        let f = self.spec.n_features;
        for (((x, &k), &y), o) in rows.chunks_exact(f).zip(keys).zip(labels).zip(out.iter_mut()) {
            *o = self.state.model(k as usize, f).learn(&self.spec, x, y);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<LinearState> {
        Ok(self.state.clone())
    }
}
