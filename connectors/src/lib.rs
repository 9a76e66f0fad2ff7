//! Weir's sources and sinks.
//!
//! Connectors turn the outside world into Arrow record batches and back:
//! the built-in traffic `generator` (the embedded default that lets a pipeline
//! run with no setup), local `file`s of JSON lines or CSV, `stdout`, and
//! `blackhole`. They know nothing of timely dataflow or SQL: the engine
//! configures them from a table's `WITH (...)` options through
//! [`source_spec`] and [`sink_spec`] and polls them on each worker.
//!
//! Malformed input is an ordinary condition here: every source counts, reports
//! and skips a record it cannot decode ([`BadRecords`]), or stops with the
//! record's position when the table says `'on_error' = 'fail'`.
#![deny(unused_must_use)]
#![warn(missing_debug_implementations)]

pub mod avro;
pub mod decode;
mod json_syntax;
pub mod encode;
mod error;
pub mod file_source;
pub mod generator;
pub mod generator_source;
pub mod kafka_sink;
pub mod kafka_staged;
pub mod kafka_source;
pub mod nexmark;
pub mod options;
mod registry;
pub mod sinks;
pub mod upsert;
mod source;

pub use error::{ConnectorError, Result};
pub use kafka_source::{KafkaMetadata, KAFKA_METADATA, METADATA_FIELD_KEY};
pub use registry::{is_sink, is_source, metadata_names, sink_spec, source_spec, BLACKHOLE_OPTIONS, FILE_SINK_OPTIONS, FILE_SOURCE_OPTIONS, GENERATOR_OPTIONS, KAFKA_SINK_OPTIONS, KAFKA_SOURCE_OPTIONS, NEXMARK_OPTIONS, SINKS, SOURCES, STDOUT_OPTIONS, UPSERT_KAFKA_OPTIONS};
pub use source::{BadRecords, Cancel, OnError, Polled, Position, Publisher, Resume, Sink, SinkSpec, Source, SourceSpec, SourceStatus, Split, KEPT_EXAMPLES};
