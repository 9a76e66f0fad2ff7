//! Shared pieces of the kernel tests: a seeded generator, streams with
//! skewed keys, and the float64 reference of River's online linear models
//! and of small networks.

#![allow(dead_code, unreachable_pub, clippy::needless_range_loop)]

use std::path::PathBuf;
use std::process::Command;

use weir_kernels::{Activation, BankState, ModelSpec, Optimizer, Task};

/// Compiles `tests/support/{name}.cpp` (a harness that runs a CUDA source
/// under `cuda/host_emulation.h`) with the host C++ compiler; returns the
/// executable. Call it once per test binary.
pub fn compile_harness(name: &str) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("weir_{name}"));
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/support/{name}.cpp"));
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let status = Command::new(&cxx)
        .args(["-std=c++17", "-O1", "-Wall", "-Werror", "-ffp-contract=off", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("the CUDA emulation tests need a C++ compiler ({cxx}): {e}"));
    assert!(status.success(), "{} does not compile as C++ under host_emulation.h", src.display());
    exe
}

/// xorshift64*: small, seedable, good enough for test inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock (fresh inputs every run), printing
    /// the seed so that a failure can be replayed with `WEIR_TEST_SEED`.
    pub fn fresh(test: &str) -> Self {
        let seed = std::env::var("WEIR_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("{test}: WEIR_TEST_SEED={seed}");
        Self::seeded(seed)
    }

    pub fn seeded(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A key in 0..n, skewed: key 0 is the most frequent (about a third of
    /// the rows for large n) and most keys are rare.
    pub fn skewed_key(&mut self, n: usize) -> u32 {
        ((n as f64) * self.unit().powi(3)) as u32
    }
}

/// A batch of rows with keys, features and labels.
pub struct Batch {
    pub keys: Vec<u32>,
    pub rows: Vec<f32>,
    pub labels: Vec<f32>,
}

/// A batch whose labels follow a per-key linear (or logistic, or
/// arg-max) truth, with features of different scales and offsets (so the
/// scaler matters).
pub fn batch(rng: &mut Rng, task: Task, n_features: usize, n_keys: usize, n_rows: usize) -> Batch {
    let mut b = Batch { keys: Vec::new(), rows: Vec::new(), labels: Vec::new() };
    for _ in 0..n_rows {
        let k = rng.skewed_key(n_keys);
        let mut z = 0.3 * f64::from(k % 7) - 1.0;
        let mut z2 = 0.0;
        for f in 0..n_features {
            let (scale, offset) = (1.0 + (f % 3) as f64, 0.5 * (f % 4) as f64);
            let x = scale * rng.range(-1.0, 1.0) + offset;
            let w = if (f + k as usize).is_multiple_of(2) { 1.0 } else { -0.5 };
            z += w * (x - offset) / scale / (n_features as f64).sqrt();
            z2 += if f % 3 == 1 { (x - offset) / scale } else { 0.0 };
            b.rows.push(x as f32);
        }
        let y = match task {
            Task::Regression => z + 0.1 * rng.range(-1.0, 1.0),
            Task::Binary => f64::from(rng.unit() < 1.0 / (1.0 + (-3.0 * z).exp())),
            // Classes by where two scores fall, with some noise.
            Task::Multiclass { classes } => {
                let c = if z + 0.2 * rng.range(-1.0, 1.0) > 0.0 { 1 } else { 0 } + if z2 > 0.3 { 2 } else { 0 };
                f64::from(c % classes)
            }
        };
        b.keys.push(k);
        b.labels.push(y as f32);
    }
    b
}

/// One layer of a reference network: `w[out][in]`, `b[out]`, Adam's moments.
#[derive(Clone)]
pub struct RefLayer {
    pub w: Vec<Vec<f64>>,
    pub b: Vec<f64>,
    pub m: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
    /// Adam's moments of the biases (a network's biases use the optimizer).
    pub mb: Vec<f64>,
    pub vb: Vec<f64>,
    /// Summed gradients of the unfinished mini-batch.
    pub gw: Vec<Vec<f64>>,
    pub gb: Vec<f64>,
    /// The same sums of absolute values: how large the gradient's terms
    /// are, which bounds its rounding in `f32`.
    pub gwa: Vec<Vec<f64>>,
    pub gba: Vec<f64>,
}

/// One key's model in float64, written as River's `StandardScaler |
/// LinearRegression / LogisticRegression` reads (learn_one of the
/// pipeline: the scaler learns, then the model's `_fit` with gradient
/// clipping, intercept by plain SGD, L2 as 2·l2·w), generalised the
/// textbook way to softmax outputs, hidden layers (whose biases move with
/// the optimizer) and mini-batches.
#[derive(Clone)]
pub struct RefModel {
    pub layers: Vec<RefLayer>,
    pub t: u32,
    pub n: f64,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub pending: u32,
    /// A step of this model was undecided in `f32`: a ReLU's pre-activation
    /// fell within rounding of 0 (whether the unit passes its gradient
    /// depends on the last bits), or Adam divided a gradient's rounding by
    /// a running size too small to hide it. From there an `f32` model and
    /// this one may fairly part by a whole step (see [`RefModel::learn`]).
    pub undecided: bool,
}

fn activate(spec: &ModelSpec, z: f64) -> f64 {
    match spec.activation {
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
    }
}

fn activate_grad(spec: &ModelSpec, out: f64) -> f64 {
    match spec.activation {
        Activation::Relu => f64::from(u8::from(out > 0.0)),
        Activation::Tanh => 1.0 - out * out,
        Activation::Sigmoid => out * (1.0 - out),
    }
}

/// How fast [`activate_grad`] moves with the output it is computed from:
/// an error in the output carries into the slope by this much.
fn activate_curvature(spec: &ModelSpec, out: f64) -> f64 {
    match spec.activation {
        Activation::Relu => 0.0,
        Activation::Tanh => (2.0 * out).abs(),
        Activation::Sigmoid => (1.0 - 2.0 * out).abs(),
    }
}

impl RefModel {
    pub fn new(spec: &ModelSpec) -> Self {
        let layout = spec.layout();
        let init = spec.initial_weights();
        let layers = (0..layout.n_layers())
            .map(|l| {
                let (n_in, n_out) = (layout.dims[l], layout.dims[l + 1]);
                let at = layout.weight_offset[l];
                let w: Vec<Vec<f64>> =
                    (0..n_out).map(|o| init[at + o * n_in..at + (o + 1) * n_in].iter().map(|&w| f64::from(w)).collect()).collect();
                let zeros = vec![vec![0.0; n_in]; n_out];
                let z = vec![0.0; n_out];
                RefLayer { w, b: z.clone(), m: zeros.clone(), v: zeros.clone(), mb: z.clone(), vb: z.clone(), gw: zeros.clone(), gb: z.clone(), gwa: zeros, gba: z }
            })
            .collect();
        let f = spec.n_features;
        Self { layers, t: 0, n: 0.0, mean: vec![0.0; f], var: vec![0.0; f], pending: 0, undecided: false }
    }

    fn transform(&self, spec: &ModelSpec, x: &[f32]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(f, &x)| {
                let x = f64::from(x);
                if !spec.scale {
                    x
                } else if self.var[f] > 0.0 {
                    (x - self.mean[f]) / self.var[f].sqrt()
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Every level's values: the inputs, each hidden layer's outputs, and
    /// the outputs through the task's link.
    fn forward(&self, spec: &ModelSpec, xs: Vec<f64>) -> Vec<Vec<f64>> {
        let mut levels = vec![xs];
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let input = &levels[l];
            let z: Vec<f64> = layer.w.iter().zip(&layer.b).map(|(w, b)| b + w.iter().zip(input).map(|(w, x)| w * x).sum::<f64>()).collect();
            let out = if l < last {
                z.iter().map(|&z| activate(spec, z)).collect()
            } else {
                match spec.task {
                    Task::Regression => z,
                    Task::Binary => vec![1.0 / (1.0 + (-z[0]).exp())],
                    Task::Multiclass { .. } => {
                        let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = z.iter().map(|z| (z - top).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        e.iter().map(|e| e / sum).collect()
                    }
                }
            };
            levels.push(out);
        }
        levels
    }

    /// A first-order forward error analysis of `levels` (from
    /// [`RefModel::forward`]): for each value, a bound on its `f32`
    /// computation's error in units of the rounding (a few ulps, 1e-7).
    /// A sum's error is that of its terms' magnitudes plus what its inputs
    /// carry through the weights; an activation scales it by its slope; a
    /// standardised input is as uncertain as the running mean and variance
    /// it was divided by, `(|x| + |mean|) / sqrt(var)`, however close to 0
    /// it came out. Also says whether a ReLU's pre-activation fell within
    /// that error of 0, where the unit's gradient depends on the last bits.
    fn rounding_terms(&self, spec: &ModelSpec, x: &[f32], levels: &[Vec<f64>]) -> (Vec<Vec<f64>>, bool) {
        let inputs = (0..x.len())
            .map(|f| {
                let (raw, standard) = (f64::from(x[f]).abs(), levels[0][f].abs());
                if spec.scale && self.var[f] > 0.0 { standard + (raw + self.mean[f].abs()) / self.var[f].sqrt() } else { standard }
            })
            .collect();
        let mut terms: Vec<Vec<f64>> = vec![inputs];
        let mut relu_undecided = false;
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let z_terms: Vec<f64> =
                layer.w.iter().zip(&layer.b).map(|(w, b)| b.abs() + w.iter().zip(&terms[l]).map(|(w, t)| w.abs() * t).sum::<f64>()).collect();
            let out = &levels[l + 1];
            let out_terms = if l < last {
                if spec.activation == Activation::Relu {
                    for (o, (w, b)) in layer.w.iter().zip(&layer.b).enumerate() {
                        let z = b + w.iter().zip(&levels[l]).map(|(w, x)| w * x).sum::<f64>();
                        relu_undecided |= z_terms[o] > 0.0 && z.abs() <= 1e-6 * z_terms[o];
                    }
                }
                out.iter().zip(&z_terms).map(|(&a, t)| activate_grad(spec, a).abs() * t + a.abs()).collect()
            } else {
                match spec.task {
                    Task::Regression => z_terms,
                    Task::Binary => vec![out[0] * (1.0 - out[0]) * z_terms[0] + out[0]],
                    // d p_c = p_c (d z_c - sum_k p_k d z_k), at most
                    // 2 p_c (1 - p_c) max_k |d z_k|: a confident class's
                    // probability is as certain as its logits allow.
                    Task::Multiclass { .. } => {
                        let widest = z_terms.iter().copied().fold(0.0, f64::max);
                        out.iter().map(|&p| 2.0 * p * (1.0 - p) * widest + p).collect()
                    }
                }
            };
            terms.push(out_terms);
        }
        (terms, relu_undecided)
    }

    /// How far an `f32` computation of this row's outputs may fairly
    /// stray: standardising `x` by a tiny deviation (a key's first few
    /// rows) amplifies the rounding of the running mean and variance by
    /// about `(|x| + |mean|) / sqrt(var)`. First-order bound through the
    /// first layer, times the largest weight of each later one, with a
    /// margin.
    pub fn sensitivity(&self, spec: &ModelSpec, x: &[f32]) -> f64 {
        if self.undecided {
            return f64::INFINITY;
        }
        if !spec.scale {
            return 0.0;
        }
        let xs = self.transform(spec, x);
        let first: f64 = (0..x.len())
            .filter(|&f| self.var[f] > 0.0)
            .map(|f| {
                let w: f64 = self.layers[0].w.iter().map(|w| w[f].abs()).sum();
                w * xs[f].abs() * (f64::from(x[f]).abs() + self.mean[f].abs()) / self.var[f].sqrt() * 1e-6
            })
            .sum();
        self.layers[1..].iter().fold(first, |s, layer| {
            s * layer.w.iter().flatten().fold(1.0f64, |a, w| a.max(w.abs())) * layer.w.first().map_or(1, Vec::len) as f64
        })
    }

    /// The outputs for `x`.
    pub fn predict(&self, spec: &ModelSpec, x: &[f32]) -> Vec<f64> {
        self.forward(spec, self.transform(spec, x)).pop().unwrap_or_default()
    }

    /// Test-then-train; returns the outputs before learning, each with
    /// the row's [`RefModel::sensitivity`].
    pub fn learn(&mut self, spec: &ModelSpec, x: &[f32], y: f32) -> Vec<(f64, f64)> {
        let slack = self.sensitivity(spec, x);
        let before = self.predict(spec, x).into_iter().map(|p| (p, slack)).collect();
        if spec.scale {
            self.n += 1.0;
            for (f, &x) in x.iter().enumerate() {
                let x = f64::from(x);
                let old = self.mean[f];
                self.mean[f] += (x - old) / self.n;
                self.var[f] += ((x - old) * (x - self.mean[f]) - self.var[f]) / self.n;
            }
        }
        let levels = self.forward(spec, self.transform(spec, x));
        let (terms, relu_undecided) = self.rounding_terms(spec, x, &levels);
        self.undecided |= relu_undecided;
        let y = f64::from(y);
        // Gradients at each layer's pre-activations, from the top down,
        // each with its rounding terms (see `rounding_terms`): an output's
        // error carries into `p - y`, and a hidden delta sums its layer's
        // deltas through the weights and is scaled by the activation's
        // slope, itself computed from a rounded output.
        let top = levels.len() - 1;
        let twice = if spec.task == Task::Regression { 2.0 } else { 1.0 };
        let mut delta: Vec<(f64, f64)> = levels[top]
            .iter()
            .zip(&terms[top])
            .enumerate()
            .map(|(c, (&p, &t))| {
                let d = match spec.task {
                    Task::Regression => 2.0 * (p - y),
                    Task::Binary => p - y,
                    Task::Multiclass { .. } => p - f64::from(u8::from(c as f64 == y)),
                }
                .clamp(-1e12, 1e12);
                (d, twice * t + d.abs())
            })
            .collect();
        let mut deltas = vec![Vec::new(); self.layers.len()];
        for l in (0..self.layers.len()).rev() {
            let below = if l > 0 {
                let a = &levels[l];
                (0..a.len())
                    .map(|i| {
                        let w = self.layers[l].w.iter().map(|w| w[i]);
                        let sum: f64 = w.clone().zip(&delta).map(|(w, (d, _))| w * d).sum();
                        let sum_terms: f64 = w.zip(&delta).map(|(w, (_, t))| w.abs() * t).sum();
                        let slope = activate_grad(spec, a[i]);
                        let d = sum * slope;
                        (d, slope.abs() * sum_terms + sum.abs() * activate_curvature(spec, a[i]) * terms[l][i] + d.abs())
                    })
                    .collect()
            } else {
                Vec::new()
            };
            deltas[l] = std::mem::replace(&mut delta, below);
        }
        // A weight's gradient `d · x` inherits both factors' errors.
        let gradient = |l: usize, o: usize, i: usize| {
            let ((d, d_terms), x) = (deltas[l][o], levels[l][i]);
            (d * x, d_terms * x.abs() + d.abs() * terms[l][i])
        };
        let mut scale = 1.0;
        if spec.batch_size > 1 {
            for (l, layer) in self.layers.iter_mut().enumerate() {
                for (o, &(d, d_terms)) in deltas[l].iter().enumerate() {
                    layer.gb[o] += d;
                    layer.gba[o] += d_terms;
                    for i in 0..levels[l].len() {
                        let (g, g_terms) = gradient(l, o, i);
                        layer.gw[o][i] += g;
                        layer.gwa[o][i] += g_terms;
                    }
                }
            }
            self.pending += 1;
            if self.pending < spec.batch_size {
                return before;
            }
            scale = 1.0 / f64::from(self.pending);
        }
        let rate = match spec.optimizer {
            Optimizer::Sgd { lr } => f64::from(lr),
            Optimizer::Adam { lr, beta1, beta2, .. } => {
                self.t += 1;
                let t = i32::try_from(self.t).unwrap_or(i32::MAX);
                f64::from(lr) * (1.0 - f64::from(beta2).powi(t)).sqrt() / (1.0 - f64::from(beta1).powi(t))
            }
        };
        let batched = spec.batch_size > 1;
        let network = self.layers.len() > 1;
        // `g` is a gradient whose f32 computation is off by about a few
        // ulps (1e-7) of `terms` (see `rounding_terms`). Adam
        // divides by the gradient's running size: where that is small
        // against the rounding (a gradient that cancels, early in a key's
        // life), the step itself is undecided. Returns whether it was.
        let step = |p: &mut f64, m: &mut f64, v: &mut f64, g: f64, terms: f64| -> bool {
            match spec.optimizer {
                Optimizer::Sgd { .. } => {
                    *p -= rate * g;
                    false
                }
                Optimizer::Adam { beta1, beta2, eps, .. } => {
                    let (b1, b2) = (f64::from(beta1), f64::from(beta2));
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    let denominator = v.sqrt() + f64::from(eps);
                    *p -= rate * *m / denominator;
                    rate * (1.0 - b1) * 2.0 * 1e-7 * terms / denominator > 1e-3
                }
            }
        };
        let mut undecided = false;
        for (l, layer) in self.layers.iter_mut().enumerate() {
            for o in 0..layer.b.len() {
                let (d, d_terms) = if batched { (layer.gb[o] * scale, layer.gba[o] * scale) } else { deltas[l][o] };
                if network {
                    undecided |= step(&mut layer.b[o], &mut layer.mb[o], &mut layer.vb[o], d, d_terms);
                } else {
                    layer.b[o] -= f64::from(spec.intercept_lr) * d;
                }
                for i in 0..layer.w[o].len() {
                    let l2 = 2.0 * f64::from(spec.l2) * layer.w[o][i];
                    let (data, data_terms) =
                        if batched { (layer.gw[o][i] * scale, layer.gwa[o][i] * scale) } else { gradient(l, o, i) };
                    undecided |= step(&mut layer.w[o][i], &mut layer.m[o][i], &mut layer.v[o][i], data + l2, data_terms + l2.abs());
                }
            }
            if batched {
                layer.gw.iter_mut().for_each(|g| g.fill(0.0));
                layer.gb.fill(0.0);
                layer.gwa.iter_mut().for_each(|g| g.fill(0.0));
                layer.gba.fill(0.0);
            }
        }
        self.undecided |= undecided;
        self.pending = 0;
        before
    }

    /// Weights in the kernels' layout (layer by layer, row-major).
    pub fn flat_weights(&self) -> Vec<f64> {
        self.layers.iter().flat_map(|l| l.w.iter().flatten().copied()).collect()
    }

    /// Biases in the kernels' layout.
    pub fn flat_bias(&self) -> Vec<f64> {
        self.layers.iter().flat_map(|l| l.b.iter().copied()).collect()
    }
}

/// A bank of reference models.
pub struct RefBank {
    pub spec: ModelSpec,
    pub models: Vec<RefModel>,
}

impl RefBank {
    pub fn new(spec: ModelSpec, n_keys: usize) -> Self {
        Self { spec, models: vec![RefModel::new(&spec); n_keys] }
    }

    /// Test-then-train on a batch: each row's outputs before learning,
    /// with their sensitivity.
    pub fn learn(&mut self, b: &Batch) -> Vec<(f64, f64)> {
        let f = self.spec.n_features;
        let spec = self.spec;
        b.rows.chunks(f).zip(&b.keys).zip(&b.labels).flat_map(|((x, &k), &y)| self.models[k as usize].learn(&spec, x, y)).collect()
    }

    /// Scores a batch: each row's outputs, with their sensitivity.
    pub fn predict(&self, b: &Batch) -> Vec<(f64, f64)> {
        let f = self.spec.n_features;
        b.rows
            .chunks(f)
            .zip(&b.keys)
            .flat_map(|(x, &k)| {
                let m = &self.models[k as usize];
                let slack = m.sensitivity(&self.spec, x);
                m.predict(&self.spec, x).into_iter().map(move |p| (p, slack))
            })
            .collect()
    }
}

/// `|got - want| <= tol · (1 + |want|)`, with a message naming the place.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    let with_slack: Vec<(f64, f64)> = want.iter().map(|&w| (w, 0.0)).collect();
    assert_predictions_close(what, got, &with_slack, tol);
}

/// Like [`assert_close`], allowing each value its own extra slack (the
/// sensitivity of an ill-conditioned row).
pub fn assert_predictions_close(what: &str, got: &[f32], want: &[(f64, f64)], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &(w, slack))) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(err <= tol * (1.0 + w.abs()) + slack, "{what}[{i}]: got {g}, want {w} (error {err:e}, slack {slack:e})");
    }
}

/// Compares a bank's state with the reference models.
pub fn assert_state_close(what: &str, state: &BankState, reference: &RefBank, tol: f64) {
    // An undecided model's parameters are not compared (its scaler is).
    let flat = |pick: fn(&RefModel) -> Vec<f64>| {
        reference
            .models
            .iter()
            .flat_map(|m| pick(m).into_iter().map(move |v| (v, if m.undecided { f64::INFINITY } else { 0.0 })))
            .collect::<Vec<_>>()
    };
    assert_predictions_close(&format!("{what} weights"), &state.weights, &flat(RefModel::flat_weights), tol);
    assert_predictions_close(&format!("{what} bias"), &state.bias, &flat(RefModel::flat_bias), tol);
    let decided = |pick: fn(&RefModel) -> Vec<f64>| reference.models.iter().flat_map(pick).collect::<Vec<_>>();
    assert_close(&format!("{what} mean"), &state.mean, &decided(|m| m.mean.clone()), tol);
    assert_close(&format!("{what} var"), &state.var, &decided(|m| m.var.clone()), tol);
    let steps: Vec<u32> = reference.models.iter().map(|m| m.t).collect();
    assert_eq!(state.steps, steps, "{what} steps");
    if reference.spec.batch_size > 1 {
        let pending: Vec<u32> = reference.models.iter().map(|m| m.pending).collect();
        assert_eq!(state.pending, pending, "{what} pending");
    }
}

/// Every combination of task, optimizer and scaler for linear models, and
/// networks with one and two hidden layers of each activation, online and
/// in mini-batches.
pub fn specs(n_features: usize) -> Vec<ModelSpec> {
    let mut out = Vec::new();
    let adam = Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    for task in [Task::Regression, Task::Binary, Task::Multiclass { classes: 3 }] {
        // Plain SGD on unscaled squared loss is stable only while
        // lr · ‖x‖² stays small, so its step shrinks with the width.
        let sgd = Optimizer::Sgd { lr: 0.05 / n_features as f32 };
        let base = ModelSpec { l2: 0.001, ..ModelSpec::river_defaults(task, n_features) };
        for optimizer in [sgd, adam] {
            for scale in [false, true] {
                out.push(ModelSpec { optimizer, scale, ..base });
            }
        }
        let net = ModelSpec { seed: 7, intercept_lr: 0.01, ..base };
        out.push(ModelSpec { hidden: [8, 0], activation: Activation::Relu, optimizer: adam, scale: true, ..net });
        out.push(ModelSpec { hidden: [6, 4], activation: Activation::Tanh, optimizer: sgd, batch_size: 4, ..net });
        out.push(ModelSpec { hidden: [5, 0], activation: Activation::Sigmoid, optimizer: adam, scale: true, batch_size: 3, ..net });
        // Networks the CUDA bank learns with a warp per key: every
        // activation, both optimizers, with and without the scaler.
        out.push(ModelSpec { hidden: [16, 0], activation: Activation::Tanh, optimizer: sgd, scale: true, ..net });
        out.push(ModelSpec { hidden: [32, 0], activation: Activation::Sigmoid, optimizer: adam, ..net });
    }
    out
}
