//! Weir's engine: the SQL front end, the planner and the timely runtime.
//!
//! A pipeline goes through three steps, each its own module:
//!
//! 1. [`sql`] parses the file: Flink-style `CREATE TABLE` with computed
//!    columns and watermarks, `CREATE VIEW`, `INSERT INTO`, keeping every
//!    position for error messages ([`Diagnostic`]).
//! 2. [`plan_pipeline`] configures connectors, has DataFusion plan, check and
//!    optimize every query, and lowers the result to a streaming [`Pipeline`]
//!    of batch operators (what `weir check` prints).
//! 3. [`run`] builds that pipeline as a timely dataflow on N workers and runs
//!    it until its inputs end or it is stopped, flushing every sink.
//!
//! ```
//! let pipeline = weir_engine::plan_pipeline(
//!     "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');\n\
//!      CREATE TABLE slow WITH ('connector' = 'blackhole');\n\
//!      INSERT INTO slow SELECT sensor_id, ts, speed FROM traffic WHERE speed < 40;",
//! )?;
//! let report = weir_engine::run(pipeline, weir_engine::RunOptions::default().workers(1))?;
//! assert_eq!(report.rows_read["traffic"], 1000);
//! # Ok::<(), weir_engine::EngineError>(())
//! ```
#![deny(unused_must_use)]
#![warn(missing_debug_implementations)]

pub mod checkpoint;
mod diagnostic;
mod durable;
mod error;
pub mod export;
mod functions;
pub mod metrics;
pub mod plan;
mod planner;
mod runtime;
pub mod serve;
pub mod sql;

pub use diagnostic::Diagnostic;
pub use error::{EngineError, Result};
pub use functions::{udfs, ToTimestampLtz};
pub use plan::Pipeline;
pub use planner::{dead_letter_schema, plan_pipeline, plan_pipeline_with, session, SETTINGS};
pub use runtime::{run, CheckpointReport, ModelReport, RunOptions, RunReport};

/// Locks `m`, taking the data of a poisoned lock: a panicked worker is
/// reported as an error of its own, and counters stay readable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
