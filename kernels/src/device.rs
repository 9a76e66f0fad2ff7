//! Choosing where a bank runs: `'device' = 'auto' | 'cpu' | 'cuda'`.
//!
//! A missing GPU is a normal condition; only a demanded `cuda` makes it an
//! error. `auto` picks by measurement (docs/benchmarks.md, an H200 against
//! one core of its host):
//!
//! - a per-key bank of linear models learning online (at most 64 features
//!   and 4 outputs) runs on CUDA when a GPU is usable: a warp per key
//!   learns 1.6 to 3.8 times faster than the CPU at 10,000 to 100,000
//!   keys, and scoring is 7 to 16 times faster;
//! - every other bank stays on the CPU: a single global model learns row
//!   after row (0.66M rows/s on the card against 5M on a core), and
//!   networks and mini-batches use the one-thread-per-key kernel, which
//!   learns 1.1 to 3 times slower than a core. Networks of one hidden
//!   layer of up to 32 units now learn with a warp per key
//!   (`cuda/model_mlp_warp.cu`), tested under the host emulation; `auto`
//!   moves them to the GPU once a card has measured that kernel against a
//!   core (docs/benchmarks.md says what is ready to measure).

use std::fmt;
use std::str::FromStr;

use crate::cpu::CpuBank;
use crate::error::{KernelError, Result};
use crate::model::{BankState, ModelBank};
use crate::spec::ModelSpec;

/// Where the user asked a model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// The faster device for the work, as measured: a usable GPU for
    /// per-key banks of linear models learning online and for binning many
    /// windows ([`open_histogrammer`](crate::histograms::open_histogrammer)),
    /// the CPU otherwise (see the module docs).
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// CUDA, or an error saying why not.
    Cuda,
}

impl FromStr for DeviceRequest {
    type Err = String;

    /// ```
    /// use weir_kernels::DeviceRequest;
    /// assert_eq!("CUDA".parse::<DeviceRequest>(), Ok(DeviceRequest::Cuda));
    /// assert!("tpu".parse::<DeviceRequest>().is_err());
    /// ```
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(format!("unknown device '{other}': expected 'auto', 'cpu' or 'cuda'")),
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// Why CUDA cannot be used here, or `None` when it can.
pub fn cuda_unavailable() -> Option<String> {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::cuda_unavailable()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Some("Weir was built without the 'cuda' feature".into())
    }
}

/// A bank opened on a device, with a sentence saying which and why.
pub struct OpenedBank {
    /// The bank.
    pub bank: Box<dyn ModelBank>,
    /// For example "cpu (no CUDA device is usable: ...)".
    pub choice: String,
}

impl fmt::Debug for OpenedBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedBank").field("device", &self.bank.device()).field("choice", &self.choice).finish()
    }
}

/// Opens a bank of `spec` models as `request` asks, starting from `state`
/// (a snapshot) or from fresh models. `per_key` says whether the bank is
/// partitioned by key (it only changes the reason `auto` gives).
///
/// ```
/// use weir_kernels::{DeviceRequest, ModelSpec, Task, open_bank};
/// # fn main() -> weir_kernels::Result<()> {
/// let spec = ModelSpec::river_defaults(Task::Binary, 4);
/// let opened = open_bank(spec, None, DeviceRequest::Cpu, true)?;
/// assert_eq!(opened.bank.device(), "cpu");
/// // Auto never fails for want of a GPU.
/// assert!(open_bank(spec, None, DeviceRequest::Auto, true).is_ok());
/// # Ok(())
/// # }
/// ```
pub fn open_bank(
    spec: ModelSpec,
    state: Option<BankState>,
    request: DeviceRequest,
    per_key: bool,
) -> Result<OpenedBank> {
    let state = match state {
        Some(state) => state,
        None => BankState::new(&spec, 0),
    };
    let cpu = |state: BankState, why: String| -> Result<OpenedBank> {
        Ok(OpenedBank { bank: Box::new(CpuBank::from_state(spec, state)?), choice: format!("cpu ({why})") })
    };
    match request {
        DeviceRequest::Cpu => cpu(state, "device = 'cpu'".into()),
        DeviceRequest::Auto if !per_key => cpu(state, "a single global model learns row after row".into()),
        DeviceRequest::Auto if !spec.warp_learns() => {
            cpu(state, "'auto' keeps networks and mini-batches on the CPU, which learns them faster; 'device' = 'cuda' asks for the GPU".into())
        }
        DeviceRequest::Auto => match cuda_unavailable() {
            Some(reason) => cpu(state, reason),
            None => match open_cuda(spec, state.clone()) {
                Ok(opened) => Ok(opened),
                Err(e) => cpu(state, format!("CUDA failed: {e}")),
            },
        },
        DeviceRequest::Cuda => match cuda_unavailable() {
            Some(reason) => Err(KernelError::NoCuda { reason }),
            None => open_cuda(spec, state),
        },
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(spec: ModelSpec, state: BankState) -> Result<OpenedBank> {
    let bank = crate::cuda::CudaBank::from_state(spec, state, 0)?;
    Ok(OpenedBank { bank: Box::new(bank), choice: "cuda (GPU 0)".into() })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_: ModelSpec, _: BankState) -> Result<OpenedBank> {
    Err(KernelError::NoCuda { reason: "Weir was built without the 'cuda' feature".into() })
}
