//! The pipeline language: Flink SQL's DDL and DML, parsed with DataFusion's
//! SQL parser.
//!
//! A pipeline file is a list of `;`-separated statements. `CREATE TABLE` is
//! parsed here, statement by statement, on top of sqlparser's token stream,
//! because Flink's forms (computed columns `ts AS expr`, `WATERMARK FOR`) are
//! not in any sqlparser dialect; every expression and query inside is still
//! parsed by sqlparser itself, so DataFusion plans them unchanged. Every piece
//! of the AST keeps its [`Span`] so that later errors can point at it.

mod ast;
mod limits;
mod parser;
mod types;
mod windows;

pub use ast::{ColumnDef, ComputedColumn, CreateModel, CreateMonitor, CreateTable, CreateView, Insert, PipelineStatement, SqlOption, Watermark};
pub use limits::Limits;
pub(crate) use limits::{check_statements, check_text};
pub use parser::parse_pipeline;
pub(crate) use parser::object_name;
pub use windows::{extract_windows, group_by_span, WindowCall, WindowFunction, PLACEHOLDER_PREFIX};
pub use types::{sql_type_to_arrow, timestamp_type as types_timestamp, SUPPORTED as SUPPORTED_TYPES};

pub use datafusion::sql::sqlparser::tokenizer::{Location, Span};
