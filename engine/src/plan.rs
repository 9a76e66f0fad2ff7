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

/// A node of an operator tree.
#[derive(Debug)]
pub enum Node {
    /// Rows of a source table, optionally reduced to some columns.
    Source {
        /// The table.
        table: String,
        /// Column indices kept, in order (`None`: all).
        projection: Option<Vec<usize>>,
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
            | Node::Project { schema, .. }
            | Node::Union { schema, .. }
            | Node::Empty { schema } => Arc::clone(schema),
            Node::Filter { input, .. } => input.schema(),
        }
    }

    fn explain(&self, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let _ = match self {
            Node::Source { table, projection, schema } => {
                let cols = match projection {
                    Some(_) => format!(" columns=[{}]", names(schema)),
                    None => String::new(),
                };
                writeln!(out, "{pad}scan {table}{cols}")
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
            Node::Empty { .. } => writeln!(out, "{pad}empty (the query can produce no rows)"),
        };
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
}

impl Pipeline {
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
                            "{} {}{}",
                            c.name(),
                            type_name(c.data_type()),
                            if c.is_nullable() { "" } else { " NOT NULL" }
                        ),
                    }
                })
                .collect();
            writeln!(f, "  columns: {}", columns.join(", "))?;
            if let Some(w) = &source.watermark {
                writeln!(f, "  watermark: for {} as {}", w.column, w.text)?;
            }
            writeln!(f, "  split: across all workers")?;
        }
        for sink in &self.sinks {
            writeln!(f)?;
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
