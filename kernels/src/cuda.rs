//! The CUDA backend of [`LinearBank`]: the kernels of `cuda/linear.cu`,
//! compiled at run time by NVRTC for the card in the machine and launched
//! through cudarc.
//!
//! cudarc loads `libcuda` and `libnvrtc` when first used (dynamic loading),
//! so building needs no CUDA toolkit. It panics when a library is missing,
//! so every entry point here first asks whether the library can be loaded
//! ([`cuda_unavailable`], [`nvrtc_available`]) and a missing GPU comes back
//! as an ordinary answer, never a panic.
//!
//! The bank lives in device memory between batches; a batch uploads its
//! keys, rows and labels, runs one kernel and downloads the predictions.
//! Learning groups the batch's rows by key on the host ([`KeyGroups`]) and
//! runs one GPU thread per key over that key's rows in order, which is
//! where the GPU wins: thousands of keys learn at once, each exactly as
//! the CPU would learn it.
// Launching a kernel is `unsafe` in cudarc: the compiler cannot check that
// the arguments match the kernel's C signature. Each launch below passes
// exactly the parameters of the `extern "C"` kernel it names, in order.
#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::error::{KernelError, Result, check_len};
use crate::model::{KeyGroups, LinearBank, LinearSpec, LinearState, Optimizer, Task, check_batch};

/// The CUDA C sources of the kernels, by file name (compiled at run time,
/// and compiled to PTX by the tests wherever NVRTC can be loaded).
pub const SOURCES: &[(&str, &str)] = &[("linear.cu", include_str!("../cuda/linear.cu"))];

/// Threads per block of every launch.
const BLOCK: u32 = 256;

fn driver(what: &'static str) -> impl Fn(DriverError) -> KernelError {
    move |e| KernelError::Cuda { what, detail: e.to_string() }
}

/// Whether NVRTC (`libnvrtc`) can be loaded on this machine.
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to open the library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Why CUDA cannot be used here, or `None` when a driver and at least one
/// device are present.
///
/// ```
/// // Either answer is normal; neither panics.
/// match weir_kernels::cuda::cuda_unavailable() {
///     None => println!("a GPU is present"),
///     Some(reason) => println!("CPU only: {reason}"),
/// }
/// ```
pub fn cuda_unavailable() -> Option<String> {
    // SAFETY: only tries to open the library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Some("the CUDA driver library (libcuda) is not installed".into());
    }
    if !nvrtc_available() {
        return Some("NVRTC (libnvrtc) is not installed, so kernels cannot be compiled".into());
    }
    match catch_unwind(CudaContext::device_count) {
        Ok(Ok(n)) if n > 0 => None,
        Ok(Ok(_)) => Some("the CUDA driver reports no devices".into()),
        Ok(Err(e)) => Some(format!("the CUDA driver failed: {e}")),
        Err(_) => Some("the CUDA driver could not be loaded".into()),
    }
}

/// Compiles one CUDA source to PTX with NVRTC, for `arch` (such as
/// `"compute_90"`) or NVRTC's default architecture.
pub fn compile_ptx(name: &str, source: &str, arch: Option<String>) -> Result<Ptx> {
    if !nvrtc_available() {
        return Err(KernelError::NoCuda { reason: "NVRTC (libnvrtc) is not installed".into() });
    }
    let mut options = vec!["--std=c++17".to_string()];
    options.extend(arch.map(|a| format!("--gpu-architecture={a}")));
    let opts = CompileOptions { name: Some(name.to_string()), options, ..Default::default() };
    let compiled = catch_unwind(AssertUnwindSafe(|| compile_ptx_with_opts(source, opts)));
    match compiled {
        Ok(Ok(ptx)) => Ok(ptx),
        Ok(Err(e)) => Err(KernelError::Cuda { what: "compile", detail: format!("{name}: {e}") }),
        Err(_) => Err(KernelError::Cuda { what: "compile", detail: format!("{name}: NVRTC panicked") }),
    }
}

/// A bank of linear models in GPU memory.
#[derive(Debug)]
pub struct CudaBank {
    spec: LinearSpec,
    stream: Arc<CudaStream>,
    predict_fn: CudaFunction,
    learn_fn: CudaFunction,
    n_keys: usize,
    capacity: usize,
    /// Per-feature arrays (weights, adam_m, adam_v, mean, var), `capacity × n_features`.
    features: [CudaSlice<f32>; 5],
    /// Per-key arrays (bias, count), `capacity`.
    keyed: [CudaSlice<f32>; 2],
    steps: CudaSlice<u32>,
}

const W: usize = 0;
const M: usize = 1;
const V: usize = 2;
const MEAN: usize = 3;
const VAR: usize = 4;
const BIAS: usize = 0;
const COUNT: usize = 1;

impl CudaBank {
    /// A bank of `n_keys` fresh models on GPU `ordinal`, or an error saying
    /// why CUDA cannot be used.
    pub fn new(spec: LinearSpec, n_keys: usize, ordinal: usize) -> Result<Self> {
        Self::from_state(spec, LinearState::zeros(spec.n_features, n_keys), ordinal)
    }

    /// A bank on GPU `ordinal` that starts from saved numbers.
    pub fn from_state(spec: LinearSpec, state: LinearState, ordinal: usize) -> Result<Self> {
        state.validate(spec.n_features)?;
        if let Some(reason) = cuda_unavailable() {
            return Err(KernelError::NoCuda { reason });
        }
        let ctx = match catch_unwind(|| CudaContext::new(ordinal)) {
            Ok(ctx) => ctx.map_err(driver("context"))?,
            Err(_) => return Err(KernelError::NoCuda { reason: "creating a CUDA context panicked".into() }),
        };
        let (major, minor) = ctx.compute_capability().map_err(driver("device query"))?;
        let ptx = compile_ptx("linear.cu", SOURCES[0].1, Some(format!("compute_{major}{minor}")))?;
        let module = ctx.load_module(ptx).map_err(driver("module load"))?;
        let predict_fn = module.load_function("weir_linear_predict").map_err(driver("function"))?;
        let learn_fn = module.load_function("weir_linear_learn").map_err(driver("function"))?;
        let stream = ctx.default_stream();
        // Room for at least 64 keys, so that no buffer is ever empty and a
        // growing bank does not reallocate for each new key.
        let n_keys = state.n_keys();
        let capacity = n_keys.max(64);
        let mut state = state;
        state.grow(spec.n_features, capacity);
        let up = |v: &[f32]| stream.clone_htod(v).map_err(driver("upload"));
        let features = [up(&state.weights)?, up(&state.adam_m)?, up(&state.adam_v)?, up(&state.mean)?, up(&state.var)?];
        let keyed = [up(&state.bias)?, up(&state.count)?];
        let steps = stream.clone_htod(&state.steps).map_err(driver("upload"))?;
        Ok(Self { spec, stream, predict_fn, learn_fn, n_keys, capacity, features, keyed, steps })
    }

    fn launch_config(n: usize) -> LaunchConfig {
        LaunchConfig { grid_dim: ((n as u32).div_ceil(BLOCK), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
    }

    /// Moves `old`'s first `len` values into a fresh zeroed buffer of `new_len`.
    fn regrow<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        stream: &Arc<CudaStream>,
        old: &CudaSlice<T>,
        len: usize,
        new_len: usize,
    ) -> Result<CudaSlice<T>> {
        let mut fresh = stream.alloc_zeros::<T>(new_len).map_err(driver("alloc"))?;
        if len > 0 {
            stream.memcpy_dtod(&old.slice(0..len), &mut fresh.slice_mut(0..len)).map_err(driver("copy"))?;
        }
        Ok(fresh)
    }
}

fn task_code(task: Task) -> i32 {
    match task {
        Task::Regression => 0,
        Task::Binary => 1,
    }
}

impl LinearBank for CudaBank {
    fn spec(&self) -> &LinearSpec {
        &self.spec
    }

    fn device(&self) -> &'static str {
        "cuda"
    }

    fn n_keys(&self) -> usize {
        self.n_keys
    }

    fn ensure_keys(&mut self, n_keys: usize) -> Result<()> {
        if n_keys <= self.n_keys {
            return Ok(());
        }
        if n_keys > self.capacity {
            let f = self.spec.n_features;
            let cap = n_keys.max(self.capacity * 2).max(64);
            let (old, s) = (self.n_keys, &self.stream);
            for buf in &mut self.features {
                *buf = Self::regrow(s, buf, old * f, cap * f)?;
            }
            for buf in &mut self.keyed {
                *buf = Self::regrow(s, buf, old, cap)?;
            }
            self.steps = Self::regrow(s, &self.steps, old, cap)?;
            self.capacity = cap;
        }
        // Keys beyond n_keys were zeroed when allocated and never touched.
        self.n_keys = n_keys;
        Ok(())
    }

    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()> {
        let n = check_batch("cuda predict", &self.spec, self.n_keys, keys, rows, out)?;
        if n == 0 {
            return Ok(());
        }
        let s = &self.stream;
        let keys_d = s.clone_htod(keys).map_err(driver("upload"))?;
        let rows_d = s.clone_htod(rows).map_err(driver("upload"))?;
        let mut out_d = s.alloc_zeros::<f32>(n).map_err(driver("alloc"))?;
        let (n_rows, n_features) = (n as i32, self.spec.n_features as i32);
        let (task, scale) = (task_code(self.spec.task), i32::from(self.spec.scale));
        let mut launch = s.launch_builder(&self.predict_fn);
        launch
            .arg(&n_rows)
            .arg(&n_features)
            .arg(&task)
            .arg(&scale)
            .arg(&keys_d)
            .arg(&rows_d)
            .arg(&self.features[W])
            .arg(&self.keyed[BIAS])
            .arg(&self.features[MEAN])
            .arg(&self.features[VAR])
            .arg(&mut out_d);
        // SAFETY: the arguments match weir_linear_predict's parameters in
        // order and type; every buffer holds what check_batch verified.
        unsafe { launch.launch(Self::launch_config(n)) }.map_err(driver("launch"))?;
        s.memcpy_dtoh(&out_d, out).map_err(driver("download"))?;
        s.synchronize().map_err(driver("synchronize"))
    }

    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()> {
        let n = check_batch("cuda learn", &self.spec, self.n_keys, keys, rows, out)?;
        check_len("cuda learn", "labels length (= rows)", n, labels.len())?;
        if n == 0 {
            return Ok(());
        }
        let groups = KeyGroups::new(keys);
        let s = &self.stream;
        let up_u32 = |v: &[u32]| s.clone_htod(v).map_err(driver("upload"));
        let (active_d, offsets_d, order_d) = (up_u32(&groups.active_keys)?, up_u32(&groups.offsets)?, up_u32(&groups.order)?);
        let rows_d = s.clone_htod(rows).map_err(driver("upload"))?;
        let labels_d = s.clone_htod(labels).map_err(driver("upload"))?;
        let mut out_d = s.alloc_zeros::<f32>(n).map_err(driver("alloc"))?;
        let n_active = groups.active_keys.len() as i32;
        let n_features = self.spec.n_features as i32;
        let (task, scale) = (task_code(self.spec.task), i32::from(self.spec.scale));
        let (optimizer, lr, beta1, beta2, eps) = match self.spec.optimizer {
            Optimizer::Sgd { lr } => (0i32, lr, 0.0f32, 0.0f32, 0.0f32),
            Optimizer::Adam { lr, beta1, beta2, eps } => (1, lr, beta1, beta2, eps),
        };
        let (l2, intercept_lr) = (self.spec.l2, self.spec.intercept_lr);
        let [w, m, v, mean, var] = &mut self.features;
        let [bias, count] = &mut self.keyed;
        let mut launch = s.launch_builder(&self.learn_fn);
        launch
            .arg(&n_active)
            .arg(&n_features)
            .arg(&task)
            .arg(&optimizer)
            .arg(&scale)
            .arg(&lr)
            .arg(&beta1)
            .arg(&beta2)
            .arg(&eps)
            .arg(&l2)
            .arg(&intercept_lr)
            .arg(&active_d)
            .arg(&offsets_d)
            .arg(&order_d)
            .arg(&rows_d)
            .arg(&labels_d)
            .arg(w)
            .arg(bias)
            .arg(m)
            .arg(v)
            .arg(&mut self.steps)
            .arg(count)
            .arg(mean)
            .arg(var)
            .arg(&mut out_d);
        // SAFETY: the arguments match weir_linear_learn's parameters in
        // order and type; the CSR arrays index only rows of this batch and
        // keys below n_keys (checked above).
        unsafe { launch.launch(Self::launch_config(groups.active_keys.len())) }.map_err(driver("launch"))?;
        s.memcpy_dtoh(&out_d, out).map_err(driver("download"))?;
        s.synchronize().map_err(driver("synchronize"))
    }

    fn state(&mut self) -> Result<LinearState> {
        let s = &self.stream;
        let f = self.spec.n_features;
        let (nf, nk) = (self.n_keys * f, self.n_keys);
        let down = |b: &CudaSlice<f32>, len: usize| s.clone_dtoh(&b.slice(0..len)).map_err(driver("download"));
        let state = LinearState {
            weights: down(&self.features[W], nf)?,
            adam_m: down(&self.features[M], nf)?,
            adam_v: down(&self.features[V], nf)?,
            mean: down(&self.features[MEAN], nf)?,
            var: down(&self.features[VAR], nf)?,
            bias: down(&self.keyed[BIAS], nk)?,
            count: down(&self.keyed[COUNT], nk)?,
            steps: s.clone_dtoh(&self.steps.slice(0..nk)).map_err(driver("download"))?,
        };
        s.synchronize().map_err(driver("synchronize"))?;
        Ok(state)
    }
}
