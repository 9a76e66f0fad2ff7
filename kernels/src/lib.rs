//! Numeric kernels for Weir.
//!
//! This crate is the bottom of the stack: plain slices of dense `f32` in,
//! plain slices out. It knows nothing of Arrow, SQL or Kafka, so that the
//! same interface can later be served by a CUDA backend without touching the
//! operators above it. Today it is the CPU backend.
//!
//! A short tour:
//!
//! - [`error`]: [`KernelError`], returned whenever slice lengths disagree.
//!   Kernels never panic on bad shapes.
//! - [`linear`]: linear models over row-major feature blocks —
//!   [`dot`], [`linear_scores`], [`sigmoid_in_place`] and
//!   [`logistic_sgd_step`], one prequential mini-batch step of logistic
//!   regression.
//!
//! Kernels write into caller-provided buffers (`out`, `scratch`), so a
//! streaming operator can reuse its buffers and never allocate per row.
//!
//! ```
//! use weir_kernels::{linear_scores, sigmoid_in_place};
//! # fn main() -> weir_kernels::Result<()> {
//! let weights = [1.0, -1.0];
//! let rows = [2.0, 1.0, /* next row */ 0.0, 3.0];
//! let mut out = [0.0; 2];
//! linear_scores(&weights, 0.5, &rows, 2, &mut out)?;
//! sigmoid_in_place(&mut out);
//! assert!(out[0] > 0.5 && out[1] < 0.5);
//! # Ok(())
//! # }
//! ```
#![deny(unused_must_use)]
#![warn(missing_debug_implementations)]

pub mod error;
pub mod linear;

pub use error::{KernelError, Result};
pub use linear::{dot, linear_scores, logistic_sgd_step, sigmoid_in_place};
