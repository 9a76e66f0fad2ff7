//! The statements of a pipeline, with their positions.

use datafusion::sql::sqlparser::ast::{DataType, Expr, Ident, ObjectName, Query};
use datafusion::sql::sqlparser::tokenizer::Span;

/// One statement of a pipeline file.
#[derive(Debug, Clone)]
pub enum PipelineStatement {
    /// `CREATE TABLE`: a source or sink.
    CreateTable(Box<CreateTable>),
    /// `CREATE VIEW name AS SELECT ...`.
    CreateView(CreateView),
    /// `INSERT INTO sink SELECT ...`: starts a pipeline into a sink (or
    /// trains a model).
    Insert(Insert),
    /// `CREATE MODEL name INPUT (...) OUTPUT (...) WITH (...)`.
    CreateModel(CreateModel),
    /// `CREATE MONITOR`.
    CreateMonitor(CreateMonitor),
    /// `SET 'key' = 'value'`: a setting of the whole pipeline, as in
    /// Flink's SQL client.
    Set(SqlOption),
}

impl PipelineStatement {
    /// Where the whole statement is.
    pub fn span(&self) -> Span {
        match self {
            PipelineStatement::CreateTable(t) => t.span,
            PipelineStatement::CreateView(v) => v.span,
            PipelineStatement::Insert(i) => i.span,
            PipelineStatement::CreateModel(m) => m.span,
            PipelineStatement::CreateMonitor(m) => m.span,
            PipelineStatement::Set(o) => o.span,
        }
    }
}

/// A declared column: `name TYPE [NOT NULL]`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// The column's name.
    pub name: Ident,
    /// The SQL type as written.
    pub data_type: DataType,
    /// Where the type is.
    pub type_span: Span,
    /// `NOT NULL` was given.
    pub not_null: bool,
    /// `METADATA [FROM 'key'] [VIRTUAL]`: the connector's metadata named
    /// `key` (the column's name without FROM), and where the clause is.
    pub metadata: Option<(String, Span)>,
}

/// A computed column: `name AS expr`, evaluated on each record as it is read.
#[derive(Debug, Clone)]
pub struct ComputedColumn {
    /// The column's name.
    pub name: Ident,
    /// Its expression over the declared (physical) columns.
    pub expr: Expr,
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// The event-time column.
    pub column: Ident,
    /// The watermark expression (typically `column - INTERVAL '5' SECOND`).
    pub expr: Expr,
    /// Where the clause is.
    pub span: Span,
}

/// One `'key' = 'value'` of a `WITH (...)` clause.
#[derive(Debug, Clone)]
pub struct SqlOption {
    /// The key, without quotes.
    pub key: String,
    /// The value, without quotes.
    pub value: String,
    /// Where the pair is.
    pub span: Span,
}

/// `CREATE TABLE name (...) WITH (...)`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// The table's name.
    pub name: ObjectName,
    /// Declared columns, in order; `None` when there is no column list.
    pub columns: Option<Vec<ColumnDef>>,
    /// Computed columns, in order (they follow the declared ones).
    pub computed: Vec<ComputedColumn>,
    /// The watermark clause, if any.
    pub watermark: Option<Watermark>,
    /// `PRIMARY KEY (...) NOT ENFORCED`: with a watermark, the table is
    /// versioned (each row a new version of its key).
    pub primary_key: Vec<Ident>,
    /// The `WITH` options, in order.
    pub options: Vec<SqlOption>,
    /// Where the `WITH` clause is (or the statement, without one).
    pub options_span: Span,
    /// Where the statement is.
    pub span: Span,
}

/// `CREATE VIEW name AS query`.
#[derive(Debug, Clone)]
pub struct CreateView {
    /// The view's name.
    pub name: ObjectName,
    /// Its query.
    pub query: Box<Query>,
    /// Where the statement is.
    pub span: Span,
}

/// `INSERT INTO table query`.
#[derive(Debug, Clone)]
pub struct Insert {
    /// The sink table.
    pub table: ObjectName,
    /// The query whose rows go into it.
    pub query: Box<Query>,
    /// Where the statement is.
    pub span: Span,
}

/// `CREATE MODEL name INPUT (features) OUTPUT (label) WITH (options)`, as
/// in Flink SQL.
#[derive(Debug, Clone)]
pub struct CreateModel {
    /// The model's name.
    pub name: ObjectName,
    /// The feature columns, in order.
    pub inputs: Vec<ColumnDef>,
    /// The predicted column (one).
    pub outputs: Vec<ColumnDef>,
    /// Where the OUTPUT list is.
    pub outputs_span: Span,
    /// The `WITH` options, in order.
    pub options: Vec<SqlOption>,
    /// Where the `WITH` clause is.
    pub options_span: Span,
    /// Where the statement is.
    pub span: Span,
}

/// `CREATE MONITOR name ON table (columns) WITH (options)`: a drift
/// detector over columns of a table or view, read as a stream of alerts.
#[derive(Debug, Clone)]
pub struct CreateMonitor {
    /// The monitor's name (the alert stream's name).
    pub name: ObjectName,
    /// The table or view watched.
    pub input: ObjectName,
    /// The columns watched.
    pub columns: Vec<Ident>,
    /// Where the column list is.
    pub columns_span: Span,
    /// The `WITH` options, in order.
    pub options: Vec<SqlOption>,
    /// Where the `WITH` clause is.
    pub options_span: Span,
    /// Where the statement is.
    pub span: Span,
}
