//! The linear-model banks against a float64 reference of River's
//! arithmetic, on fresh random inputs each run (the seed is printed; set
//! `WEIR_TEST_SEED` to replay one):
//!
//! - the CPU backend, for every task, optimizer and scaler setting, one
//!   key and skewed banks of hundreds of keys;
//! - the CUDA source itself, compiled as C++ for the CPU
//!   (`cuda/host_emulation.h`), so the GPU code's logic is tested on every
//!   machine, not only its syntax;
//! - the CUDA backend against the CPU backend, when a GPU is present (the
//!   test says it skipped, and why, when not);
//! - the CUDA sources compile to PTX with NVRTC wherever libnvrtc loads
//!   (`scripts/test.sh` installs it and sets `WEIR_REQUIRE_NVRTC=1`).

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use support::{Batch, RefBank, Rng, assert_close, assert_predictions_close, assert_state_close, batch, specs};
use weir_kernels::{Activation, BankState, CpuBank, KernelError, KeyGroups, ModelBank, ModelSpec, Optimizer, Task};

/// Learns `batches` batches with `bank` and the reference side by side,
/// comparing the test-then-train predictions of each batch, then the
/// state and a final scoring pass. Returns how many of the `n_keys`
/// models were undecided (their parameters not compared; see
/// `RefModel::undecided`).
fn check_against_reference(
    what: &str,
    bank: &mut dyn ModelBank,
    spec: ModelSpec,
    n_keys: usize,
    batches: usize,
    rng: &mut Rng,
) -> usize {
    let mut reference = RefBank::new(spec, n_keys);
    bank.ensure_keys(n_keys).unwrap();
    for i in 0..batches {
        let b = batch(rng, spec.task, spec.n_features, n_keys, 200);
        let mut out = vec![f32::NAN; b.keys.len() * spec.n_outputs()];
        bank.learn(&b.keys, &b.rows, &b.labels, &mut out).unwrap();
        let want = reference.learn(&b);
        assert_predictions_close(&format!("{what} {spec:?} batch {i} predictions"), &out, &want, 2e-3);
    }
    assert_state_close(&format!("{what} {spec:?}"), &bank.state().unwrap(), &reference, 2e-3);
    // Undecided models are rare (about 0.2% of them over the whole test,
    // a few in a bank of 40 at most): the comparison still covers most of
    // every bank, and nearly all models overall (see `Coverage`).
    let undecided = reference.models.iter().filter(|m| m.undecided).count();
    assert!(n_keys == 1 || undecided * 2 <= n_keys, "{what} {spec:?}: {undecided} of {n_keys} models undecided");
    let b = batch(rng, spec.task, spec.n_features, n_keys, 300);
    let mut out = vec![f32::NAN; b.keys.len() * spec.n_outputs()];
    bank.predict(&b.keys, &b.rows, &mut out).unwrap();
    assert_predictions_close(&format!("{what} {spec:?} scores"), &out, &reference.predict(&b), 2e-3);
    undecided
}

/// How many models a test compared, and how many of them were undecided.
#[derive(Default)]
struct Coverage {
    models: usize,
    undecided: usize,
}

impl Coverage {
    fn add(&mut self, n_keys: usize, undecided: usize) {
        self.models += n_keys;
        self.undecided += undecided;
    }

    /// A test whose reference gave up on more than 2% of its models would
    /// compare too little to mean anything.
    fn assert_mostly_decided(&self, what: &str) {
        assert!(self.undecided * 50 <= self.models, "{what}: {} of {} models undecided", self.undecided, self.models);
    }
}

#[test]
fn cpu_bank_matches_float64_reference() {
    let mut rng = Rng::fresh("cpu_bank_matches_float64_reference");
    let mut coverage = Coverage::default();
    for (n_keys, n_features) in [(1, 3), (300, 8), (40, 32)] {
        for spec in specs(n_features) {
            let mut bank = CpuBank::new(spec, 0).unwrap();
            coverage.add(n_keys, check_against_reference("cpu", &mut bank, spec, n_keys, 10, &mut rng));
        }
    }
    coverage.assert_mostly_decided("cpu");
}

/// The emulation harness of `cuda/model.cu`, compiled once per test binary.
fn harness() -> &'static PathBuf {
    static HARNESS: OnceLock<PathBuf> = OnceLock::new();
    HARNESS.get_or_init(|| support::compile_harness("model_harness"))
}

/// A bank whose every batch runs the CUDA source's kernels on the CPU.
struct EmulatedBank {
    spec: ModelSpec,
    state: BankState,
    /// The learning kernel: the one the CUDA bank picks, or the thread
    /// per key.
    kernel: Learner,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Learner {
    /// `weir_learn`: a thread per key.
    Thread,
    /// Whichever `CudaBank` picks for the spec.
    AsTheBank,
}

impl EmulatedBank {
    fn new(spec: ModelSpec, kernel: Learner) -> Self {
        Self { spec, state: BankState::new(&spec, 0), kernel }
    }

    /// The harness's op for learning (see model_harness.cpp).
    fn learn_op(&self) -> u8 {
        match self.kernel {
            Learner::AsTheBank if self.spec.warp_learns() => 2,
            Learner::AsTheBank if self.spec.warp_mlp_learns() => 3,
            _ => 1,
        }
    }
}

impl EmulatedBank {
    fn run(&mut self, op: u8, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) {
        let groups = KeyGroups::new(keys);
        let s = &self.spec;
        let (opt, lr, b1, b2, eps) = match s.optimizer {
            Optimizer::Sgd { lr } => (0, lr, 0.0, 0.0, 0.0),
            Optimizer::Adam { lr, beta1, beta2, eps } => (1, lr, beta1, beta2, eps),
        };
        let (task, activation) = (s.task.code(), s.activation.code());
        let mut input = format!(
            "{op} {} {} {} {} {} {} {} {task} {activation} {opt} {} {} {lr} {b1} {b2} {eps} {} {}\n",
            keys.len(),
            s.n_features,
            s.hidden[0],
            s.hidden[1],
            s.n_outputs(),
            self.state.n_keys(),
            groups.active_keys.len(),
            i32::from(s.scale),
            s.batch_size,
            s.l2,
            s.intercept_lr
        );
        let mut put = |v: &mut dyn Iterator<Item = String>| {
            for x in v {
                input.push_str(&x);
                input.push(' ');
            }
            input.push('\n');
        };
        let st = &self.state;
        put(&mut keys.iter().map(u32::to_string));
        put(&mut groups.active_keys.iter().map(u32::to_string));
        put(&mut groups.offsets.iter().map(u32::to_string));
        put(&mut groups.order.iter().map(u32::to_string));
        for v in [rows, labels, &st.weights, &st.bias, &st.adam_m, &st.adam_v] {
            put(&mut v.iter().map(f32::to_string));
        }
        put(&mut st.steps.iter().map(u32::to_string));
        for v in [&st.count, &st.mean, &st.var, &st.grad_weights, &st.grad_bias] {
            put(&mut v.iter().map(f32::to_string));
        }
        put(&mut st.pending.iter().map(u32::to_string));
        let mut child = Command::new(harness()).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "harness failed");
        let text = String::from_utf8(output.stdout).unwrap();
        let mut values = text.split_whitespace();
        let mut take = |dst: &mut [f32]| {
            for d in dst {
                *d = values.next().unwrap().parse().unwrap();
            }
        };
        take(out);
        let st = &mut self.state;
        take(&mut st.weights);
        take(&mut st.bias);
        take(&mut st.adam_m);
        take(&mut st.adam_v);
        let mut steps = vec![0.0f32; st.steps.len()];
        take(&mut steps);
        st.steps = steps.iter().map(|&s| s as u32).collect();
        take(&mut st.count);
        take(&mut st.mean);
        take(&mut st.var);
        take(&mut st.grad_weights);
        take(&mut st.grad_bias);
        let mut pending = vec![0.0f32; st.pending.len()];
        take(&mut pending);
        st.pending = pending.iter().map(|&s| s as u32).collect();
    }
}

impl ModelBank for EmulatedBank {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn device(&self) -> &'static str {
        "cuda-emulated"
    }
    fn n_keys(&self) -> usize {
        self.state.n_keys()
    }
    fn ensure_keys(&mut self, n_keys: usize) -> weir_kernels::Result<()> {
        self.state.grow(&self.spec, n_keys);
        Ok(())
    }
    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> weir_kernels::Result<()> {
        self.run(0, keys, rows, &vec![0.0; keys.len()], out);
        Ok(())
    }
    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> weir_kernels::Result<()> {
        self.run(self.learn_op(), keys, rows, labels, out);
        Ok(())
    }
    fn state(&mut self) -> weir_kernels::Result<BankState> {
        Ok(self.state.clone())
    }
    fn replace_key(&mut self, k: u32, model: &BankState) -> weir_kernels::Result<()> {
        self.state.set_key(&self.spec, k as usize, model)
    }
    fn load_state(&mut self, state: BankState) -> weir_kernels::Result<()> {
        state.validate(&self.spec)?;
        self.state = state;
        Ok(())
    }
}

/// `bank` (holding `n_keys` keys, fresh) loads the state of a CPU bank
/// that learned half a stream, learns the other half, and ends where the
/// CPU bank that learned it all ends: a restore from a checkpoint.
fn check_load_state(bank: &mut dyn ModelBank, spec: ModelSpec, rng: &mut Rng) {
    let all = batch(rng, spec.task, spec.n_features, 20, 400);
    let (f, o) = (spec.n_features, spec.n_outputs());
    let half = |b: &Batch, first: bool| {
        let r = if first { 0..200 } else { 200..400 };
        (b.keys[r.clone()].to_vec(), b.rows[r.start * f..r.end * f].to_vec(), b.labels[r].to_vec())
    };
    let mut whole = CpuBank::new(spec, 20).unwrap();
    let mut out = vec![0.0; 400 * o];
    whole.learn(&all.keys, &all.rows, &all.labels, &mut out).unwrap();
    let mut first = CpuBank::new(spec, 20).unwrap();
    let (k, r, l) = half(&all, true);
    first.learn(&k, &r, &l, &mut vec![0.0; 200 * o]).unwrap();
    bank.load_state(first.state().unwrap()).unwrap();
    assert_eq!(bank.n_keys(), 20, "every key of the loaded state, none of the bank's own");
    let (k, r, l) = half(&all, false);
    let mut rest = vec![0.0; 200 * o];
    bank.learn(&k, &r, &l, &mut rest).unwrap();
    let device = bank.device();
    let close = |what: &str, a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{device} {what}[{i}]: {x} against {y}");
        }
    };
    close("outputs after the load", &rest, &out[200 * o..]);
    let (got, want) = (bank.state().unwrap(), whole.state().unwrap());
    close("weights", &got.weights, &want.weights);
    close("bias", &got.bias, &want.bias);
    close("mean", &got.mean, &want.mean);
    close("var", &got.var, &want.var);
    assert_eq!(got.steps, want.steps);
    let other = ModelSpec::river_defaults(Task::Binary, spec.n_features + 1);
    assert!(bank.load_state(BankState::new(&other, 2)).is_err(), "another spec's state is refused");
}

#[test]
fn a_bank_loads_a_whole_state_and_goes_on_as_the_bank_that_saved_it() {
    let mut rng = Rng::fresh("a_bank_loads_a_whole_state_and_goes_on_as_the_bank_that_saved_it");
    for spec in specs(4) {
        check_load_state(&mut CpuBank::new(spec, 50).unwrap(), spec, &mut rng);
        check_load_state(&mut EmulatedBank { state: BankState::new(&spec, 50), ..EmulatedBank::new(spec, Learner::AsTheBank) }, spec, &mut rng);
    }
}

#[cfg(feature = "cuda")]
#[test]
fn a_cuda_bank_loads_a_whole_state() {
    use weir_kernels::cuda::CudaBank;
    if let Some(reason) = weir_kernels::cuda_unavailable() {
        let required = std::env::var_os("WEIR_REQUIRE_CUDA").is_some();
        assert!(!required, "WEIR_REQUIRE_CUDA is set but CUDA is unusable: {reason}");
        eprintln!("SKIPPED a_cuda_bank_loads_a_whole_state: {reason}");
        return;
    }
    let mut rng = Rng::fresh("a_cuda_bank_loads_a_whole_state");
    for spec in specs(4) {
        check_load_state(&mut CudaBank::new(spec, 50, 0).unwrap(), spec, &mut rng);
    }
}

#[test]
fn cuda_source_emulated_on_cpu_matches_float64_reference() {
    let mut rng = Rng::fresh("cuda_source_emulated_on_cpu_matches_float64_reference");
    let mut coverage = Coverage::default();
    for (n_keys, n_features) in [(1, 3), (300, 8)] {
        for spec in specs(n_features) {
            // The warp kernels (shuffles run as coroutines), and the thread
            // per key that serves every other spec, for every spec.
            for kernel in [Learner::AsTheBank, Learner::Thread] {
                if kernel == Learner::Thread && !(spec.warp_learns() || spec.warp_mlp_learns()) {
                    continue; // the bank's kernel is the thread per key: done above
                }
                let mut bank = EmulatedBank::new(spec, kernel);
                let what = format!("emulated cuda (op {})", bank.learn_op());
                coverage.add(n_keys, check_against_reference(&what, &mut bank, spec, n_keys, 4, &mut rng));
            }
        }
    }
    coverage.assert_mostly_decided("emulated cuda");
}

#[cfg(feature = "cuda")]
#[test]
fn cuda_bank_matches_cpu_bank_and_reference() {
    use weir_kernels::cuda::CudaBank;
    if let Some(reason) = weir_kernels::cuda_unavailable() {
        let required = std::env::var_os("WEIR_REQUIRE_CUDA").is_some();
        assert!(!required, "WEIR_REQUIRE_CUDA is set but CUDA is unusable: {reason}");
        eprintln!("SKIPPED cuda_bank_matches_cpu_bank_and_reference: {reason}");
        return;
    }
    let mut rng = Rng::fresh("cuda_bank_matches_cpu_bank_and_reference");
    let mut coverage = Coverage::default();
    for (n_keys, n_features) in [(1, 3), (300, 8), (10_000, 32)] {
        for spec in specs(n_features) {
            let mut bank = CudaBank::new(spec, 0, 0).unwrap();
            coverage.add(n_keys, check_against_reference("cuda", &mut bank, spec, n_keys, 6, &mut rng));
            // And the two backends agree with each other on one more stream.
            let (mut cpu, mut gpu) = (CpuBank::new(spec, n_keys).unwrap(), CudaBank::new(spec, n_keys, 0).unwrap());
            for _ in 0..5 {
                let b: Batch = batch(&mut rng, spec.task, n_features, n_keys, 2000);
                let (mut a, mut g) = (vec![0.0; 2000 * spec.n_outputs()], vec![0.0; 2000 * spec.n_outputs()]);
                cpu.learn(&b.keys, &b.rows, &b.labels, &mut a).unwrap();
                gpu.learn(&b.keys, &b.rows, &b.labels, &mut g).unwrap();
                let a64: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
                assert_close(&format!("cuda vs cpu {spec:?}"), &g, &a64, 1e-3);
            }
        }
    }
    coverage.assert_mostly_decided("cuda");
}

#[cfg(feature = "cuda")]
#[test]
fn cuda_sources_compile_to_ptx() {
    if !weir_kernels::cuda::nvrtc_available() {
        let required = std::env::var_os("WEIR_REQUIRE_NVRTC").is_some();
        assert!(!required, "WEIR_REQUIRE_NVRTC is set but libnvrtc cannot be loaded (check LD_LIBRARY_PATH)");
        eprintln!("SKIPPED cuda_sources_compile_to_ptx: libnvrtc cannot be loaded (pip install nvidia-cuda-nvrtc)");
        return;
    }
    for &(name, source, kernels) in weir_kernels::cuda::SOURCES {
        for arch in ["compute_75", "compute_90"] {
            let ptx = weir_kernels::cuda::compile_ptx(name, source, Some(arch.into()))
                .unwrap_or_else(|e| panic!("{name} for {arch}: {e}"));
            let text = ptx.to_src();
            for kernel in kernels {
                assert!(text.contains(&format!(".entry {kernel}")), "{name} for {arch} lacks {kernel}");
            }
        }
    }
}

#[test]
fn auto_device_never_fails_for_want_of_a_gpu() {
    let spec = ModelSpec::river_defaults(Task::Binary, 2);
    let opened = weir_kernels::open_bank(spec, None, weir_kernels::DeviceRequest::Auto, true).unwrap();
    match weir_kernels::cuda_unavailable() {
        Some(_) => {
            assert_eq!(opened.bank.device(), "cpu");
            assert!(opened.choice.starts_with("cpu ("), "{}", opened.choice);
            let demanded = weir_kernels::open_bank(spec, None, weir_kernels::DeviceRequest::Cuda, true);
            assert!(matches!(demanded, Err(KernelError::NoCuda { .. })), "{demanded:?}");
        }
        None => {
            assert_eq!(opened.bank.device(), "cuda", "a per-key linear bank learns faster on the GPU (see device.rs)");
            let mlp = ModelSpec { hidden: [4, 0], ..spec };
            assert_eq!(weir_kernels::open_bank(mlp, None, weir_kernels::DeviceRequest::Auto, true).unwrap().bank.device(), "cpu");
            let demanded = weir_kernels::open_bank(spec, None, weir_kernels::DeviceRequest::Cuda, true).unwrap();
            assert_eq!(demanded.bank.device(), "cuda");
        }
    }
    let global = weir_kernels::open_bank(spec, None, weir_kernels::DeviceRequest::Auto, false).unwrap();
    assert_eq!(global.bank.device(), "cpu");
}

#[test]
fn bad_shapes_and_keys_are_errors_not_panics() {
    let spec = ModelSpec::river_defaults(Task::Binary, 2);
    let mut bank = CpuBank::new(spec, 3).unwrap();
    let mut out = [0.0; 2];
    let err = bank.learn(&[0, 3], &[1.0; 4], &[1.0, 0.0], &mut out).unwrap_err();
    assert_eq!(err, KernelError::Key { kernel: "cpu learn", key: 3, n_keys: 3 });
    assert!(bank.learn(&[0, 1], &[1.0; 3], &[1.0, 0.0], &mut out).is_err());
    assert!(bank.learn(&[0, 1], &[1.0; 4], &[1.0], &mut out).is_err());
    assert!(bank.predict(&[0], &[1.0; 2], &mut out).is_err());
    assert!(CpuBank::from_state(spec, BankState::new(&ModelSpec::river_defaults(Task::Binary, 3), 2)).is_err());
    let mut softmax = CpuBank::new(ModelSpec::river_defaults(Task::Multiclass { classes: 3 }, 2), 1).unwrap();
    let mut out = [0.0; 3];
    let err = softmax.learn(&[0], &[1.0, 2.0], &[3.0], &mut out).unwrap_err();
    assert!(matches!(err, KernelError::Label { classes: 3, .. }), "{err}");
    assert!(softmax.learn(&[0], &[1.0, 2.0], &[f32::NAN], &mut out).is_err());
    assert!(softmax.learn(&[0], &[1.0, 2.0], &[0.5], &mut out).is_err());
    assert!(softmax.predict(&[0], &[1.0, 2.0], &mut [0.0; 1]).is_err(), "one output per class");
}

/// Rows from a fixed model `y = w·x + b` (or its logistic version).
fn truth_stream(rng: &mut Rng, task: Task, w: &[f64], b: f64, n: usize) -> Batch {
    let mut out = Batch { keys: vec![0; n], rows: Vec::new(), labels: Vec::new() };
    for _ in 0..n {
        let x: Vec<f64> = w.iter().map(|_| rng.range(-2.0, 2.0)).collect();
        let z = b + x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>();
        out.rows.extend(x.iter().map(|&x| x as f32));
        out.labels.push(match task {
            Task::Regression => z as f32,
            Task::Binary => f32::from(u8::from(rng.unit() < 1.0 / (1.0 + (-z).exp()))),
            Task::Multiclass { .. } => unreachable!("truth_stream draws regression and binary labels"),
        });
    }
    out
}

#[test]
fn linear_regression_converges_to_the_generating_model() {
    let mut rng = Rng::fresh("linear_regression_converges_to_the_generating_model");
    let (truth, b) = ([2.0, -3.0, 0.5], 1.0);
    let spec = ModelSpec { intercept_lr: 0.05, ..ModelSpec::river_defaults(Task::Regression, 3) };
    let mut bank = CpuBank::new(spec, 1).unwrap();
    let data = truth_stream(&mut rng, Task::Regression, &truth, b, 20_000);
    let mut out = vec![0.0; 20_000];
    bank.learn(&data.keys, &data.rows, &data.labels, &mut out).unwrap();
    let state = bank.state().unwrap();
    for (got, want) in state.weights.iter().zip(truth) {
        assert!((f64::from(*got) - want).abs() < 1e-2, "weights {:?} vs {truth:?}", state.weights);
    }
    assert!((f64::from(state.bias[0]) - b).abs() < 1e-2, "bias {}", state.bias[0]);
}

#[test]
fn logistic_regression_learns_a_logistic_truth() {
    let mut rng = Rng::fresh("logistic_regression_learns_a_logistic_truth");
    let (truth, b) = ([3.0, -2.0, 1.0, 0.0], 0.5);
    let adam = Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let spec = ModelSpec { optimizer: adam, scale: true, ..ModelSpec::river_defaults(Task::Binary, 4) };
    let mut bank = CpuBank::new(spec, 1).unwrap();
    let data = truth_stream(&mut rng, Task::Binary, &truth, b, 30_000);
    let mut out = vec![0.0; 30_000];
    bank.learn(&data.keys, &data.rows, &data.labels, &mut out).unwrap();
    // Prequential accuracy over the last 10,000 rows against the Bayes rate
    // of the generator (the truth's own accuracy on the same rows).
    let tail = 20_000..30_000;
    let correct = |p: &dyn Fn(usize) -> bool| tail.clone().filter(|&r| p(r) == (data.labels[r] > 0.5)).count() as f64 / 10_000.0;
    let model = correct(&|r| out[r] > 0.5);
    let bayes = correct(&|r| {
        let x = &data.rows[r * 4..r * 4 + 4];
        b + x.iter().zip(truth).map(|(&x, w)| f64::from(x) * w).sum::<f64>() > 0.0
    });
    assert!(model > bayes - 0.02, "prequential accuracy {model} vs Bayes {bayes}");
    // The scaler divides x ~ U(-2, 2) by its deviation 4/√12, so the
    // learned weights approach the truth times that deviation.
    let w = bank.state().unwrap().weights;
    let sd = 4.0 / 12f64.sqrt();
    for (got, want) in w.iter().zip(truth) {
        assert!((f64::from(*got) - want * sd).abs() < 0.6, "weights {w:?} vs {truth:?} × {sd}");
    }
}

#[test]
fn per_key_models_beat_one_global_model_on_per_key_differences() {
    let mut rng = Rng::fresh("per_key_models_beat_one_global_model_on_per_key_differences");
    let spec = ModelSpec { optimizer: Optimizer::ADAM_DEFAULT, scale: true, ..ModelSpec::river_defaults(Task::Binary, 3) };
    let n_keys = 50;
    let (mut per_key, mut global) = (CpuBank::new(spec, n_keys).unwrap(), CpuBank::new(spec, 1).unwrap());
    let (mut right_keyed, mut right_global, mut total) = (0, 0, 0);
    for _ in 0..50 {
        // Each key's label depends on the features with its own signs.
        let b = batch(&mut rng, Task::Binary, 3, n_keys, 1000);
        let (mut a, mut g) = (vec![0.0; 1000], vec![0.0; 1000]);
        per_key.learn(&b.keys, &b.rows, &b.labels, &mut a).unwrap();
        global.learn(&vec![0; 1000], &b.rows, &b.labels, &mut g).unwrap();
        for r in 0..1000 {
            let y = b.labels[r] > 0.5;
            right_keyed += usize::from((a[r] > 0.5) == y);
            right_global += usize::from((g[r] > 0.5) == y);
            total += 1;
        }
    }
    let (keyed, global) = (right_keyed as f64 / total as f64, right_global as f64 / total as f64);
    assert!(keyed > global + 0.05, "per-key accuracy {keyed} vs global {global}");
}

#[test]
fn softmax_regression_learns_a_three_class_truth() {
    let mut rng = Rng::fresh("softmax_regression_learns_a_three_class_truth");
    // Class = arg-max of three fixed linear scores.
    let truth = [[2.0, 0.0, 1.0], [-1.0, 2.0, 0.0], [-1.0, -2.0, -1.0]];
    let class = |x: &[f64]| {
        let score = |c: usize| truth[c].iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
        (0..3).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0)
    };
    let adam = Optimizer::Adam { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let spec = ModelSpec { optimizer: adam, scale: true, ..ModelSpec::river_defaults(Task::Multiclass { classes: 3 }, 3) };
    let mut bank = CpuBank::new(spec, 1).unwrap();
    let n = 20_000;
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let x: Vec<f64> = (0..3).map(|_| rng.range(-2.0, 2.0)).collect();
        labels.push(class(&x) as f32);
        rows.extend(x.iter().map(|&x| x as f32));
    }
    let mut out = vec![0.0; n * 3];
    bank.learn(&vec![0; n], &rows, &labels, &mut out).unwrap();
    let argmax = |p: &[f32]| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
    let tail = n - 5000..n;
    let right = tail.clone().filter(|&r| argmax(&out[r * 3..r * 3 + 3]) as f32 == labels[r]).count();
    let accuracy = right as f64 / tail.len() as f64;
    assert!(accuracy > 0.95, "prequential accuracy {accuracy} on separable classes");
    for p in out.chunks(3) {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "probabilities {p:?} do not sum to 1");
    }
}

/// Prequential accuracy over the last quarter of a stream.
fn tail_accuracy(spec: ModelSpec, rows: &[f32], labels: &[f32]) -> f64 {
    let n = labels.len();
    let mut bank = CpuBank::new(spec, 1).unwrap();
    let mut out = vec![0.0; n];
    bank.learn(&vec![0; n], rows, labels, &mut out).unwrap();
    let tail = 3 * n / 4..n;
    tail.clone().filter(|&r| (out[r] > 0.5) == (labels[r] > 0.5)).count() as f64 / tail.len() as f64
}

#[test]
fn mlp_learns_what_a_linear_model_cannot() {
    let mut rng = Rng::fresh("mlp_learns_what_a_linear_model_cannot");
    // XOR of the two features' signs: no linear boundary does better than chance.
    let n = 40_000;
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0));
        rows.extend([a as f32, b as f32]);
        labels.push(f32::from(u8::from((a > 0.0) != (b > 0.0))));
    }
    let adam = Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let linear = ModelSpec { optimizer: adam, ..ModelSpec::river_defaults(Task::Binary, 2) };
    let mlp = ModelSpec { hidden: [16, 0], seed: 3, ..linear };
    let two_layers = ModelSpec { hidden: [16, 8], activation: Activation::Tanh, batch_size: 4, ..mlp };
    let (linear, mlp, two_layers) =
        (tail_accuracy(linear, &rows, &labels), tail_accuracy(mlp, &rows, &labels), tail_accuracy(two_layers, &rows, &labels));
    assert!(linear < 0.6, "a linear model cannot learn XOR, yet scored {linear}");
    assert!(mlp > 0.9, "one hidden layer: prequential accuracy {mlp}");
    assert!(two_layers > 0.9, "two hidden layers in mini-batches of 4: prequential accuracy {two_layers}");
}

/// A key replaced by another bank's key (or a fresh model) then learns and
/// scores exactly as that model would, and the other keys are untouched;
/// on every backend present.
#[test]
fn replacing_a_key_swaps_in_that_model() {
    let mut rng = Rng::fresh("replacing_a_key_swaps_in_that_model");
    for spec in specs(4) {
        let mut backends: Vec<Box<dyn ModelBank>> = vec![Box::new(CpuBank::new(spec, 3).unwrap())];
        #[cfg(feature = "cuda")]
        if weir_kernels::cuda_unavailable().is_none() {
            backends.push(Box::new(weir_kernels::cuda::CudaBank::new(spec, 3, 0).unwrap()));
        }
        for mut bank in backends {
            let mut donor = CpuBank::new(spec, 2).unwrap();
            let b = batch(&mut rng, spec.task, 4, 3, 300);
            let mut out = vec![0.0; b.keys.len() * spec.n_outputs()];
            bank.learn(&b.keys, &b.rows, &b.labels, &mut out).unwrap();
            let d = batch(&mut rng, spec.task, 4, 2, 300);
            let mut dout = vec![0.0; d.keys.len() * spec.n_outputs()];
            donor.learn(&d.keys, &d.rows, &d.labels, &mut dout).unwrap();
            let before = bank.state().unwrap();
            let model = donor.key_state(1).unwrap();
            bank.replace_key(2, &model).unwrap();
            let after = bank.state().unwrap();
            assert_eq!(after.key(&spec, 2).unwrap(), model, "{} {spec:?}", bank.device());
            for k in 0..2 {
                assert_eq!(after.key(&spec, k).unwrap(), before.key(&spec, k).unwrap(), "key {k} untouched");
            }
            let fresh = BankState::new(&spec, 1);
            bank.replace_key(0, &fresh).unwrap();
            assert_eq!(bank.key_state(0).unwrap(), fresh);
            assert!(bank.replace_key(3, &fresh).is_err(), "no such key");
            assert!(bank.replace_key(0, &BankState::new(&spec, 2)).is_err(), "a bank of two");
        }
    }
}
