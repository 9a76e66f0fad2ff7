//! The streaming plan: what `weir check` prints and `weir run` executes.
//!
//! A plan is a set of sources (one per table read, shared by every query that
//! reads it) and one tree of operators per `INSERT INTO`. Nodes hold
//! DataFusion physical expressions ready to evaluate on batches, and the text
//! of the logical expressions they came from, for `EXPLAIN`-style output.

mod display;
mod empty;
mod filter;
mod stream_join;
mod temporal_join;
mod metrics;
mod monitor;
mod node;
mod over;
mod predict;
mod project;
mod scan;
mod train;
mod union;
mod window_aggregate;
mod window_assign;

pub(crate) use empty::Empty;
pub(crate) use filter::Filter;
pub(crate) use stream_join::{JoinForm, StreamJoin};
pub(crate) use temporal_join::TemporalJoin;
pub(crate) use metrics::Metrics;
pub(crate) use monitor::Monitor;
pub use node::Node;
pub(crate) use node::Exchange;
pub(crate) use over::Over;
pub(crate) use predict::Predict;
pub(crate) use project::Project;
pub(crate) use scan::Scan;
pub(crate) use train::{Train, TrainedInScoring};
pub(crate) use union::Union;
pub(crate) use window_aggregate::WindowAggregate;
pub(crate) use window_assign::WindowAssign;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_connectors::{SinkSpec, SourceSpec};

/// One table read by the pipeline.
#[derive(Debug)]
pub struct SourcePlan {
    /// The table's name.
    pub table: String,
    /// The configured connector.
    pub spec: Arc<dyn SourceSpec>,
    /// Computed columns, appended to the connector's columns.
    pub computed: Vec<ComputedPlan>,
    /// The watermark expression, if the table declares one.
    pub watermark: Option<WatermarkPlan>,
    /// `PRIMARY KEY (...) NOT ENFORCED`: with the watermark, a versioned
    /// table (for temporal joins).
    pub primary_key: Vec<String>,
    /// The connector's columns followed by the computed ones.
    pub schema: SchemaRef,
    /// With `'idle_timeout'`: a reader that has read nothing for this long
    /// stops holding the watermark back.
    pub idle_timeout: Option<std::time::Duration>,
    /// Whether the watermark is Weir's default (the table declares none and
    /// a window reads it).
    pub default_watermark: bool,
}

/// A computed column, ready to evaluate on the connector's batches.
#[derive(Debug)]
pub struct ComputedPlan {
    /// Column name.
    pub name: String,
    /// The expression over the connector's columns.
    pub expr: Arc<dyn PhysicalExpr>,
    /// The expression as written.
    pub text: String,
}

/// A table's watermark: `WATERMARK FOR column AS expr`.
#[derive(Debug)]
pub struct WatermarkPlan {
    /// The event-time column.
    pub column: String,
    /// The watermark expression over the table's full schema.
    pub expr: Arc<dyn PhysicalExpr>,
    /// The expression as written.
    pub text: String,
    /// Where the expression is `column - INTERVAL` of a fixed length (no
    /// months, and no days in a time zone other than UTC: those are
    /// calendar lengths): that length in the column's unit. Sources then subtract
    /// an integer instead of running DataFusion's interval arithmetic,
    /// which goes through the time zone for every row; the values are the
    /// same.
    pub delay: Option<i64>,
}

/// Which rows of a source a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRows {
    /// Every row (stateless queries: a row is never too late for them).
    All,
    /// Rows ahead of the table's watermark (what windows read); the rest
    /// are counted as late.
    OnTime,
    /// Only the rows behind the watermark (`LATE_ROWS(t)`).
    Late,
}

/// One `INSERT INTO`: an operator tree feeding a sink.
#[derive(Debug)]
pub struct SinkPlan {
    /// The sink table.
    pub table: String,
    /// The line of the `INSERT` statement.
    pub line: u64,
    /// The configured connector.
    pub spec: Arc<dyn SinkSpec>,
    /// The rows to write.
    pub input: Node,
    /// Casts to the sink's declared columns, when it declares them.
    pub cast: Option<(Vec<Arc<dyn PhysicalExpr>>, SchemaRef)>,
    /// The schema written.
    pub schema: SchemaRef,
}

impl SinkPlan {
    /// The model this `INSERT` trains, if it trains one.
    pub fn trains(&self) -> Option<&str> {
        self.input.trains()
    }
}

/// A whole pipeline, planned.
#[derive(Debug)]
pub struct Pipeline {
    /// Every table read.
    pub sources: Vec<SourcePlan>,
    /// Every `INSERT INTO`, in file order.
    pub sinks: Vec<SinkPlan>,
    /// Every model that some query trains or scores.
    pub models: Vec<ModelPlan>,
    /// The pipeline's `SET` settings.
    pub settings: Settings,
    /// What is valid but likely not meant (a join whose state grows
    /// without bound); `weir check` and `weir run` print them.
    pub warnings: Vec<crate::diagnostic::Diagnostic>,
}

/// What happens to a row whose expression fails at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowPolicy {
    /// Count it, log it, send it to the dead-letter table, go on.
    #[default]
    Skip,
    /// Stop the pipeline with the row's error.
    Fail,
}

/// Where failed rows go: `SET 'pipeline.dead-letter.table'`.
#[derive(Debug, Clone)]
pub struct DeadLetterPlan {
    /// The sink table.
    pub table: String,
    /// Its connector.
    pub spec: Arc<dyn SinkSpec>,
    /// The dead-letter columns.
    pub schema: SchemaRef,
}

/// A pipeline's `SET` settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `'pipeline.on-error'`.
    pub on_error: RowPolicy,
    /// `'pipeline.dead-letter.table'`.
    pub dead_letter: Option<DeadLetterPlan>,
    /// `'table.exec.state.ttl'`, in milliseconds: how long joins without a
    /// time bound hold a row, in event time.
    pub state_ttl_ms: Option<i64>,
    /// `'execution.checkpointing.interval'`, `'state.checkpoints.*'`.
    pub checkpoints: crate::checkpoint::CheckpointSettings,
}

/// A `CREATE MODEL`, planned.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// The model's name.
    pub name: String,
    /// `'algorithm'` as given (or its default).
    pub algorithm: String,
    /// The kernels' settings.
    pub spec: weir_kernels::ModelSpec,
    /// `'device'`.
    pub device: weir_kernels::DeviceRequest,
    /// `'partition_by'`: one model per value of this column.
    pub partition_by: Option<String>,
    /// The INPUT column names, in order.
    pub inputs: Vec<String>,
    /// The OUTPUT column name (the label when training).
    pub output: String,
    /// The OUTPUT column's type (of `prediction` for a classifier).
    pub output_type: datafusion::arrow::datatypes::DataType,
    /// A multiclass model's classes, in output order (for an integer
    /// OUTPUT, `"0"` to `"n - 1"`).
    pub classes: Option<Vec<String>>,
    /// `'snapshot.path'`: the JSON file the model is saved to and starts
    /// warm from.
    pub snapshot: Option<std::path::PathBuf>,
    /// `'snapshot.interval'`: how often the snapshot is rewritten while the
    /// pipeline runs (it is always written when the run ends).
    pub snapshot_interval: std::time::Duration,
    /// The type of the `partition_by` column (the same in every query that
    /// trains or scores the model, so a key hashes to one worker).
    pub key_type: Option<datafusion::arrow::datatypes::DataType>,
    /// `'drift.detector'` and `'on_drift'`.
    pub drift: Option<weir_operators::ModelDriftSpec>,
    /// `'scoring' = 'event-time'`: each row is scored by the model that
    /// has learned exactly the training rows earlier than it (the same
    /// predictions on every run); otherwise (`'latest'`) by the model as
    /// it is when the row arrives.
    pub event_time_scoring: bool,
}

impl Pipeline {
    /// Tables that some window reads (only their on-time rows).
    pub fn windowed_tables(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sink in &self.sinks {
            sink.input.scanned(SourceRows::OnTime, &mut out);
        }
        out
    }

    /// The source plan of a table.
    pub fn source(&self, table: &str) -> Option<&SourcePlan> {
        self.sources.iter().find(|s| s.table == table)
    }
}

/// Renders a SQL-ish type name for an Arrow type.
pub fn type_name(data_type: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as D;
    match data_type {
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::Boolean => "BOOLEAN".into(),
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INT".into(),
        D::Int64 => "BIGINT".into(),
        D::Float32 => "FLOAT".into(),
        D::Float64 => "DOUBLE".into(),
        D::Date32 => "DATE".into(),
        D::Timestamp(..) => "TIMESTAMP".into(),
        D::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => other.to_string(),
    }
}

/// The schema of a node's only (or first) input.
fn input_schema(node: &Node) -> SchemaRef {
    input_schema_of(node.inputs())
}

/// The schema of the first of `inputs` (empty when there is none).
fn input_schema_of(inputs: &[Node]) -> SchemaRef {
    inputs.first().map_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty()), Node::schema)
}

/// Column `index` of an operator that appends columns to its input's: a
/// copy of the input's column when it is one of them.
fn passes_through(index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
    match inputs.first() {
        Some(input) if index < input.schema().fields().len() => vec![(0, index)],
        _ => Vec::new(),
    }
}

/// Whether a node of `node`'s tree is an `ML_PREDICT` that scores in event
/// time (and so trains its model: it is built before the training query).
pub(crate) fn scores_in_event_time(node: &Node) -> bool {
    node.count_where(&|n| n.op::<Predict>().is_some_and(|p| p.learns.is_some())) > 0
}

/// The exchange of an operator with one state (`unit`) per value of the
/// input's column `key`, or one global state on worker 0.
fn model_key(inputs: &[Node], key: Option<usize>, unit: &'static str) -> Exchange {
    let schema = input_schema_of(inputs);
    let texts = key.and_then(|k| schema.fields().get(k)).map(|f| f.name().clone()).into_iter().collect();
    Exchange::Keys { exprs: crate::planner::key_exprs(&schema, key), texts, unit: Some(unit) }
}
