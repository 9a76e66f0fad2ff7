//! From parsed statements to a [`Pipeline`].
//!
//! Tables are registered in a DataFusion session as empty tables with the
//! right schema, views as DataFusion views, and every `INSERT`'s query is
//! planned, type-checked and optimized by DataFusion itself. The optimized
//! logical plan is then lowered to Weir's streaming nodes, with physical
//! expressions created by DataFusion. What DataFusion accepts and rejects is
//! therefore exactly what a batch query would; what cannot run on an
//! unbounded stream (ORDER BY, LIMIT, unwindowed aggregates, joins) is rejected
//! here, with the statement's position.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DataFusionError;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

use crate::diagnostic::Diagnostic;
use crate::plan::{Node, Pipeline, SinkPlan, SourcePlan};
use crate::sql::{self, PipelineStatement, SqlOption};

mod inserts;
mod joins;
mod lower;
mod models;
mod monitors;
mod over;
mod prepare;
mod reference_file;
mod scoring;
mod settings;
mod tables;
mod temporal;
mod views;
mod windows;
pub use settings::{dead_letter_schema, KEYS as SETTINGS};
pub(crate) use models::key_exprs;
use lower::display_expr;

/// A DataFusion session configured as Weir plans SQL: identifiers are case
/// sensitive (as in Flink), spans are collected for error positions, and
/// Weir's extra functions are registered.
///
/// The oracle tests run batch queries in this same session configuration.
pub fn session() -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(1);
    config.options_mut().sql_parser.collect_spans = true;
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config(config);
    // It rewrites `count(DISTINCT x)` into an aggregate over an aggregate,
    // which on a stream would emit a window twice; the accumulators handle
    // DISTINCT themselves.
    ctx.remove_optimizer_rule("single_distinct_aggregation_to_group_by");
    // It turns an inner join whose right side is unique on the keys and
    // unread into a semi join, and drops a left join whose right side is
    // unread: the same relation, but not the same stream (a window join
    // emits per window; a semi join has no streaming form here).
    ctx.remove_optimizer_rule("eliminate_join");
    for udf in crate::functions::udfs() {
        ctx.register_udf(udf);
    }
    ctx
}

#[derive(Debug)]
struct Table {
    name: String,
    connector: String,
    connector_span: Span,
    options: BTreeMap<String, String>,
    option_spans: HashMap<String, Span>,
    options_span: Span,
    name_span: Span,
    /// The declared columns (no computed ones), when there is a column list.
    declared: Option<SchemaRef>,
    /// Set when the connector can be read.
    source: Option<SourcePlan>,
    /// Why the table cannot be read, when its connector could be a source.
    not_readable: Option<String>,
}

/// Plans a pipeline file, within the default [`Limits`](crate::sql::Limits).
///
/// ```
/// let pipeline = weir_engine::plan_pipeline(
///     "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');\n\
///      CREATE TABLE out WITH ('connector' = 'blackhole');\n\
///      INSERT INTO out SELECT sensor_id, speed * 3.6 AS mps FROM traffic WHERE occupancy > 0.5;",
/// )?;
/// assert_eq!(pipeline.sinks.len(), 1);
/// # Ok::<(), weir_engine::Diagnostic>(())
/// ```
pub fn plan_pipeline(sql: &str) -> Result<Pipeline, Diagnostic> {
    plan_pipeline_with(sql, &crate::sql::Limits::default())
}

/// The stack of the planning thread. Parsing a long chain of operators and
/// dropping its tree recurse once per operator; the limits reject such
/// trees before DataFusion plans them, and this stack (reserved, and
/// touched only as deep as planning goes) is ample for what they accept
/// and for the longest text they let through.
const PLANNING_STACK: usize = 512 << 20;

/// Plans a pipeline file within `limits`.
///
/// Planning runs on a thread of its own with a large stack, so that no
/// input can overflow the caller's; a pipeline that takes longer than
/// `limits.planning_timeout` is abandoned with an error (its thread ends by
/// itself later). A panic while planning, a bug in Weir, is an error too.
pub fn plan_pipeline_with(sql: &str, limits: &crate::sql::Limits) -> Result<Pipeline, Diagnostic> {
    crate::sql::check_text(sql, limits)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (text, thread_limits) = (sql.to_string(), limits.clone());
    std::thread::Builder::new()
        .name("weir planner".into())
        .stack_size(PLANNING_STACK)
        .spawn(move || {
            let planned = plan_checked(&text, &thread_limits);
            let _ = tx.send(planned);
        })
        .map_err(|e| Diagnostic::new(format!("could not start the planning thread: {e}")))?;
    match rx.recv_timeout(limits.planning_timeout) {
        Ok(planned) => planned,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Diagnostic::new(format!(
            "planning the pipeline took longer than {}, so it was abandoned",
            humantime::format_duration(limits.planning_timeout)
        ))
        .with_help("simplify its queries, or split it into several pipelines")),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(Diagnostic::new("planning failed unexpectedly (a bug in Weir: please report it with the pipeline)"))
        }
    }
}

fn plan_checked(sql: &str, limits: &crate::sql::Limits) -> Result<Pipeline, Diagnostic> {
    let statements = sql::parse_pipeline(sql)?;
    crate::sql::check_statements(&statements, limits)?;
    let last = statements.last().map(|s| s.span());
    let mut planner = Planner {
        ctx: session(),
        tables: Vec::new(),
        views: Vec::new(),
        view_plans: HashMap::new(),
        windows: HashMap::new(),
        next_window: 0,
        defaults: std::cell::RefCell::new(Vec::new()),
        group_by: std::cell::Cell::new(None),
        sinks: Vec::new(),
        models: Vec::new(),
        metrics_reads: Vec::new(),
        settings: crate::plan::Settings::default(),
        dead_letter: None,
        warnings: std::cell::RefCell::new(Vec::new()),
        versioned: HashMap::new(),
    };
    // Settings apply to the whole pipeline, wherever the SET is written.
    let (settings, statements): (Vec<_>, Vec<_>) = statements.into_iter().partition(|s| matches!(s, PipelineStatement::Set(_)));
    for statement in settings.into_iter().chain(statements) {
        let span = statement.span();
        let mut statement = statement;
        prepare::prepare(&mut statement, &planner.state()).map_err(|d| d.in_statement(span))?;
        let result = match statement {
            PipelineStatement::CreateTable(t) => planner.create_table(*t),
            PipelineStatement::CreateView(v) => planner.create_view(&v.name, &v.query, v.span),
            PipelineStatement::Insert(i) if planner.model(&sql::object_name(&i.table)).is_some() => planner.train(i),
            PipelineStatement::Insert(i) => planner.insert(i),
            PipelineStatement::CreateModel(m) => planner.create_model(m),
            PipelineStatement::CreateMonitor(m) => planner.create_monitor(m),
            PipelineStatement::Set(o) => planner.set(o),
        };
        result.map_err(|d| d.in_statement(span))?;
        let nodes: usize = planner.sinks.iter().map(|s| s.input.count()).sum();
        if nodes > limits.max_plan_nodes {
            return Err(Diagnostic::new(format!(
                "the pipeline's plan has {nodes} operators; at most {} are accepted",
                limits.max_plan_nodes
            ))
            .with_help("split it into several pipelines")
            .in_statement(span));
        }
    }
    planner.check_metrics_reads()?;
    planner.score_in_event_time()?;
    planner.resolve_dead_letter()?;
    if planner.sinks.is_empty() {
        let d = Diagnostic::new("the pipeline has no INSERT INTO, so it would do nothing")
            .with_help("add INSERT INTO <sink table> SELECT ... FROM <source table>");
        return Err(match last {
            Some(span) => d.in_statement(span),
            None => d,
        });
    }
    // Keep only the sources some query reads, in declaration order.
    let read: Vec<String> = planner.sinks.iter().flat_map(|s| s.input.tables()).collect();
    let sources = planner
        .tables
        .into_iter()
        .filter(|t| read.contains(&t.name))
        .filter_map(|t| t.source)
        .collect();
    let models = planner.models.into_iter().filter(|m| m.used).map(|m| m.plan).collect();
    let warnings = planner.warnings.into_inner();
    Ok(Pipeline { sources, sinks: planner.sinks, models, settings: planner.settings, warnings })
}

struct Planner {
    ctx: SessionContext,
    tables: Vec<Table>,
    views: Vec<String>,
    /// Each view's optimized plan, for windows over views.
    view_plans: HashMap<String, LogicalPlan>,
    /// What each window placeholder table stands for (a `WindowAssign` node).
    windows: HashMap<String, Node>,
    next_window: usize,
    /// Tables that need the default watermark on a column, found while
    /// lowering (which cannot change the tables); applied after it.
    defaults: std::cell::RefCell<Vec<(String, String)>>,
    /// The GROUP BY of the statement being planned, for positioned errors.
    group_by: std::cell::Cell<Option<Span>>,
    sinks: Vec<SinkPlan>,
    /// Every `CREATE MODEL`, in order.
    models: Vec<models::Model>,
    /// Every `ML_METRICS(MODEL m)` and `ML_ALERTS(MODEL m)` read, with
    /// where it is and which function.
    metrics_reads: Vec<(String, Span, &'static str)>,
    /// What `SET` statements said.
    settings: crate::plan::Settings,
    /// `SET 'pipeline.dead-letter.table'`, resolved once every table is known.
    dead_letter: Option<SqlOption>,
    /// What lowering found valid but doubtful.
    warnings: std::cell::RefCell<Vec<Diagnostic>>,
    /// What each `FOR SYSTEM_TIME AS OF` placeholder table stands for.
    versioned: HashMap<String, temporal::Versioned>,
}

fn to_span(span: &datafusion::common::Span) -> Span {
    Span::new(Location::new(span.start.line, span.start.column), Location::new(span.end.line, span.end.column))
}

/// DataFusion's error as a diagnostic, positioned where DataFusion knows.
fn from_datafusion(err: DataFusionError) -> Diagnostic {
    // Optimizer rules wrap the real error in context ("rule ... caused by");
    // the innermost one says what is wrong, without its category prefix.
    let text = match err.find_root() {
        DataFusionError::Plan(m) | DataFusionError::NotImplemented(m) => m.clone(),
        DataFusionError::SchemaError(e, _) => e.to_string(),
        other => other.strip_backtrace(),
    };
    if let Some(d) = err.diagnostic() {
        let mut diag = match &d.span {
            Some(span) => Diagnostic::at(d.message.clone(), to_span(span)),
            // Without a position, DataFusion's own message says more.
            None => Diagnostic::new(text.trim().to_string()),
        };
        if d.message.starts_with("Invalid function") {
            diag = diag.with_help("it is neither a DataFusion scalar function nor one of Weir's (TO_TIMESTAMP_LTZ); see docs/sql.md");
        }
        // DataFusion's "Possible function" guess breaks ties in hash order, so
        // it changes from run to run; it is left out for a stable message.
        let hints: Vec<String> = d
            .helps
            .iter()
            .map(|h| h.message.clone())
            .chain(d.notes.iter().map(|n| n.message.clone()))
            .filter(|m| !m.starts_with("Possible function"))
            .collect();
        if !hints.is_empty() {
            diag = diag.with_help(hints.join("; "));
        }
        return diag;
    }
    Diagnostic::new(text.trim().to_string())
}

impl Planner {
    fn state(&self) -> SessionState {
        self.ctx.state()
    }

    fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    fn check_new_name(&self, name: &str, span: Span) -> Result<(), Diagnostic> {
        if self.table(name).is_some() || self.views.iter().any(|v| v == name) || self.model(name).is_some() || self.windows.contains_key(name) {
            return Err(Diagnostic::at(format!("'{name}' is already defined"), span));
        }
        if name.starts_with(sql::PLACEHOLDER_PREFIX) {
            return Err(Diagnostic::at(format!("names starting with '{}' are reserved by Weir", sql::PLACEHOLDER_PREFIX), span));
        }
        Ok(())
    }
}


impl Diagnostic {
    /// Uses `span` when the diagnostic has no position of its own.
    fn or_at(mut self, span: Span) -> Self {
        if self.span.is_none() && span.start.line > 0 {
            self.span = Some(span);
        }
        self
    }
}
