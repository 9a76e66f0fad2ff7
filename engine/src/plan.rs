//! The streaming plan: what `weir check` prints and `weir run` executes.
//!
//! A plan is a set of sources (one per table read, shared by every query that
//! reads it) and one tree of operators per `INSERT INTO`. Nodes hold
//! DataFusion physical expressions ready to evaluate on batches, and the text
//! of the logical expressions they came from, for `EXPLAIN`-style output.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_connectors::{SinkSpec, SourceSpec};
use weir_operators::window::{AggregateSpec, GroupColumn, WindowKind};

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

/// A node of an operator tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// Rows of a source table, optionally reduced to some columns.
    Source {
        /// The table.
        table: String,
        /// Column indices kept, in order (`None`: all).
        projection: Option<Vec<usize>>,
        /// The output schema.
        schema: SchemaRef,
        /// Which rows.
        rows: SourceRows,
    },
    /// A window function (`TUMBLE`, `HOP`, `SESSION`): the input's columns
    /// plus `window_start` and `window_end`.
    WindowAssign {
        /// The rows windowed.
        input: Box<Node>,
        /// The windows.
        kind: WindowKind,
        /// Index of the time column in the input.
        time: usize,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `GROUP BY window_start, window_end, keys...` with aggregates, keyed
    /// across workers by the keys.
    WindowAggregate {
        /// Rows with window columns.
        input: Box<Node>,
        /// The windows (sessions merge per key).
        kind: WindowKind,
        /// Index of `window_start` in the input.
        start: usize,
        /// Index of `window_end` in the input.
        end: usize,
        /// Key expressions over the input.
        keys: Vec<Arc<dyn PhysicalExpr>>,
        /// Their text.
        key_texts: Vec<String>,
        /// The GROUP BY columns in output order.
        layout: Vec<GroupColumn>,
        /// The aggregates.
        aggregates: Vec<AggregateSpec>,
        /// Their text.
        aggregate_texts: Vec<String>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `SELECT` list: one expression per output column.
    Project {
        /// The input.
        input: Box<Node>,
        /// One per output column.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Their text, for plans.
        texts: Vec<String>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `WHERE`.
    Filter {
        /// The input.
        input: Box<Node>,
        /// The predicate.
        predicate: Arc<dyn PhysicalExpr>,
        /// Its text.
        text: String,
    },
    /// `UNION ALL`: the rows of every input, relabelled to one schema.
    Union {
        /// The inputs.
        inputs: Vec<Node>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `LAG` and running aggregates `OVER (PARTITION BY keys ORDER BY ts
    /// ...)`: the input's columns plus one per function, in event-time
    /// order per key, emitted as the watermark passes each row.
    Over {
        /// The rows.
        input: Box<Node>,
        /// `PARTITION BY` expressions over the input.
        keys: Vec<Arc<dyn PhysicalExpr>>,
        /// Their text.
        key_texts: Vec<String>,
        /// Index of the event-time column in the input.
        time: usize,
        /// The functions.
        functions: Vec<weir_operators::OverFunction>,
        /// Their text.
        texts: Vec<String>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `INSERT INTO model SELECT ...`: test-then-train on every row,
    /// exchanged by the model's key. Produces no rows.
    Train {
        /// The labelled rows.
        input: Box<Node>,
        /// The model.
        model: String,
        /// Index of the key column in the input (`partition_by`).
        key: Option<usize>,
        /// Indices of the feature columns, in the model's INPUT order.
        features: Vec<usize>,
        /// Index of the label column.
        label: usize,
        /// The event-time column, when the query has one with a watermark:
        /// rows are then learned in its order as the watermark passes them.
        time: Option<usize>,
        /// The output schema: `ML_METRICS` rows.
        schema: SchemaRef,
    },
    /// `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))`: the input's rows
    /// with `prediction` (and `probability`) appended, exchanged by the
    /// model's key.
    Predict {
        /// The rows scored.
        input: Box<Node>,
        /// The model.
        model: String,
        /// Index of the key column in the input (`partition_by`).
        key: Option<usize>,
        /// Indices of the feature columns, in the model's INPUT order.
        features: Vec<usize>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// `ML_METRICS(MODEL m)` or `ML_ALERTS(MODEL m)`: the metrics rows, or
    /// the drift alerts, of the query that trains `m`.
    Metrics {
        /// The model.
        model: String,
        /// `ML_ALERTS` (the model's detector's alerts) rather than
        /// `ML_METRICS`.
        alerts: bool,
        /// The output schema (`weir_operators::model::metrics_schema` or
        /// `weir_operators::drift::alerts_schema`).
        schema: SchemaRef,
    },
    /// `CREATE MONITOR`: a drift detector per key and column of its input,
    /// exchanged by the key; produces alert rows.
    Monitor {
        /// The rows watched.
        input: Box<Node>,
        /// The monitor's name.
        monitor: String,
        /// The detector or windowed statistic.
        spec: weir_operators::drift::MonitorSpec,
        /// Index of the key column (`partition_by`).
        key: Option<usize>,
        /// Indices and names of the columns watched.
        columns: Vec<(usize, String)>,
        /// The event-time column, for the alerts' `event_time`.
        time: Option<usize>,
        /// The output schema (`weir_operators::drift::alerts_schema`).
        schema: SchemaRef,
    },
    /// A query the planner proved empty (for example `WHERE false`).
    Empty {
        /// The output schema.
        schema: SchemaRef,
    },
}

impl Node {
    /// The schema of the batches this node produces.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Node::Source { schema, .. }
            | Node::WindowAssign { schema, .. }
            | Node::WindowAggregate { schema, .. }
            | Node::Over { schema, .. }
            | Node::Train { schema, .. }
            | Node::Predict { schema, .. }
            | Node::Metrics { schema, .. }
            | Node::Monitor { schema, .. }
            | Node::Project { schema, .. }
            | Node::Union { schema, .. }
            | Node::Empty { schema } => Arc::clone(schema),
            Node::Filter { input, .. } => input.schema(),
        }
    }

    /// The nodes this node reads from.
    pub fn inputs(&self) -> Vec<&Node> {
        match self {
            Node::Source { .. } | Node::Empty { .. } | Node::Metrics { .. } => Vec::new(),
            Node::Project { input, .. }
            | Node::Filter { input, .. }
            | Node::WindowAssign { input, .. }
            | Node::Over { input, .. }
            | Node::Train { input, .. }
            | Node::Predict { input, .. }
            | Node::Monitor { input, .. }
            | Node::WindowAggregate { input, .. } => vec![input],
            Node::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    /// How many nodes the tree has.
    pub fn count(&self) -> usize {
        1 + self.inputs().into_iter().map(Node::count).sum::<usize>()
    }

    /// The tables this node reads, in plan order (with repeats).
    pub fn tables(&self) -> Vec<String> {
        match self {
            Node::Source { table, .. } => vec![table.clone()],
            _ => self.inputs().into_iter().flat_map(Node::tables).collect(),
        }
    }

    fn explain(&self, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let _ = match self {
            Node::Source { table, projection, schema, rows } => {
                let cols = match projection {
                    Some(_) => format!(" columns=[{}]", names(schema)),
                    None => String::new(),
                };
                let late = match rows {
                    SourceRows::All => "",
                    SourceRows::OnTime => " (rows behind the watermark left out)",
                    SourceRows::Late => " (only rows behind the watermark)",
                };
                writeln!(out, "{pad}scan {table}{cols}{late}")
            }
            Node::WindowAssign { input, kind, time, .. } => {
                let column = input.schema().fields().get(*time).map(|f| f.name().clone()).unwrap_or_default();
                let r = writeln!(out, "{pad}window {kind} on {column}");
                input.explain(depth + 1, out);
                r
            }
            Node::Over { input, key_texts, time, texts, .. } => {
                let column = input.schema().fields().get(*time).map(|f| f.name().clone()).unwrap_or_default();
                let r = writeln!(
                    out,
                    "{pad}over (in {column} order per key, emitted when the watermark passes each row): {}",
                    texts.join(", ")
                );
                let exchange =
                    if key_texts.is_empty() { "gather to worker 0 (no keys)".to_string() } else { format!("hash({})", key_texts.join(", ")) };
                let _ = writeln!(out, "{pad}  exchange: {exchange}");
                input.explain(depth + 2, out);
                r
            }
            Node::WindowAggregate { input, kind, key_texts, layout, aggregate_texts, .. } => {
                let groups: Vec<String> = layout
                    .iter()
                    .map(|g| match g {
                        GroupColumn::WindowStart => "window_start".to_string(),
                        GroupColumn::WindowEnd => "window_end".to_string(),
                        GroupColumn::Key(i) => key_texts.get(*i).cloned().unwrap_or_default(),
                    })
                    .collect();
                let r = writeln!(
                    out,
                    "{pad}window aggregate ({kind}, emitted when the watermark passes window_end) group by {}: {}",
                    groups.join(", "),
                    aggregate_texts.join(", ")
                );
                let exchange = if key_texts.is_empty() {
                    "gather to worker 0 (no keys)".to_string()
                } else {
                    format!("hash({})", key_texts.join(", "))
                };
                let _ = writeln!(out, "{pad}  exchange: {exchange}");
                input.explain(depth + 2, out);
                r
            }
            Node::Project { input, texts, schema, .. } => {
                let items: Vec<String> = texts
                    .iter()
                    .zip(schema.fields())
                    .map(|(t, f)| if t == f.name() { t.clone() } else { format!("{t} AS {}", f.name()) })
                    .collect();
                let r = writeln!(out, "{pad}project {}", items.join(", "));
                input.explain(depth + 1, out);
                r
            }
            Node::Filter { input, text, .. } => {
                let r = writeln!(out, "{pad}filter {text}");
                input.explain(depth + 1, out);
                r
            }
            Node::Union { inputs, .. } => {
                let r = writeln!(out, "{pad}union all");
                for i in inputs {
                    i.explain(depth + 1, out);
                }
                r
            }
            Node::Train { input, model, key, features, label, time, .. } => {
                let schema = input.schema();
                let name = |i: &usize| schema.fields().get(*i).map(|f| f.name().clone()).unwrap_or_default();
                let features: Vec<String> = features.iter().map(name).collect();
                let order = match time {
                    Some(t) => format!("in {} order per key, as the watermark passes each row", name(t)),
                    None => "in arrival order".to_string(),
                };
                let r = writeln!(
                    out,
                    "{pad}train {model} (test-then-train, {order}): features [{}], label {}",
                    features.join(", "),
                    name(label)
                );
                let _ = writeln!(out, "{pad}  exchange: {}", exchange_text(key.as_ref().map(name)));
                input.explain(depth + 2, out);
                r
            }
            Node::Predict { input, model, key, features, .. } => {
                let schema = input.schema();
                let name = |i: &usize| schema.fields().get(*i).map(|f| f.name().clone()).unwrap_or_default();
                let features: Vec<String> = features.iter().map(name).collect();
                let r = writeln!(out, "{pad}ml_predict {model}: features [{}]", features.join(", "));
                let _ = writeln!(out, "{pad}  exchange: {}", exchange_text(key.as_ref().map(name)));
                input.explain(depth + 2, out);
                r
            }
            Node::Metrics { model, alerts: false, .. } => {
                writeln!(out, "{pad}ml_metrics {model} (per key, after each batch the model trains on)")
            }
            Node::Metrics { model, alerts: true, .. } => {
                writeln!(out, "{pad}ml_alerts {model} (its drift detector's alerts, per key, as the model trains)")
            }
            Node::Monitor { input, monitor, spec, key, columns, .. } => {
                let schema = input.schema();
                let name = |i: &usize| schema.fields().get(*i).map(|f| f.name().clone()).unwrap_or_default();
                let watched: Vec<&str> = columns.iter().map(|(_, c)| c.as_str()).collect();
                let how = match spec {
                    weir_operators::drift::MonitorSpec::Point(_) => "in arrival order per key".to_string(),
                    weir_operators::drift::MonitorSpec::Windowed(w) => {
                        let reference = match &w.reference {
                            weir_operators::drift::ReferenceSpec::Rows(n) => format!("first {n} values per key"),
                            weir_operators::drift::ReferenceSpec::Range { start_ms, end_ms } => {
                                let at = |ms: i64| {
                                    datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime(ms).map_or(format!("{ms} ms"), |t| t.to_string())
                                };
                                format!("values from {} to {}", at(*start_ms), at(*end_ms))
                            }
                            weir_operators::drift::ReferenceSpec::File(f) => {
                                let n: usize = f.values.values().map(Vec::len).sum();
                                format!("{n} values of {}{}", f.path, if f.per_key { " per key" } else { "" })
                            }
                        };
                        let every = if w.slide_ms == w.window_ms { String::new() } else { format!(" every {} ms", w.slide_ms) };
                        format!("{reference} as reference, then {} ms event-time windows{every}", w.window_ms)
                    }
                };
                let r = writeln!(out, "{pad}monitor {monitor} ({}, {how}): columns [{}]", spec.method(), watched.join(", "));
                let _ = writeln!(out, "{pad}  exchange: {}", exchange_of(key.as_ref().map(name), "detector set"));
                input.explain(depth + 2, out);
                r
            }
            Node::Empty { .. } => writeln!(out, "{pad}empty (the query can produce no rows)"),
        };
    }
}

impl SinkPlan {
    /// The model this `INSERT` trains, if it trains one.
    pub fn trains(&self) -> Option<&str> {
        match &self.input {
            Node::Train { model, .. } => Some(model),
            _ => None,
        }
    }
}

/// How rows reach a model's operator.
fn exchange_text(key: Option<String>) -> String {
    exchange_of(key, "model")
}

/// Where a keyed operator's rows go: by the key's hash, one `what` per key,
/// or all to worker 0.
fn exchange_of(key: Option<String>, what: &str) -> String {
    match key {
        Some(k) => format!("hash({k}) (one {what} per {k})"),
        None => format!("gather to worker 0 (one global {what})"),
    }
}

fn names(schema: &SchemaRef) -> String {
    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
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
}

impl Pipeline {
    /// Tables that some window reads (only their on-time rows).
    pub fn windowed_tables(&self) -> Vec<String> {
        fn walk(node: &Node, out: &mut Vec<String>) {
            match node {
                Node::Source { table, rows: SourceRows::OnTime, .. } => {
                    if !out.contains(table) {
                        out.push(table.clone());
                    }
                }
                Node::Source { .. } | Node::Empty { .. } | Node::Metrics { .. } => {}
                Node::Project { input, .. }
                | Node::Filter { input, .. }
                | Node::WindowAssign { input, .. }
                | Node::Over { input, .. }
                | Node::Train { input, .. }
                | Node::Predict { input, .. }
                | Node::Monitor { input, .. }
                | Node::WindowAggregate { input, .. } => walk(input, out),
                Node::Union { inputs, .. } => inputs.iter().for_each(|i| walk(i, out)),
            }
        }
        let mut out = Vec::new();
        for sink in &self.sinks {
            walk(&sink.input, &mut out);
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

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.settings.on_error == RowPolicy::Fail {
            writeln!(f, "on error: a row whose expression fails stops the pipeline")?;
        }
        if let Some(d) = &self.settings.dead_letter {
            writeln!(f, "dead letters: failed rows go to {} ({})", d.table, d.spec.describe())?;
        }
        for source in &self.sources {
            writeln!(f, "source {}: {}", source.table, source.spec.describe())?;
            let columns: Vec<String> = source
                .schema
                .fields()
                .iter()
                .map(|c| {
                    let computed = source.computed.iter().find(|p| &p.name == c.name());
                    match computed {
                        Some(p) => format!("{} AS {}", c.name(), p.text),
                        None => format!(
                            "{} {}{}{}",
                            c.name(),
                            type_name(c.data_type()),
                            if c.is_nullable() { "" } else { " NOT NULL" },
                            c.metadata()
                                .get(weir_connectors::METADATA_FIELD_KEY)
                                .map(|k| format!(" METADATA FROM '{k}'"))
                                .unwrap_or_default()
                        ),
                    }
                })
                .collect();
            writeln!(f, "  columns: {}", columns.join(", "))?;
            if let Some(w) = &source.watermark {
                let default = if source.default_watermark { " (Weir's default: the table declares no WATERMARK)" } else { "" };
                writeln!(f, "  watermark: for {} as {}{default}", w.column, w.text)?;
            }
            if let Some(idle) = source.idle_timeout {
                writeln!(f, "  idle after: {} without rows (then a partition no longer holds the watermark back)", humantime::format_duration(idle))?;
            }
            writeln!(f, "  split: across all workers")?;
        }
        for sink in &self.sinks {
            writeln!(f)?;
            if let Node::Train { model, .. } = &sink.input {
                // Training writes nothing: the rows end in the model.
                writeln!(f, "insert into {} (line {}): trains model {model}", sink.table, sink.line)?;
                if let Some(d) = self.models.iter().find(|m| &m.name == model).and_then(|m| m.drift.as_ref()) {
                    writeln!(f, "  drift: {} on each key's prequential errors, on_drift {}", d.detector.method(), d.on_drift.name())?;
                }
                let mut tree = String::new();
                sink.input.explain(1, &mut tree);
                write!(f, "{tree}")?;
                continue;
            }
            writeln!(f, "insert into {} (line {}): {}", sink.table, sink.line, sink.spec.describe())?;
            writeln!(f, "  schema: {}", {
                let cols: Vec<String> = sink
                    .schema
                    .fields()
                    .iter()
                    .map(|c| format!("{} {}", c.name(), type_name(c.data_type())))
                    .collect();
                cols.join(", ")
            })?;
            let mut tree = String::new();
            let mut depth = 1;
            if !sink.spec.parallel() {
                tree.push_str("  exchange: gather to worker 0\n");
                depth = 2;
            } else {
                tree.push_str("  write on every worker\n");
                depth = depth.max(2);
            }
            if sink.cast.is_some() {
                tree.push_str(&format!("{}cast to the sink's columns\n", "  ".repeat(depth)));
                depth += 1;
            }
            sink.input.explain(depth, &mut tree);
            write!(f, "{tree}")?;
        }
        Ok(())
    }
}
