//! Numeric kernels for Weir.
//!
//! This crate is the bottom of the stack: plain slices of dense `f32` in,
//! plain slices out. It knows nothing of Arrow, SQL or Kafka, so that its
//! test binary stays small enough to carry to a GPU machine and the same
//! interface is served by a CPU and a CUDA backend.
//!
//! A short tour:
//!
//! - [`spec`]: what a model is — [`ModelSpec`] (task, hidden layers,
//!   optimizer, L2, scaler, mini-batch) and its [`Layout`]. Linear,
//!   logistic and softmax regression are networks without a hidden layer;
//!   a multilayer perceptron has one or two.
//! - [`model`]: banks of online models, one per key — [`BankState`] (the
//!   numbers, for snapshots) and [`ModelBank`], the interface both
//!   backends serve: batched scoring and test-then-train learning.
//! - [`cpu`]: [`CpuBank`], the CPU backend.
//! - `cuda` (feature `cuda`, on by default): `CudaBank`, the same kernels
//!   in CUDA C (`cuda/*.cu`), compiled at run time by NVRTC and loaded with
//!   cudarc's dynamic loading, so building needs no CUDA.
//! - [`device`]: [`open_bank`] picks the backend for
//!   `'device' = 'auto' | 'cpu' | 'cuda'`; a missing GPU is an answer, not
//!   an error, unless CUDA was demanded.
//! - [`linear`]: dense building blocks ([`dot`], [`linear_scores`],
//!   [`sigmoid_in_place`], [`logistic_sgd_step`]).
//! - [`stats`]: feature-drift statistics (PSI, Jensen-Shannon,
//!   Kolmogorov-Smirnov with its p-value, Wasserstein-1).
//! - [`histograms`]: many windows binned in one call, on the CPU or (with
//!   `cuda`) in one GPU launch; [`histograms::open_histogrammer`] picks.
//! - [`error`]: [`KernelError`]. Kernels never panic on bad shapes or keys.
//!
//! Kernels write into caller-provided buffers (`out`), so a streaming
//! operator can reuse its buffers and never allocate per row.
//!
//! ```
//! use weir_kernels::{CpuBank, ModelBank, ModelSpec, Task};
//! # fn main() -> weir_kernels::Result<()> {
//! // Two sensors, one model each, learning online from (x, label) rows.
//! let mut bank = CpuBank::new(ModelSpec::river_defaults(Task::Binary, 1), 2)?;
//! let mut before = [0.0; 4];
//! for _ in 0..500 {
//!     bank.learn(&[0, 0, 1, 1], &[1.0, -1.0, 1.0, -1.0], &[1.0, 0.0, 0.0, 1.0], &mut before)?;
//! }
//! let mut p = [0.0; 2];
//! bank.predict(&[0, 1], &[1.0, 1.0], &mut p)?;
//! assert!(p[0] > 0.5 && p[1] < 0.5); // opposite relationships, learned apart
//! # Ok(())
//! # }
//! ```
#![deny(unused_must_use)]
#![warn(missing_debug_implementations)]

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod error;
pub mod histograms;
pub mod linear;
pub mod model;
pub mod spec;
pub mod stats;

pub use cpu::CpuBank;
pub use device::{DeviceRequest, OpenedBank, cuda_unavailable, open_bank};
pub use error::{KernelError, Result};
pub use linear::{dot, linear_scores, logistic_sgd_step, sigmoid_in_place};
pub use model::{BankState, KeyGroups, ModelBank};
pub use spec::{Activation, Layout, MAX_UNITS, ModelSpec, Optimizer, Task};
