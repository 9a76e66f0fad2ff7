//! The operators crate's error type.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Errors raised while an operator processes a batch or restores its state.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Evaluating a physical expression failed (division by zero in a
    /// strict function, an invalid cast of a value, ...).
    #[error("operator `{operator}` failed to evaluate an expression: {source}")]
    Evaluate {
        /// The operator's name as shown in the plan.
        operator: String,
        /// What DataFusion reported.
        source: DataFusionError,
    },
    /// Building or reshaping a record batch failed.
    #[error("operator `{operator}`: {source}")]
    Arrow {
        /// The operator's name as shown in the plan.
        operator: String,
        /// What Arrow reported.
        source: ArrowError,
    },
    /// A predicate did not produce booleans.
    #[error("filter predicate produced {data_type}, expected BOOLEAN")]
    NotBoolean {
        /// The type the predicate produced.
        data_type: String,
    },
    /// An aggregate function failed to accumulate or evaluate.
    #[error("aggregate `{aggregate}` failed: {source}")]
    Aggregate {
        /// The aggregate as shown in the plan.
        aggregate: String,
        /// What DataFusion reported.
        source: DataFusionError,
    },
    /// A drift monitor's statistics refused their inputs.
    #[error("monitor `{monitor}`: {source}")]
    Monitor {
        /// The monitor's name.
        monitor: String,
        /// What the kernels reported.
        source: weir_kernels::KernelError,
    },
    /// A model's kernels refused a batch or their device failed.
    #[error("model `{model}`: {source}")]
    Model {
        /// The model's name.
        model: String,
        /// What the kernels reported.
        source: weir_kernels::KernelError,
    },
    /// A state snapshot could not be encoded or decoded.
    #[error("state of `{operator}`: {reason}")]
    Snapshot {
        /// The operator whose state was being restored.
        operator: String,
        /// Why it failed.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = OperatorError> = std::result::Result<T, E>;
