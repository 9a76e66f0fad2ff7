//! Weir's operators over Arrow [`RecordBatch`]es.
//!
//! Every operator in a Weir pipeline sees whole batches, never single rows:
//! stateless work (projection, filter, scalar functions, `CAST`, `CASE`)
//! evaluates DataFusion physical expressions over a batch at a time, which is
//! where the engine's speed comes from. Operators know nothing of timely
//! dataflow, Kafka or SQL text: the engine wires them into a dataflow, and the
//! same operator runs unchanged on one worker thread or many.
//!
//! * [`Operator`] is the one small trait every operator implements; stateful
//!   operators also implement its snapshot/restore hooks, so that consistent
//!   checkpoints can be added without touching each operator.
//! * [`Batch`] is the unit that crosses worker boundaries: a record batch
//!   that serializes as Arrow IPC.
//!
//! ```
//! use std::sync::Arc;
//! use datafusion::arrow::array::{Float64Array, RecordBatch};
//! use datafusion::arrow::datatypes::{DataType, Field, Schema};
//! use datafusion::physical_expr::expressions::{col, lit, BinaryExpr};
//! use datafusion::logical_expr::Operator as BinOp;
//! use weir_operators::{Filter, Operator};
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("speed", DataType::Float64, false)]));
//! let batch = RecordBatch::try_new(
//!     schema.clone(),
//!     vec![Arc::new(Float64Array::from(vec![30.0, 80.0, 95.0]))],
//! )?;
//! let predicate = Arc::new(BinaryExpr::new(col("speed", &schema)?, BinOp::Gt, lit(50.0)));
//! let mut filter = Filter::new(predicate);
//! let mut out = Vec::new();
//! filter.process(batch, &mut out)?;
//! assert_eq!(out[0].num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unused_must_use)]
#![warn(missing_debug_implementations)]

mod batch;
mod codec;
mod error;
mod filter;
mod operator;
mod over;
mod partition;
mod pending;
mod project;
#[cfg(test)]
mod replay;
pub mod drift;
pub mod join;
pub mod model;
pub mod model_drift;
pub mod model_snapshot;
pub mod rows;
pub mod window;

pub use batch::Batch;
pub use error::{OperatorError, Result};
pub use filter::Filter;
pub use model::{EventTimePredict, ModelState, Predict, Prequential, SharedModel, Train};
pub use model_drift::{ModelDriftSpec, OnDrift};
pub use model_snapshot::{KeySnapshot, ModelSnapshot, SNAPSHOT_FORMAT};
pub use operator::{Operator, StateSnapshot};
pub use over::{OverAggregate, OverFrame, OverFunction};
pub use partition::Partitioner;
pub use project::Project;

/// The Arrow version Weir uses everywhere: DataFusion's re-export.
pub use datafusion::arrow;
