//! The engine crate's error type.

use weir_connectors::ConnectorError;
use weir_operators::OperatorError;

use crate::Diagnostic;

/// Why a pipeline could not be planned or did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The pipeline's SQL is wrong; nothing ran.
    #[error(transparent)]
    Pipeline(#[from] Diagnostic),
    /// A source or sink failed while running.
    #[error("table '{table}': {source}")]
    Connector {
        /// The table whose connector failed.
        table: String,
        /// What it reported.
        source: ConnectorError,
    },
    /// An operator failed to evaluate.
    #[error("INSERT INTO {sink}: {source}")]
    Operator {
        /// The sink whose query failed.
        sink: String,
        /// What the operator reported.
        source: OperatorError,
    },
    /// A file, socket or thread of the engine's own failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What the system reported.
        source: std::io::Error,
    },
    /// The dataflow runtime itself failed (a worker could not start or died).
    #[error("runtime: {0}")]
    Runtime(String),
    /// A checkpoint could not be written, read or restored (see
    /// `crate::checkpoint`).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Result alias for this crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
