//! The connectors crate's error type.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;

/// Errors from configuring, opening, reading or writing a connector.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// `'connector' = '...'` names no known connector.
    #[error("unknown connector '{name}' (known {role} connectors: {known})")]
    UnknownConnector {
        /// The name given.
        name: String,
        /// `source` or `sink`.
        role: &'static str,
        /// The names that exist, comma separated.
        known: String,
    },
    /// An option the connector does not take.
    #[error("connector '{connector}' has no option '{key}'{hint}")]
    UnknownOption {
        /// The connector.
        connector: String,
        /// The option key given.
        key: String,
        /// A "did you mean" or the list of known options.
        hint: String,
    },
    /// A required option is missing.
    #[error("connector '{connector}' needs the option '{key}' ({doc})")]
    MissingOption {
        /// The connector.
        connector: String,
        /// The missing key.
        key: String,
        /// What the option means.
        doc: String,
    },
    /// An option whose value does not parse.
    #[error("option '{key}' of connector '{connector}' is '{value}', expected {expected}")]
    InvalidOption {
        /// The connector.
        connector: String,
        /// The option key.
        key: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The declared columns do not fit the connector.
    #[error("connector '{connector}': {reason}")]
    Schema {
        /// The connector.
        connector: String,
        /// What does not fit.
        reason: String,
    },
    /// Reading or writing a file or stream failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved (or `<stdout>`).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Kafka (the broker, the client, a delivery) failed.
    #[error("kafka: {context}: {reason}")]
    Kafka {
        /// What Weir was doing (topic, partition).
        context: String,
        /// What librdkafka reported.
        reason: String,
    },
    /// A malformed record, when the table asked for `'on_error' = 'fail'`.
    #[error("malformed record at {position}: {reason}")]
    MalformedRecord {
        /// Where the record is (`traffic.json:17`).
        position: String,
        /// Why it could not be decoded.
        reason: String,
    },
    /// Arrow failed to decode or encode a batch.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// What Arrow reported.
        source: ArrowError,
    },
    /// A reader or writer cannot continue from a checkpoint's position.
    #[error("resuming from a checkpoint: {0}")]
    Resume(String),
}

/// Result alias for this crate.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;
