//! The CPU backend of [`ModelBank`]: the same arithmetic as
//! `cuda/model.cu`, one row at a time in batch order (which applies each
//! key's rows in order, as the GPU's per-key threads do).
//!
//! Nothing here allocates per row: a batch borrows its rows, labels and
//! output buffer from the caller, one row's activations live in scratch
//! buffers the bank keeps, and the bank's arrays are updated in place.
//! Two cores do not pay for threading at these sizes (a row costs tens of
//! nanoseconds), so there is no rayon here; timely's workers already give
//! each core its own share of the keys.

use crate::error::Result;
use crate::linear::sigmoid;
use crate::model::{BankState, ModelBank, check_batch};
use crate::spec::{Activation, Layout, ModelSpec, Optimizer, Task};

/// Largest gradient magnitude, as River's `clip_gradient` default.
const CLIP: f32 = 1e12;

/// A bank of models in host memory.
///
/// ```
/// use weir_kernels::{CpuBank, ModelBank, ModelSpec, Task};
/// # fn main() -> weir_kernels::Result<()> {
/// let mut bank = CpuBank::new(ModelSpec::river_defaults(Task::Regression, 1), 2)?;
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
    spec: ModelSpec,
    layout: Layout,
    state: BankState,
    /// One row's standardised inputs.
    xs: Vec<f32>,
    /// One row's layer outputs, laid out as the biases are.
    act: Vec<f32>,
    /// One row's loss gradients at each layer's pre-activations.
    delta: Vec<f32>,
}

impl CpuBank {
    /// A bank of `n_keys` fresh models.
    pub fn new(spec: ModelSpec, n_keys: usize) -> Result<Self> {
        Self::from_state(spec, BankState::new(&spec, n_keys))
    }

    /// A bank that starts from saved numbers (a snapshot).
    pub fn from_state(spec: ModelSpec, state: BankState) -> Result<Self> {
        state.validate(&spec)?;
        let layout = spec.layout();
        let units = layout.n_biases;
        Ok(Self { xs: vec![0.0; spec.n_features], act: vec![0.0; units], delta: vec![0.0; units], layout, spec, state })
    }
}

/// Zero for subnormal values. Adam's moments of a weight whose gradient
/// stays zero (a dead ReLU unit, a constant feature) decay geometrically
/// into the subnormal range, where every operation on them costs about a
/// hundred times more on x86; flushing them (as GPUs do with `-ftz`) keeps
/// long-lived models at full speed and changes no weight by more than
/// `1e-30`.
#[inline]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}

#[inline]
fn standardise(x: f32, mean: f32, var: f32) -> f32 {
    if var > 0.0 { (x - mean) / var.sqrt() } else { 0.0 }
}

/// The model's inputs for row `x`: standardised by the key's scaler, or as given.
fn inputs(scale: bool, x: &[f32], mean: &[f32], var: &[f32], xs: &mut [f32]) {
    if scale {
        for f in 0..x.len() {
            xs[f] = standardise(x[f], mean[f], var[f]);
        }
    } else {
        xs.copy_from_slice(x);
    }
}

#[inline]
fn activate(a: Activation, z: f32) -> f32 {
    match a {
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => sigmoid(z),
    }
}

/// The activation's derivative, from its output.
#[inline]
fn activate_grad(a: Activation, out: f32) -> f32 {
    match a {
        Activation::Relu => f32::from(u8::from(out > 0.0)),
        Activation::Tanh => 1.0 - out * out,
        Activation::Sigmoid => out * (1.0 - out),
    }
}

/// Softmax in place, shifted by the largest score so that `exp` cannot overflow.
fn softmax(z: &mut [f32]) {
    let top = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0.0;
    for z in z.iter_mut() {
        *z = (*z - top).exp();
        sum += *z;
    }
    for z in z.iter_mut() {
        *z /= sum;
    }
}

/// Runs one key's network on `xs`; every layer's outputs land in `act`
/// (hidden layers activated, the last through the task's link).
fn forward(spec: &ModelSpec, layout: &Layout, w: &[f32], b: &[f32], xs: &[f32], act: &mut [f32]) {
    let last = layout.n_layers() - 1;
    for l in 0..=last {
        let (n_in, n_out) = (layout.dims[l], layout.dims[l + 1]);
        let (before, here) = act.split_at_mut(layout.bias_offset[l]);
        let input = if l == 0 { xs } else { &before[layout.bias_offset[l - 1]..] };
        let out = &mut here[..n_out];
        let weights = &w[layout.weight_offset[l]..];
        for (o, out) in out.iter_mut().enumerate() {
            let row = &weights[o * n_in..(o + 1) * n_in];
            let mut z = b[layout.bias_offset[l] + o];
            for (w, x) in row.iter().zip(input) {
                z += w * x;
            }
            *out = if l < last { activate(spec.activation, z) } else { z };
        }
        if l == last {
            match spec.task {
                Task::Regression => {}
                Task::Binary => out[0] = sigmoid(out[0]),
                Task::Multiclass { .. } => softmax(out),
            }
        }
    }
}

/// Borrowed view of one key's model.
struct Model<'a> {
    w: &'a mut [f32],
    bias: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    steps: &'a mut u32,
    count: &'a mut f32,
    mean: &'a mut [f32],
    var: &'a mut [f32],
    /// The unfinished mini-batch (`None` when learning row by row).
    batch: Option<(&'a mut [f32], &'a mut [f32], &'a mut u32)>,
}

impl BankState {
    fn model(&mut self, key: usize, layout: &Layout) -> Model<'_> {
        let (nw, nb, f) = (layout.n_weights, layout.n_biases, layout.dims[0]);
        let (w, b, x) = (key * nw..(key + 1) * nw, key * nb..(key + 1) * nb, key * f..(key + 1) * f);
        let moments = key * layout.n_moments()..(key + 1) * layout.n_moments();
        let batch = if self.pending.is_empty() {
            None
        } else {
            Some((&mut self.grad_weights[w.clone()], &mut self.grad_bias[b.clone()], &mut self.pending[key]))
        };
        Model {
            w: &mut self.weights[w.clone()],
            bias: &mut self.bias[b],
            m: &mut self.adam_m[moments.clone()],
            v: &mut self.adam_v[moments],
            steps: &mut self.steps[key],
            count: &mut self.count[key],
            mean: &mut self.mean[x.clone()],
            var: &mut self.var[x],
            batch,
        }
    }
}

/// One optimizer step of parameter `p` on gradient `g` (`rate` is the
/// step size, bias-corrected for Adam).
#[inline]
fn step(optimizer: Optimizer, rate: f32, p: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
    match optimizer {
        Optimizer::Sgd { .. } => *p -= rate * g,
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            *m = flush(beta1 * *m + (1.0 - beta1) * g);
            *v = flush(beta2 * *v + (1.0 - beta2) * g * g);
            *p -= rate * *m / (v.sqrt() + eps);
        }
    }
}

/// Scratch of one row: inputs, layer outputs, gradients.
struct Row<'a> {
    xs: &'a mut [f32],
    act: &'a mut [f32],
    delta: &'a mut [f32],
}

impl Model<'_> {
    fn predict(&self, spec: &ModelSpec, layout: &Layout, x: &[f32], row: &mut Row<'_>, out: &mut [f32]) {
        inputs(spec.scale, x, self.mean, self.var, row.xs);
        forward(spec, layout, self.w, self.bias, row.xs, row.act);
        out.copy_from_slice(&row.act[layout.bias_offset[layout.n_layers() - 1]..]);
    }

    /// Test-then-train on one row: writes the outputs before learning to
    /// `out`, then learns `y`.
    fn learn(&mut self, spec: &ModelSpec, layout: &Layout, x: &[f32], y: f32, row: &mut Row<'_>, out: &mut [f32]) {
        self.predict(spec, layout, x, row, out);
        if spec.scale {
            let c = *self.count + 1.0;
            *self.count = c;
            for ((&x, mean), var) in x.iter().zip(self.mean.iter_mut()).zip(self.var.iter_mut()) {
                let old = *mean;
                *mean = old + (x - old) / c;
                *var += ((x - old) * (x - *mean) - *var) / c;
            }
            inputs(true, x, self.mean, self.var, row.xs);
            forward(spec, layout, self.w, self.bias, row.xs, row.act);
        }
        self.backward(spec, layout, y, row);
        self.apply(spec, layout, row);
    }

    /// Fills `row.delta` with the loss gradient at every layer's
    /// pre-activations (output layer first, then back through the
    /// weights as they were before this row).
    fn backward(&self, spec: &ModelSpec, layout: &Layout, y: f32, row: &mut Row<'_>) {
        let last = layout.n_layers() - 1;
        let at = layout.bias_offset[last];
        let (out, delta) = (&row.act[at..], &mut row.delta[at..]);
        for (c, (d, &p)) in delta.iter_mut().zip(out).enumerate() {
            let g = match spec.task {
                Task::Regression => 2.0 * (p - y),
                Task::Binary => p - y,
                Task::Multiclass { .. } => p - f32::from(u8::from(c as f32 == y)),
            };
            *d = g.clamp(-CLIP, CLIP);
        }
        for l in (1..=last).rev() {
            let (n_in, n_out) = (layout.dims[l], layout.dims[l + 1]);
            let (lower, upper) = row.delta.split_at_mut(layout.bias_offset[l]);
            let (below, here) = (&mut lower[layout.bias_offset[l - 1]..], &upper[..n_out]);
            let a = &row.act[layout.bias_offset[l - 1]..layout.bias_offset[l - 1] + n_in];
            let w = &self.w[layout.weight_offset[l]..];
            for i in 0..n_in {
                let mut s = 0.0;
                for (o, d) in here.iter().enumerate() {
                    s += w[o * n_in + i] * d;
                }
                below[i] = s * activate_grad(spec.activation, a[i]);
            }
        }
    }

    /// Steps on the row's gradients, or adds them to the key's mini-batch
    /// and steps on the batch's mean when it is full.
    fn apply(&mut self, spec: &ModelSpec, layout: &Layout, row: &Row<'_>) {
        let n_layers = layout.n_layers();
        let input = |l: usize| if l == 0 { &row.xs[..] } else { &row.act[layout.bias_offset[l - 1]..][..layout.dims[l]] };
        let scale = match &mut self.batch {
            None => 1.0,
            Some((gw, gb, pending)) => {
                for l in 0..n_layers {
                    let (n_in, n_out) = (layout.dims[l], layout.dims[l + 1]);
                    let (wo, bo) = (layout.weight_offset[l], layout.bias_offset[l]);
                    for o in 0..n_out {
                        let d = row.delta[bo + o];
                        gb[bo + o] += d;
                        for (g, &x) in gw[wo + o * n_in..wo + (o + 1) * n_in].iter_mut().zip(input(l)) {
                            *g += d * x;
                        }
                    }
                }
                **pending += 1;
                if **pending < spec.batch_size {
                    return;
                }
                1.0 / **pending as f32
            }
        };
        let l2 = 2.0 * spec.l2;
        let network = n_layers > 1;
        let rate = match spec.optimizer {
            Optimizer::Sgd { lr } => lr,
            Optimizer::Adam { lr, beta1, beta2, .. } => {
                let t = *self.steps + 1;
                *self.steps = t;
                lr * (1.0 - beta2.powf(t as f32)).sqrt() / (1.0 - beta1.powf(t as f32))
            }
        };
        for l in 0..n_layers {
            let (n_in, n_out) = (layout.dims[l], layout.dims[l + 1]);
            let (wo, bo) = (layout.weight_offset[l], layout.bias_offset[l]);
            let x = input(l);
            for o in 0..n_out {
                let at = wo + o * n_in;
                let d = match &self.batch {
                    None => row.delta[bo + o],
                    Some((_, gb, _)) => gb[bo + o] * scale,
                };
                if network {
                    let at = layout.n_weights + bo + o;
                    step(spec.optimizer, rate, &mut self.bias[bo + o], &mut self.m[at], &mut self.v[at], d);
                } else {
                    self.bias[bo + o] -= spec.intercept_lr * d;
                }
                for i in 0..n_in {
                    let g = match &self.batch {
                        None => d * x[i],
                        Some((gw, _, _)) => gw[at + i] * scale,
                    } + l2 * self.w[at + i];
                    step(spec.optimizer, rate, &mut self.w[at + i], &mut self.m[at + i], &mut self.v[at + i], g);
                }
            }
        }
        if let Some((gw, gb, pending)) = &mut self.batch {
            gw.fill(0.0);
            gb.fill(0.0);
            **pending = 0;
        }
    }
}

impl ModelBank for CpuBank {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn device(&self) -> &'static str {
        "cpu"
    }

    fn n_keys(&self) -> usize {
        self.state.n_keys()
    }

    fn ensure_keys(&mut self, n_keys: usize) -> Result<()> {
        self.state.grow(&self.spec, n_keys);
        Ok(())
    }

    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()> {
        check_batch("cpu predict", &self.spec, self.n_keys(), keys, rows, None, out)?;
        let (f, o) = (self.spec.n_features, self.spec.n_outputs());
        let mut row = Row { xs: &mut self.xs, act: &mut self.act, delta: &mut self.delta };
        for ((x, &k), out) in rows.chunks_exact(f).zip(keys).zip(out.chunks_exact_mut(o)) {
            self.state.model(k as usize, &self.layout).predict(&self.spec, &self.layout, x, &mut row, out);
        }
        Ok(())
    }

    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()> {
        check_batch("cpu learn", &self.spec, self.n_keys(), keys, rows, Some(labels), out)?;
        let (f, o) = (self.spec.n_features, self.spec.n_outputs());
        let mut row = Row { xs: &mut self.xs, act: &mut self.act, delta: &mut self.delta };
        for (((x, &k), &y), out) in rows.chunks_exact(f).zip(keys).zip(labels).zip(out.chunks_exact_mut(o)) {
            self.state.model(k as usize, &self.layout).learn(&self.spec, &self.layout, x, y, &mut row, out);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<BankState> {
        Ok(self.state.clone())
    }

    fn key_state(&mut self, k: u32) -> Result<BankState> {
        self.state.key(&self.spec, k as usize)
    }

    fn replace_key(&mut self, k: u32, model: &BankState) -> Result<()> {
        self.state.set_key(&self.spec, k as usize, model)
    }

    fn load_state(&mut self, state: BankState) -> Result<()> {
        state.validate(&self.spec)?;
        self.state = state;
        Ok(())
    }
}
