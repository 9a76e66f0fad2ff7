//! Shared pieces of the kernel tests: a seeded generator, streams with
//! skewed keys, and the float64 reference of River's online linear models.

#![allow(dead_code, unreachable_pub, clippy::needless_range_loop)]

use weir_kernels::{LinearSpec, LinearState, Optimizer, Task};

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

/// A batch whose labels follow a per-key linear (or logistic) truth, with
/// features of different scales and offsets (so the scaler matters).
pub fn batch(rng: &mut Rng, task: Task, n_features: usize, n_keys: usize, n_rows: usize) -> Batch {
    let mut b = Batch { keys: Vec::new(), rows: Vec::new(), labels: Vec::new() };
    for _ in 0..n_rows {
        let k = rng.skewed_key(n_keys);
        let mut z = 0.3 * f64::from(k % 7) - 1.0;
        for f in 0..n_features {
            let (scale, offset) = (1.0 + (f % 3) as f64, 0.5 * (f % 4) as f64);
            let x = scale * rng.range(-1.0, 1.0) + offset;
            let w = if (f + k as usize).is_multiple_of(2) { 1.0 } else { -0.5 };
            z += w * (x - offset) / scale / (n_features as f64).sqrt();
            b.rows.push(x as f32);
        }
        let y = match task {
            Task::Regression => z + 0.1 * rng.range(-1.0, 1.0),
            Task::Binary => f64::from(rng.unit() < 1.0 / (1.0 + (-3.0 * z).exp())),
        };
        b.keys.push(k);
        b.labels.push(y as f32);
    }
    b
}

/// One key's model in float64, written as River's
/// `StandardScaler | LinearRegression / LogisticRegression` reads
/// (learn_one of the pipeline: the scaler learns, then the linear model's
/// `_fit` with gradient clipping, intercept by plain SGD, L2 as 2·l2·w).
#[derive(Clone, Default)]
pub struct RefModel {
    pub w: Vec<f64>,
    pub b: f64,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub t: u32,
    pub n: f64,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

impl RefModel {
    pub fn new(f: usize) -> Self {
        Self { w: vec![0.0; f], m: vec![0.0; f], v: vec![0.0; f], mean: vec![0.0; f], var: vec![0.0; f], ..Self::default() }
    }

    fn transform(&self, spec: &LinearSpec, x: &[f32]) -> Vec<f64> {
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

    fn raw(&self, xs: &[f64]) -> f64 {
        self.b + xs.iter().zip(&self.w).map(|(x, w)| x * w).sum::<f64>()
    }

    /// How far an `f32` computation of this row's score may fairly stray:
    /// standardising `x` by a tiny deviation (a key's first few rows)
    /// amplifies the rounding of the running mean and variance by about
    /// `(|x| + |mean|) / sqrt(var)`. First-order bound, with a margin.
    pub fn sensitivity(&self, spec: &LinearSpec, x: &[f32]) -> f64 {
        if !spec.scale {
            return 0.0;
        }
        let xs = self.transform(spec, x);
        (0..x.len())
            .filter(|&f| self.var[f] > 0.0)
            .map(|f| (self.w[f] * xs[f]).abs() * (f64::from(x[f]).abs() + self.mean[f].abs()) / self.var[f].sqrt() * 1e-6)
            .sum()
    }

    pub fn predict(&self, spec: &LinearSpec, x: &[f32]) -> f64 {
        let z = self.raw(&self.transform(spec, x));
        match spec.task {
            Task::Binary => 1.0 / (1.0 + (-z).exp()),
            Task::Regression => z,
        }
    }

    /// Test-then-train; returns the prediction before learning and its
    /// [`RefModel::sensitivity`].
    pub fn learn(&mut self, spec: &LinearSpec, x: &[f32], y: f32) -> (f64, f64) {
        let before = (self.predict(spec, x), self.sensitivity(spec, x));
        if spec.scale {
            self.n += 1.0;
            for (f, &x) in x.iter().enumerate() {
                let x = f64::from(x);
                let old = self.mean[f];
                self.mean[f] += (x - old) / self.n;
                self.var[f] += ((x - old) * (x - self.mean[f]) - self.var[f]) / self.n;
            }
        }
        let xs = self.transform(spec, x);
        let z = self.raw(&xs);
        let y = f64::from(y);
        let g = match spec.task {
            Task::Binary => 1.0 / (1.0 + (-z).exp()) - y,
            Task::Regression => 2.0 * (z - y),
        }
        .clamp(-1e12, 1e12);
        self.b -= f64::from(spec.intercept_lr) * g;
        let grads: Vec<f64> = xs.iter().zip(&self.w).map(|(x, w)| g * x + 2.0 * f64::from(spec.l2) * w).collect();
        match spec.optimizer {
            Optimizer::Sgd { lr } => {
                for (w, g) in self.w.iter_mut().zip(&grads) {
                    *w -= f64::from(lr) * g;
                }
            }
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                self.t += 1;
                let (b1, b2) = (f64::from(beta1), f64::from(beta2));
                let t = i32::try_from(self.t).unwrap_or(i32::MAX);
                let rate = f64::from(lr) * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
                for f in 0..grads.len() {
                    self.m[f] = b1 * self.m[f] + (1.0 - b1) * grads[f];
                    self.v[f] = b2 * self.v[f] + (1.0 - b2) * grads[f] * grads[f];
                    self.w[f] -= rate * self.m[f] / (self.v[f].sqrt() + f64::from(eps));
                }
            }
        }
        before
    }
}

/// A bank of reference models.
pub struct RefBank {
    pub spec: LinearSpec,
    pub models: Vec<RefModel>,
}

impl RefBank {
    pub fn new(spec: LinearSpec, n_keys: usize) -> Self {
        Self { spec, models: vec![RefModel::new(spec.n_features); n_keys] }
    }

    /// Test-then-train on a batch: each row's prediction before learning
    /// and its sensitivity.
    pub fn learn(&mut self, b: &Batch) -> Vec<(f64, f64)> {
        let f = self.spec.n_features;
        let spec = self.spec;
        b.rows.chunks(f).zip(&b.keys).zip(&b.labels).map(|((x, &k), &y)| self.models[k as usize].learn(&spec, x, y)).collect()
    }

    /// Scores a batch: each row's prediction and its sensitivity.
    pub fn predict(&self, b: &Batch) -> Vec<(f64, f64)> {
        let f = self.spec.n_features;
        b.rows
            .chunks(f)
            .zip(&b.keys)
            .map(|(x, &k)| {
                let m = &self.models[k as usize];
                (m.predict(&self.spec, x), m.sensitivity(&self.spec, x))
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
pub fn assert_state_close(what: &str, state: &LinearState, reference: &RefBank, tol: f64) {
    let flat = |pick: fn(&RefModel) -> &Vec<f64>| reference.models.iter().flat_map(|m| pick(m).iter().copied()).collect::<Vec<_>>();
    assert_close(&format!("{what} weights"), &state.weights, &flat(|m| &m.w), tol);
    assert_close(&format!("{what} mean"), &state.mean, &flat(|m| &m.mean), tol);
    assert_close(&format!("{what} var"), &state.var, &flat(|m| &m.var), tol);
    let bias: Vec<f64> = reference.models.iter().map(|m| m.b).collect();
    assert_close(&format!("{what} bias"), &state.bias, &bias, tol);
    let steps: Vec<u32> = reference.models.iter().map(|m| m.t).collect();
    assert_eq!(state.steps, steps, "{what} steps");
}

/// Every combination of task, optimizer and scaler that the tests cover.
pub fn specs(n_features: usize) -> Vec<LinearSpec> {
    let mut out = Vec::new();
    for task in [Task::Regression, Task::Binary] {
        // Plain SGD on unscaled squared loss is stable only while
        // lr · ‖x‖² stays small, so its step shrinks with the width.
        let sgd = 0.05 / n_features as f32;
        for optimizer in [Optimizer::Sgd { lr: sgd }, Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 }] {
            for scale in [false, true] {
                out.push(LinearSpec { task, n_features, optimizer, l2: 0.001, intercept_lr: 0.01, scale });
            }
        }
    }
    out
}
