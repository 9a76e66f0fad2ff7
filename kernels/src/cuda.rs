//! The CUDA backend of [`ModelBank`] (the kernels of `cuda/model.cu`) and
//! of [`Histogrammer`](crate::histograms::Histogrammer) (`cuda/stats.cu`),
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
//! keys, rows and labels into buffers kept for the next batch, runs one
//! kernel and downloads the predictions.
//! Learning groups the batch's rows by key on the host ([`KeyGroups`], a
//! counting sort) and
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

use crate::error::{KernelError, Result};
use crate::model::{BankState, KeyGroups, ModelBank, check_batch};
use crate::spec::{Layout, ModelSpec, Optimizer};

mod histograms;

pub use histograms::CudaHistogrammer;

/// The CUDA C sources of the kernels: file name, text, and the kernels it
/// defines (compiled at run time, and compiled to PTX by the tests wherever
/// NVRTC can be loaded).
pub const SOURCES: &[(&str, &str, &[&str])] = &[
    (
        "model.cu",
        concat!(
            include_str!("../cuda/model.cu"),
            include_str!("../cuda/model_warp.cu"),
            include_str!("../cuda/model_mlp_warp.cu")
        ),
        &["weir_predict", "weir_learn", "weir_learn_linear_warp", "weir_learn_mlp_warp"],
    ),
    ("stats.cu", include_str!("../cuda/stats.cu"), &["weir_histograms"]),
];

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

/// A stream on GPU `ordinal` and the kernels of `source`, compiled for
/// that card; `N` is the number of kernels the source defines.
fn load<const N: usize>(
    ordinal: usize,
    (name, text, kernels): (&str, &str, &[&str]),
) -> Result<(Arc<CudaStream>, [CudaFunction; N])> {
    if let Some(reason) = cuda_unavailable() {
        return Err(KernelError::NoCuda { reason });
    }
    let ctx = match catch_unwind(|| CudaContext::new(ordinal)) {
        Ok(ctx) => ctx.map_err(driver("context"))?,
        Err(_) => return Err(KernelError::NoCuda { reason: "creating a CUDA context panicked".into() }),
    };
    let (major, minor) = ctx.compute_capability().map_err(driver("device query"))?;
    let ptx = compile_ptx(name, text, Some(format!("compute_{major}{minor}")))?;
    let module = ctx.load_module(ptx).map_err(driver("module load"))?;
    let functions: Vec<CudaFunction> =
        kernels.iter().map(|k| module.load_function(k).map_err(driver("function"))).collect::<Result<_>>()?;
    let functions = functions
        .try_into()
        .map_err(|_| KernelError::Cuda { what: "function", detail: format!("{name} defines {} kernels, not {N}", kernels.len()) })?;
    Ok((ctx.default_stream(), functions))
}

/// One thread for each of `n` items.
fn launch_config(n: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: ((n as u32).div_ceil(BLOCK), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// A bank of models in GPU memory.
#[derive(Debug)]
pub struct CudaBank {
    spec: ModelSpec,
    layout: Layout,
    stream: Arc<CudaStream>,
    predict_fn: CudaFunction,
    learn_fn: CudaFunction,
    /// `weir_learn_linear_warp`: a warp per key, for the models
    /// [`ModelSpec::warp_learns`] accepts.
    learn_warp_fn: CudaFunction,
    /// `weir_learn_mlp_warp`: a warp per key, for the networks
    /// [`ModelSpec::warp_mlp_learns`] accepts.
    learn_mlp_warp_fn: CudaFunction,
    n_keys: usize,
    capacity: usize,
    /// The `f32` arrays, indexed by the constants below; each holds
    /// `capacity × per_key(i)` values (at least one, so none is empty).
    arrays: [CudaSlice<f32>; 9],
    steps: CudaSlice<u32>,
    pending: CudaSlice<u32>,
    staging: Staging,
}

/// The device buffers a batch is copied into, kept from batch to batch
/// (grown by doubling, never shrunk), so that a batch allocates nothing.
#[derive(Debug)]
struct Staging {
    /// Keys (scoring), or the batch's active keys (learning).
    keys: CudaSlice<u32>,
    offsets: CudaSlice<u32>,
    order: CudaSlice<u32>,
    rows: CudaSlice<f32>,
    labels: CudaSlice<f32>,
    out: CudaSlice<f32>,
}

impl Staging {
    fn new(stream: &Arc<CudaStream>) -> Result<Self> {
        let u = || stream.alloc_zeros::<u32>(1).map_err(driver("alloc"));
        let f = || stream.alloc_zeros::<f32>(1).map_err(driver("alloc"));
        Ok(Self { keys: u()?, offsets: u()?, order: u()?, rows: f()?, labels: f()?, out: f()? })
    }
}

/// Makes `buf` hold at least `n` values.
fn reserve<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    buf: &mut CudaSlice<T>,
    n: usize,
) -> Result<()> {
    if buf.len() < n {
        *buf = stream.alloc_zeros(n.max(2 * buf.len())).map_err(driver("alloc"))?;
    }
    Ok(())
}

/// Copies `src` to the start of `buf`, growing it first if it is too short.
fn stage<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    buf: &mut CudaSlice<T>,
    src: &[T],
) -> Result<()> {
    reserve(stream, buf, src.len())?;
    stream.memcpy_htod(src, &mut buf.slice_mut(0..src.len())).map_err(driver("upload"))
}

const W: usize = 0;
const M: usize = 1;
const V: usize = 2;
const B: usize = 3;
const MEAN: usize = 4;
const VAR: usize = 5;
const COUNT: usize = 6;
const GW: usize = 7;
const GB: usize = 8;

impl CudaBank {
    /// A bank of `n_keys` fresh models on GPU `ordinal`, or an error saying
    /// why CUDA cannot be used.
    pub fn new(spec: ModelSpec, n_keys: usize, ordinal: usize) -> Result<Self> {
        Self::from_state(spec, BankState::new(&spec, n_keys), ordinal)
    }

    /// A bank on GPU `ordinal` that starts from saved numbers.
    pub fn from_state(spec: ModelSpec, state: BankState, ordinal: usize) -> Result<Self> {
        state.validate(&spec)?;
        let (stream, [predict_fn, learn_fn, learn_warp_fn, learn_mlp_warp_fn]) = load(ordinal, SOURCES[0])?;
        let (n_keys, capacity, arrays, steps, pending) = Self::upload(&stream, &spec, state)?;
        let layout = spec.layout();
        let staging = Staging::new(&stream)?;
        Ok(Self {
            spec,
            layout,
            stream,
            predict_fn,
            learn_fn,
            learn_warp_fn,
            learn_mlp_warp_fn,
            n_keys,
            capacity,
            arrays,
            steps,
            pending,
            staging,
        })
    }

    /// Device copies of a (validated) `state`: its key count, the capacity
    /// allocated, the `f32` arrays, the steps and the pending counts.
    #[allow(clippy::type_complexity)]
    fn upload(stream: &Arc<CudaStream>, spec: &ModelSpec, state: BankState) -> Result<(usize, usize, [CudaSlice<f32>; 9], CudaSlice<u32>, CudaSlice<u32>)> {
        // Room for at least 64 keys, so that a growing bank does not
        // reallocate for each new key; the keys beyond n_keys hold fresh
        // models from the start.
        let n_keys = state.n_keys();
        let capacity = n_keys.max(64);
        let mut state = state;
        state.grow(spec, capacity);
        let up = |v: &[f32]| if v.is_empty() { stream.alloc_zeros(1) } else { stream.clone_htod(v) }.map_err(driver("upload"));
        let arrays = [
            up(&state.weights)?,
            up(&state.adam_m)?,
            up(&state.adam_v)?,
            up(&state.bias)?,
            up(&state.mean)?,
            up(&state.var)?,
            up(&state.count)?,
            up(&state.grad_weights)?,
            up(&state.grad_bias)?,
        ];
        let up_u32 = |v: &[u32]| if v.is_empty() { stream.alloc_zeros(1) } else { stream.clone_htod(v) }.map_err(driver("upload"));
        let (steps, pending) = (up_u32(&state.steps)?, up_u32(&state.pending)?);
        stream.synchronize().map_err(driver("synchronize"))?;
        Ok((n_keys, capacity, arrays, steps, pending))
    }

    /// Values per key in `arrays[i]`.
    fn per_key(&self, i: usize) -> usize {
        let batched = |n: usize| if self.spec.batch_size > 1 { n } else { 0 };
        match i {
            W => self.layout.n_weights,
            M | V => self.layout.n_moments(),
            B => self.layout.n_biases,
            MEAN | VAR => self.spec.n_features,
            COUNT => 1,
            GW => batched(self.layout.n_weights),
            _ => batched(self.layout.n_biases),
        }
    }

    
    /// A buffer of `fresh` (at least one value) that starts with `old`'s first `len` values.
    fn regrow<T: cudarc::driver::DeviceRepr>(
        stream: &Arc<CudaStream>,
        old: &CudaSlice<T>,
        len: usize,
        fresh: &[T],
    ) -> Result<CudaSlice<T>> {
        let mut grown = stream.clone_htod(fresh).map_err(driver("upload"))?;
        if len > 0 {
            stream.memcpy_dtod(&old.slice(0..len), &mut grown.slice_mut(0..len)).map_err(driver("copy"))?;
        }
        Ok(grown)
    }

    fn task_code(&self) -> (i32, i32, i32, i32, i32, i32, i32, i32) {
        let s = &self.spec;
        let (task, activation) = (s.task.code(), s.activation.code());
        (
            s.n_features as i32,
            s.hidden[0] as i32,
            s.hidden[1] as i32,
            s.n_outputs() as i32,
            task,
            activation,
            i32::from(s.scale),
            s.batch_size as i32,
        )
    }
}

impl ModelBank for CudaBank {
    fn spec(&self) -> &ModelSpec {
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
            let cap = n_keys.max(self.capacity * 2).max(64);
            // Fresh models for every new slot, on the host, then the old
            // keys copied over them on the device.
            let fresh = BankState::new(&self.spec, cap);
            let fresh_arrays: [&[f32]; 9] = [
                &fresh.weights,
                &fresh.adam_m,
                &fresh.adam_v,
                &fresh.bias,
                &fresh.mean,
                &fresh.var,
                &fresh.count,
                &fresh.grad_weights,
                &fresh.grad_bias,
            ];
            let old = self.n_keys;
            for (i, values) in fresh_arrays.into_iter().enumerate() {
                let len = old * self.per_key(i);
                let values = if values.is_empty() { &[0.0][..] } else { values };
                self.arrays[i] = Self::regrow(&self.stream, &self.arrays[i], len, values)?;
            }
            self.steps = Self::regrow(&self.stream, &self.steps, old, &fresh.steps)?;
            let pending = if fresh.pending.is_empty() { &[0][..] } else { &fresh.pending[..] };
            let batched_len = if self.spec.batch_size > 1 { old } else { 0 };
            self.pending = Self::regrow(&self.stream, &self.pending, batched_len, pending)?;
            self.capacity = cap;
        }
        self.n_keys = n_keys;
        Ok(())
    }

    fn predict(&mut self, keys: &[u32], rows: &[f32], out: &mut [f32]) -> Result<()> {
        let n = check_batch("cuda predict", &self.spec, self.n_keys, keys, rows, None, out)?;
        if n == 0 {
            return Ok(());
        }
        let (f, h1, h2, o, task, activation, scale, _) = self.task_code();
        let s = &self.stream;
        let st = &mut self.staging;
        stage(s, &mut st.keys, keys)?;
        stage(s, &mut st.rows, rows)?;
        reserve(s, &mut st.out, out.len())?;
        let n_rows = n as i32;
        let mut launch = s.launch_builder(&self.predict_fn);
        launch
            .arg(&n_rows)
            .arg(&f)
            .arg(&h1)
            .arg(&h2)
            .arg(&o)
            .arg(&task)
            .arg(&activation)
            .arg(&scale)
            .arg(&st.keys)
            .arg(&st.rows)
            .arg(&self.arrays[W])
            .arg(&self.arrays[B])
            .arg(&self.arrays[MEAN])
            .arg(&self.arrays[VAR])
            .arg(&mut st.out);
        // SAFETY: the arguments match weir_predict's parameters in order
        // and type; every buffer holds what check_batch verified (the
        // staging buffers may be longer: the kernel reads n rows).
        unsafe { launch.launch(launch_config(n)) }.map_err(driver("launch"))?;
        s.memcpy_dtoh(&st.out.slice(0..out.len()), out).map_err(driver("download"))?;
        s.synchronize().map_err(driver("synchronize"))
    }

    fn learn(&mut self, keys: &[u32], rows: &[f32], labels: &[f32], out: &mut [f32]) -> Result<()> {
        let n = check_batch("cuda learn", &self.spec, self.n_keys, keys, rows, Some(labels), out)?;
        if n == 0 {
            return Ok(());
        }
        let groups = KeyGroups::new(keys);
        let (f, h1, h2, o, task, activation, scale, batch_size) = self.task_code();
        let s = &self.stream;
        let st = &mut self.staging;
        stage(s, &mut st.keys, &groups.active_keys)?;
        stage(s, &mut st.offsets, &groups.offsets)?;
        stage(s, &mut st.order, &groups.order)?;
        stage(s, &mut st.rows, rows)?;
        stage(s, &mut st.labels, labels)?;
        reserve(s, &mut st.out, out.len())?;
        let n_active = groups.active_keys.len() as i32;
        let (optimizer, lr, beta1, beta2, eps) = match self.spec.optimizer {
            Optimizer::Sgd { lr } => (0i32, lr, 0.0f32, 0.0f32, 0.0f32),
            Optimizer::Adam { lr, beta1, beta2, eps } => (1, lr, beta1, beta2, eps),
        };
        let (l2, intercept_lr) = (self.spec.l2, self.spec.intercept_lr);
        // The warp kernels take weir_learn's parameters (ignoring those they
        // do not need) and run 32 threads per key.
        let (function, threads) = if self.spec.warp_learns() {
            (&self.learn_warp_fn, 32)
        } else if self.spec.warp_mlp_learns() {
            (&self.learn_mlp_warp_fn, 32)
        } else {
            (&self.learn_fn, 1)
        };
        let [w, m, v, b, mean, var, count, gw, gb] = &mut self.arrays;
        let mut launch = s.launch_builder(function);
        launch
            .arg(&n_active)
            .arg(&f)
            .arg(&h1)
            .arg(&h2)
            .arg(&o)
            .arg(&task)
            .arg(&activation)
            .arg(&scale)
            .arg(&optimizer)
            .arg(&lr)
            .arg(&beta1)
            .arg(&beta2)
            .arg(&eps)
            .arg(&l2)
            .arg(&intercept_lr)
            .arg(&batch_size)
            .arg(&st.keys)
            .arg(&st.offsets)
            .arg(&st.order)
            .arg(&st.rows)
            .arg(&st.labels)
            .arg(w)
            .arg(b)
            .arg(m)
            .arg(v)
            .arg(&mut self.steps)
            .arg(count)
            .arg(mean)
            .arg(var)
            .arg(gw)
            .arg(gb)
            .arg(&mut self.pending)
            .arg(&mut st.out);
        // SAFETY: the arguments match the parameters of weir_learn and of
        // the warp kernels (the same list) in order and type; the CSR
        // arrays index only rows of this batch and keys below n_keys
        // (checked above).
        unsafe { launch.launch(launch_config(groups.active_keys.len() * threads)) }.map_err(driver("launch"))?;
        s.memcpy_dtoh(&st.out.slice(0..out.len()), out).map_err(driver("download"))?;
        s.synchronize().map_err(driver("synchronize"))
    }

    fn replace_key(&mut self, k: u32, model: &BankState) -> Result<()> {
        model.validate(&self.spec)?;
        crate::error::check_len("cuda replace_key", "keys in the model (= 1)", 1, model.n_keys())?;
        let k = k as usize;
        if k >= self.n_keys {
            return Err(KernelError::Key { kernel: "cuda replace_key", key: k, n_keys: self.n_keys });
        }
        let sources: [&[f32]; 9] = [
            &model.weights,
            &model.adam_m,
            &model.adam_v,
            &model.bias,
            &model.mean,
            &model.var,
            &model.count,
            &model.grad_weights,
            &model.grad_bias,
        ];
        let s = Arc::clone(&self.stream);
        for (i, src) in sources.into_iter().enumerate() {
            let n = self.per_key(i);
            if n > 0 {
                s.memcpy_htod(src, &mut self.arrays[i].slice_mut(k * n..(k + 1) * n)).map_err(driver("upload"))?;
            }
        }
        s.memcpy_htod(&model.steps, &mut self.steps.slice_mut(k..k + 1)).map_err(driver("upload"))?;
        if self.spec.batch_size > 1 {
            s.memcpy_htod(&model.pending, &mut self.pending.slice_mut(k..k + 1)).map_err(driver("upload"))?;
        }
        s.synchronize().map_err(driver("synchronize"))
    }

    fn load_state(&mut self, state: BankState) -> Result<()> {
        state.validate(&self.spec)?;
        let (n_keys, capacity, arrays, steps, pending) = Self::upload(&self.stream, &self.spec, state)?;
        (self.n_keys, self.capacity, self.arrays, self.steps, self.pending) = (n_keys, capacity, arrays, steps, pending);
        Ok(())
    }

    fn state(&mut self) -> Result<BankState> {
        let s = &self.stream;
        let nk = self.n_keys;
        let down = |i: usize| {
            let len = nk * self.per_key(i);
            if len == 0 { Ok(Vec::new()) } else { s.clone_dtoh(&self.arrays[i].slice(0..len)).map_err(driver("download")) }
        };
        let pending_len = if self.spec.batch_size > 1 { nk } else { 0 };
        let state = BankState {
            weights: down(W)?,
            adam_m: down(M)?,
            adam_v: down(V)?,
            bias: down(B)?,
            mean: down(MEAN)?,
            var: down(VAR)?,
            count: down(COUNT)?,
            grad_weights: down(GW)?,
            grad_bias: down(GB)?,
            steps: s.clone_dtoh(&self.steps.slice(0..nk)).map_err(driver("download"))?,
            pending: if pending_len == 0 {
                Vec::new()
            } else {
                s.clone_dtoh(&self.pending.slice(0..pending_len)).map_err(driver("download"))?
            },
        };
        s.synchronize().map_err(driver("synchronize"))?;
        Ok(state)
    }
}
