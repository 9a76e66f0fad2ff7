//! What a bank of models is: its state ([`BankState`]) and the interface
//! every backend serves ([`ModelBank`]); the settings are in
//! [`crate::spec`].
//!
//! A bank holds one model per key (a sensor, a road segment), addressed by
//! a dense key index `0..n_keys`; a global model is a bank of one. Keeping
//! every key's numbers in a few flat arrays (structure of arrays) is what
//! lets the CPU walk them without pointer chasing and the GPU give each key
//! its own thread.
//!
//! The arithmetic of a linear model is River's `StandardScaler |
//! LinearRegression`, `| LogisticRegression` or `| SoftmaxRegression` with
//! an intercept (see `cuda/model.cu` for the exact update), so that
//! accuracy can be compared with River on the same rows.

use crate::error::{KernelError, Result, check_len, row_count};
use crate::spec::ModelSpec;

/// The numbers of every model in a bank, on the host. With `W` weights
/// and `B` biases per key (see [`crate::Layout`]) and `F` features, key
/// `k`'s values are at `k * W ..` in the per-weight arrays, `k * B ..` in
/// the per-bias ones, `k * F ..` in the scaler's and at `k` in the
/// per-key ones.
#[derive(Debug, Clone, PartialEq)]
pub struct BankState {
    /// Weights, `n_keys × W`.
    pub weights: Vec<f32>,
    /// Biases, `n_keys × B`.
    pub bias: Vec<f32>,
    /// Adam's first moments, `n_keys × (W + B)`: each key's weights', then
    /// its biases' (used by networks only; zeros under SGD).
    pub adam_m: Vec<f32>,
    /// Adam's second moments, laid out as `adam_m`.
    pub adam_v: Vec<f32>,
    /// Optimizer steps taken, one per key.
    pub steps: Vec<u32>,
    /// Rows the scaler has seen, one per key.
    pub count: Vec<f32>,
    /// Scaler means, `n_keys × F`.
    pub mean: Vec<f32>,
    /// Scaler population variances, `n_keys × F`.
    pub var: Vec<f32>,
    /// Summed weight gradients of the key's unfinished mini-batch,
    /// `n_keys × W` (empty when `batch_size` is 1).
    pub grad_weights: Vec<f32>,
    /// Summed bias gradients of the unfinished mini-batch, `n_keys × B`
    /// (empty when `batch_size` is 1).
    pub grad_bias: Vec<f32>,
    /// Rows in the unfinished mini-batch, one per key (empty when
    /// `batch_size` is 1).
    pub pending: Vec<u32>,
}

impl BankState {
    /// A bank of `n_keys` fresh models (River starts linear models at
    /// zero; networks start from [`ModelSpec::initial_weights`]).
    pub fn new(spec: &ModelSpec, n_keys: usize) -> Self {
        let mut state = Self {
            weights: Vec::new(),
            bias: Vec::new(),
            adam_m: Vec::new(),
            adam_v: Vec::new(),
            steps: Vec::new(),
            count: Vec::new(),
            mean: Vec::new(),
            var: Vec::new(),
            grad_weights: Vec::new(),
            grad_bias: Vec::new(),
            pending: Vec::new(),
        };
        state.grow(spec, n_keys);
        state
    }

    /// Number of keys.
    pub fn n_keys(&self) -> usize {
        self.steps.len()
    }

    /// Adds fresh models until there are `n_keys`.
    pub fn grow(&mut self, spec: &ModelSpec, n_keys: usize) {
        let old = self.n_keys();
        if n_keys <= old {
            return;
        }
        let layout = spec.layout();
        let (w, b, f) = (layout.n_weights, layout.n_biases, spec.n_features);
        let init = spec.initial_weights();
        for _ in old..n_keys {
            self.weights.extend_from_slice(&init);
        }
        self.bias.resize(n_keys * b, 0.0);
        for v in [&mut self.adam_m, &mut self.adam_v] {
            v.resize(n_keys * layout.n_moments(), 0.0);
        }
        for v in [&mut self.mean, &mut self.var] {
            v.resize(n_keys * f, 0.0);
        }
        self.count.resize(n_keys, 0.0);
        self.steps.resize(n_keys, 0);
        if spec.batch_size > 1 {
            self.grad_weights.resize(n_keys * w, 0.0);
            self.grad_bias.resize(n_keys * b, 0.0);
            self.pending.resize(n_keys, 0);
        }
    }

    /// Values per key of each array, in the order of [`BankState::arrays`].
    fn per_key(spec: &ModelSpec) -> [usize; 9] {
        let layout = spec.layout();
        let batched = |len: usize| if spec.batch_size > 1 { len } else { 0 };
        let (w, b, f) = (layout.n_weights, layout.n_biases, spec.n_features);
        [w, b, layout.n_moments(), layout.n_moments(), 1, f, f, batched(w), batched(b)]
    }

    /// The `f32` arrays, in a fixed order.
    fn arrays(&self) -> [&Vec<f32>; 9] {
        [&self.weights, &self.bias, &self.adam_m, &self.adam_v, &self.count, &self.mean, &self.var, &self.grad_weights, &self.grad_bias]
    }

    fn arrays_mut(&mut self) -> [&mut Vec<f32>; 9] {
        [
            &mut self.weights,
            &mut self.bias,
            &mut self.adam_m,
            &mut self.adam_v,
            &mut self.count,
            &mut self.mean,
            &mut self.var,
            &mut self.grad_weights,
            &mut self.grad_bias,
        ]
    }

    /// Key `k`'s model alone, as a bank of one.
    ///
    /// ```
    /// use weir_kernels::{BankState, ModelSpec, Task};
    /// let spec = ModelSpec::river_defaults(Task::Binary, 3);
    /// let mut bank = BankState::new(&spec, 2);
    /// bank.weights[3] = 1.5; // key 1's first weight
    /// let one = bank.key(&spec, 1).unwrap();
    /// assert_eq!(one.weights, [1.5, 0.0, 0.0]);
    /// assert!(bank.key(&spec, 2).is_err());
    /// ```
    pub fn key(&self, spec: &ModelSpec, k: usize) -> Result<BankState> {
        if k >= self.n_keys() {
            return Err(KernelError::Key { kernel: "BankState::key", key: k, n_keys: self.n_keys() });
        }
        let mut one = BankState::new(spec, 1);
        let sizes = Self::per_key(spec);
        for ((dst, src), n) in one.arrays_mut().into_iter().zip(self.arrays()).zip(sizes) {
            dst.copy_from_slice(&src[k * n..(k + 1) * n]);
        }
        one.steps[0] = self.steps[k];
        if spec.batch_size > 1 {
            one.pending[0] = self.pending[k];
        }
        Ok(one)
    }

    /// Overwrites key `k`'s model with `model`, a bank of one of the same
    /// spec.
    pub fn set_key(&mut self, spec: &ModelSpec, k: usize, model: &BankState) -> Result<()> {
        model.validate(spec)?;
        check_len("BankState::set_key", "keys in the model (= 1)", 1, model.n_keys())?;
        if k >= self.n_keys() {
            return Err(KernelError::Key { kernel: "BankState::set_key", key: k, n_keys: self.n_keys() });
        }
        let sizes = Self::per_key(spec);
        for ((dst, src), n) in self.arrays_mut().into_iter().zip(model.arrays()).zip(sizes) {
            dst[k * n..(k + 1) * n].copy_from_slice(src);
        }
        self.steps[k] = model.steps[0];
        if spec.batch_size > 1 {
            self.pending[k] = model.pending[0];
        }
        Ok(())
    }

    /// Checks that every array agrees with `spec` and one key count, as a
    /// state read from a snapshot must.
    pub fn validate(&self, spec: &ModelSpec) -> Result<()> {
        const K: &str = "BankState";
        spec.validate()?;
        let layout = spec.layout();
        let n = self.n_keys();
        let batched = |len: usize| if spec.batch_size > 1 { len } else { 0 };
        check_len(K, "count length (= keys)", n, self.count.len())?;
        for (what, expected, got) in [
            ("weights length (= keys × weights)", n * layout.n_weights, self.weights.len()),
            ("adam_m length (= keys × (weights + biases))", n * layout.n_moments(), self.adam_m.len()),
            ("adam_v length (= keys × (weights + biases))", n * layout.n_moments(), self.adam_v.len()),
            ("bias length (= keys × biases)", n * layout.n_biases, self.bias.len()),
            ("mean length (= keys × features)", n * spec.n_features, self.mean.len()),
            ("var length (= keys × features)", n * spec.n_features, self.var.len()),
            ("grad_weights length (= keys × weights when batched)", batched(n * layout.n_weights), self.grad_weights.len()),
            ("grad_bias length (= keys × biases when batched)", batched(n * layout.n_biases), self.grad_bias.len()),
            ("pending length (= keys when batched)", batched(n), self.pending.len()),
        ] {
            check_len(K, what, expected, got)?;
        }
        Ok(())
    }
}

/// A bank of models on some device. Every method checks shapes and key
/// indices and returns an error instead of panicking.
pub trait ModelBank: Send {
    /// The bank's settings.
    fn spec(&self) -> &ModelSpec;
    /// Which backend serves the bank (`"cpu"` or `"cuda"`).
    fn device(&self) -> &'static str;
    /// Number of keys the bank holds.
    fn n_keys(&self) -> usize;
    /// Adds fresh models until the bank holds at least `n_keys`.
    fn ensure_keys(&mut self, n_keys: usize) -> Result<()>;
    /// Scores `rows` (row-major, `n_features` columns), row `r` with the
    /// model of `keys[r]`. Each row gets [`ModelSpec::n_outputs`] values
    /// in `out`: the score (regression), the probability of the positive
    /// class (binary) or of each class (multiclass).
    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()>;
    /// Test-then-train: for each row in order, writes the outputs the
    /// row's model gives before learning it (as `predict` would), then
    /// learns `labels[r]` (the target, 0 or 1, or the class index). Rows
    /// of one key are applied in their order; different keys are
    /// independent.
    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()>;
    /// A host copy of every model's numbers (for snapshots and export).
    fn state(&mut self) -> Result<BankState>;
    /// Key `k`'s model alone, as a bank of one.
    fn key_state(&mut self, k: u32) -> Result<BankState> {
        let spec = *self.spec();
        self.state()?.key(&spec, k as usize)
    }
    /// Replaces key `k`'s model with `model`, a bank of one of the same
    /// spec: a fresh model (reset after drift) or another bank's key (a
    /// background model swapped in).
    fn replace_key(&mut self, k: u32, model: &BankState) -> Result<()>;
    /// Replaces every model with `state`'s (of the same spec, any number
    /// of keys): a restore from a checkpoint, which may hold fewer keys
    /// than a bank warm-started from a snapshot file.
    fn load_state(&mut self, state: BankState) -> Result<()>;
}

/// Checks a batch's shapes, key indices and labels; returns its row count.
pub(crate) fn check_batch(
    kernel: &'static str,
    spec: &ModelSpec,
    n_keys: usize,
    keys: &[u32],
    rows: &[f32],
    labels: Option<&[f32]>,
    out: &[f32],
) -> Result<usize> {
    let n = row_count(kernel, rows, spec.n_features)?;
    check_len(kernel, "keys length (= rows)", n, keys.len())?;
    check_len(kernel, "out length (= rows × outputs)", n * spec.n_outputs(), out.len())?;
    if let Some(&k) = keys.iter().find(|&&k| k as usize >= n_keys) {
        return Err(KernelError::Key { kernel, key: k as usize, n_keys });
    }
    if let Some(labels) = labels {
        check_len(kernel, "labels length (= rows)", n, labels.len())?;
        if let crate::Task::Multiclass { classes } = spec.task
            && let Some(&y) = labels.iter().find(|&&y| !(y >= 0.0 && y < classes as f32 && y.fract() == 0.0))
        {
            return Err(KernelError::Label { kernel, label: y, classes: classes as usize });
        }
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
    /// Groups the rows of a batch by key: a counting sort over the key
    /// space, O(rows + largest key), stable. The comparison sort it
    /// replaces cost more than the GPU's learning at 131,072 rows
    /// (docs/benchmarks.md).
    ///
    /// ```
    /// let g = weir_kernels::KeyGroups::new(&[7, 2, 7, 2, 5]);
    /// assert_eq!(g.active_keys, [2, 5, 7]);
    /// assert_eq!(g.offsets, [0, 2, 3, 5]);
    /// assert_eq!(g.order, [1, 3, 4, 0, 2]);
    /// ```
    pub fn new(keys: &[u32]) -> Self {
        let Some(&largest) = keys.iter().max() else {
            return Self { active_keys: Vec::new(), offsets: vec![0], order: Vec::new() };
        };
        // next[k]: first the count of key k, then where its next row goes.
        let mut next = vec![0u32; largest as usize + 1];
        for &k in keys {
            next[k as usize] += 1;
        }
        let distinct = next.len().min(keys.len());
        let mut groups = Self {
            active_keys: Vec::with_capacity(distinct),
            offsets: Vec::with_capacity(distinct + 1),
            order: vec![0; keys.len()],
        };
        let mut at = 0u32;
        for (k, slot) in next.iter_mut().enumerate() {
            if *slot > 0 {
                groups.active_keys.push(k as u32);
                groups.offsets.push(at);
                (at, *slot) = (at + *slot, at);
            }
        }
        groups.offsets.push(at);
        for (r, &k) in keys.iter().enumerate() {
            let slot = &mut next[k as usize];
            groups.order[*slot as usize] = r as u32;
            *slot += 1;
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::KeyGroups;

    proptest! {
        /// The counting sort groups exactly as a stable sort by key does.
        #[test]
        fn key_groups_match_a_stable_sort(keys in vec(0u32..50, 0..300)) {
            let g = KeyGroups::new(&keys);
            let mut order: Vec<u32> = (0..keys.len() as u32).collect();
            order.sort_by_key(|&r| keys[r as usize]);
            prop_assert_eq!(&g.order, &order);
            let mut active = keys.clone();
            active.sort_unstable();
            active.dedup();
            prop_assert_eq!(&g.active_keys, &active);
            prop_assert_eq!(g.offsets.len(), active.len() + 1);
            for (i, &k) in active.iter().enumerate() {
                let (a, b) = (g.offsets[i] as usize, g.offsets[i + 1] as usize);
                prop_assert!(a < b);
                prop_assert!(g.order[a..b].iter().all(|&r| keys[r as usize] == k));
            }
        }
    }
}
