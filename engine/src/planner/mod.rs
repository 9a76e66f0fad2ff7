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
use std::sync::Arc;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::common::{DFSchema, DataFusionError};
use datafusion::datasource::empty::EmptyTable;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{ExprWithAlias, Query, Spanned, Statement};
use datafusion::sql::sqlparser::tokenizer::{Location, Span};
use weir_connectors::{ConnectorError, SinkSpec};

use crate::diagnostic::Diagnostic;
use crate::plan::{self, type_name, ComputedPlan, Node, Pipeline, SinkPlan, SourcePlan, SourceRows, WatermarkPlan};
use crate::sql::{self, CreateTable, Insert, PipelineStatement, SqlOption};

mod models;
mod monitors;
mod prepare;
mod reference_file;
mod settings;
pub use settings::{dead_letter_schema, KEYS as SETTINGS};
pub(crate) use models::key_exprs;

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
    };
    for mut statement in statements {
        let span = statement.span();
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
    Ok(Pipeline { sources, sinks: planner.sinks, models, settings: planner.settings })
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

    fn create_table(&mut self, t: CreateTable) -> Result<(), Diagnostic> {
        let name = sql::object_name(&t.name);
        let name_span = t.name.span();
        self.check_new_name(&name, name_span)?;

        let mut options = BTreeMap::new();
        let mut option_spans = HashMap::new();
        for SqlOption { key, value, span } in &t.options {
            if options.insert(key.clone(), value.clone()).is_some() {
                return Err(Diagnostic::at(format!("option '{key}' is given twice"), *span));
            }
            option_spans.insert(key.clone(), *span);
        }
        let Some(connector) = options.get("connector").cloned() else {
            return Err(Diagnostic::at("the table has no 'connector' option", t.options_span).with_help(
                "add WITH ('connector' = '...'); sources: generator, file, kafka; sinks: file, kafka, stdout, blackhole",
            ));
        };
        let connector_span = option_spans.get("connector").copied().unwrap_or(t.options_span);
        if !weir_connectors::is_source(&connector) && !weir_connectors::is_sink(&connector) {
            let mut known_unique: Vec<&str> = Vec::new();
            for (n, _) in weir_connectors::SOURCES.iter().chain(weir_connectors::SINKS) {
                if !known_unique.contains(n) {
                    known_unique.push(n);
                }
            }
            let mut d = Diagnostic::at(format!("unknown connector '{connector}'"), connector_span);
            d = match weir_connectors::options::closest(&connector, &known_unique) {
                Some(k) => d.with_help(format!("did you mean '{k}'? connectors: {}", known_unique.join(", "))),
                None => d.with_help(format!("connectors: {}", known_unique.join(", "))),
            };
            return Err(d);
        }

        let declared = match &t.columns {
            None => None,
            Some(columns) => {
                let mut fields: Vec<Field> = Vec::with_capacity(columns.len());
                for c in columns {
                    if fields.iter().any(|f| f.name() == &c.name.value) || t.computed.iter().any(|p| p.name.value == c.name.value) {
                        return Err(Diagnostic::at(format!("column '{}' is declared twice", c.name.value), c.name.span));
                    }
                    let data_type = sql::sql_type_to_arrow(&c.data_type).ok_or_else(|| {
                        Diagnostic::at(format!("unsupported column type {}", c.data_type), c.type_span)
                            .with_help(format!("supported types: {}", sql::SUPPORTED_TYPES))
                    })?;
                    let mut field = Field::new(c.name.value.clone(), data_type, !c.not_null);
                    if let Some((key, span)) = &c.metadata {
                        field = metadata_field(field, key, *span, c.type_span, &connector)?;
                    }
                    fields.push(field);
                }
                Some(Arc::new(Schema::new(fields)))
            }
        };

        let mut table = Table {
            name: name.clone(),
            connector: connector.clone(),
            connector_span,
            options: options.clone(),
            option_spans,
            options_span: t.options_span,
            name_span,
            declared: declared.clone(),
            source: None,
            not_readable: None,
        };
        let mut config = options.clone();
        config.remove("connector");
        // An engine option, not the connector's; Flink's Kafka name too.
        let mut idle_timeout = None;
        for key in ["idle_timeout", "scan.watermark.idle-timeout"] {
            let Some(text) = config.remove(key) else { continue };
            let span = table.option_spans.get(key).copied().unwrap_or(t.options_span);
            if !weir_connectors::is_source(&connector) {
                return Err(Diagnostic::at(format!("'{key}' applies to sources; '{connector}' is a sink"), span));
            }
            if idle_timeout.is_some() {
                return Err(Diagnostic::at("give either 'idle_timeout' or 'scan.watermark.idle-timeout', not both", span));
            }
            idle_timeout = Some(humantime::parse_duration(text.trim()).map_err(|e| {
                Diagnostic::at(format!("'{key}' = '{text}' is not a duration: {e}"), span)
                    .with_help("for example '30 s', '500ms' or '2 min'")
            })?);
        }

        let source_spec = if weir_connectors::is_source(&connector) {
            match weir_connectors::source_spec(&connector, &config, declared.clone()) {
                Ok(spec) => Some(spec),
                // A table that cannot be a source may still be a sink (a file
                // sink needs no column list); reading it reports why not.
                Err(e @ ConnectorError::Schema { .. }) if weir_connectors::is_sink(&connector) => {
                    table.not_readable = Some(e.to_string());
                    None
                }
                // Options only a sink takes (Kafka's 'key.fields'): a sink.
                Err(e) if weir_connectors::is_sink(&connector) && weir_connectors::sink_spec(&connector, &config).is_ok() => {
                    table.not_readable = Some(e.to_string());
                    None
                }
                Err(e) => return Err(table.connector_error(e)),
            }
        } else {
            None
        };
        let schema_for_catalog = if let Some(spec) = source_spec {
            let mut source = self.source_plan(&name, spec, &t)?;
            source.idle_timeout = idle_timeout;
            let schema = Arc::clone(&source.schema);
            table.source = Some(source);
            Some(schema)
        } else {
            // Validate the sink options now, so that mistakes show even if no
            // INSERT uses the table yet.
            weir_connectors::sink_spec(&connector, &config).map_err(|e| table.connector_error(e))?;
            if !t.computed.is_empty() || t.watermark.is_some() {
                return Err(Diagnostic::at(
                    format!("connector '{connector}' is a sink: computed columns and watermarks only apply to sources"),
                    name_span,
                ));
            }
            // Registered with its columns (or none), so that reading it gives
            // Weir's explanation rather than "table not found".
            Some(declared.clone().unwrap_or_else(|| Arc::new(Schema::empty())))
        };
        if let Some(schema) = schema_for_catalog {
            self.ctx
                .register_table(name.as_str(), Arc::new(EmptyTable::new(schema)))
                .map_err(from_datafusion)?;
        }
        self.tables.push(table);
        Ok(())
    }

    fn source_plan(
        &self,
        name: &str,
        spec: Arc<dyn weir_connectors::SourceSpec>,
        t: &CreateTable,
    ) -> Result<SourcePlan, Diagnostic> {
        let physical = spec.schema();
        let df_physical = DFSchema::try_from_qualified_schema(name, &physical).map_err(from_datafusion)?;
        let state = self.state();
        let mut fields: Vec<Field> = physical.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut computed = Vec::new();
        for c in &t.computed {
            if fields.iter().any(|f| f.name() == &c.name.value) {
                return Err(Diagnostic::at(format!("column '{}' is declared twice", c.name.value), c.name.span));
            }
            let expr = state
                .create_logical_expr_from_sql_expr(ExprWithAlias { expr: c.expr.clone(), alias: None }, &df_physical)
                .map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            let (_, field) = expr.to_field(&df_physical).map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            let (data_type, nullable) = (field.data_type().clone(), field.is_nullable());
            let physical_expr = state.create_physical_expr(expr, &df_physical).map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            fields.push(Field::new(c.name.value.clone(), data_type, nullable));
            computed.push(ComputedPlan { name: c.name.value.clone(), expr: physical_expr, text: c.expr.to_string() });
        }
        let schema = Arc::new(Schema::new(fields));
        let watermark = match &t.watermark {
            None => None,
            Some(w) => {
                let field = schema.field_with_name(&w.column.value).map_err(|_| {
                    Diagnostic::at(format!("WATERMARK FOR names '{}', which is not a column of '{name}'", w.column.value), w.column.span)
                })?;
                if !matches!(field.data_type(), DataType::Timestamp(..)) {
                    return Err(Diagnostic::at(
                        format!("the watermark column '{}' is {}, not a TIMESTAMP", w.column.value, type_name(field.data_type())),
                        w.column.span,
                    )
                    .with_help("declare it TIMESTAMP, or compute one: ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)"));
                }
                let df_full = DFSchema::try_from_qualified_schema(name, &schema).map_err(from_datafusion)?;
                let expr = state
                    .create_logical_expr_from_sql_expr(ExprWithAlias { expr: w.expr.clone(), alias: None }, &df_full)
                    .map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                let data_type = expr.get_type(&df_full).map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                if !matches!(data_type, DataType::Timestamp(..)) {
                    return Err(Diagnostic::at(
                        format!("the watermark expression is {}, not a TIMESTAMP", type_name(&data_type)),
                        w.expr.span(),
                    )
                    .with_help(format!("for example: WATERMARK FOR {0} AS {0} - INTERVAL '5' SECOND", w.column.value)));
                }
                let physical_expr = state.create_physical_expr(expr, &df_full).map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                Some(WatermarkPlan { column: w.column.value.clone(), expr: physical_expr, text: w.expr.to_string() })
            }
        };
        Ok(SourcePlan { table: name.to_string(), spec, computed, watermark, schema, default_watermark: false, idle_timeout: None })
    }

    fn plan_query(&self, query: &Query) -> Result<LogicalPlan, Diagnostic> {
        let statement = DfStatement::Statement(Box::new(Statement::Query(Box::new(query.clone()))));
        let state = self.state();
        let plan = futures::executor::block_on(state.statement_to_plan(statement)).map_err(from_datafusion)?;
        Ok(plan)
    }

    fn create_view(
        &mut self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
        query: &Query,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let view = sql::object_name(name);
        self.check_new_name(&view, name.span())?;
        let query = self.windowed(query)?;
        let plan = self.plan_query(&query)?;
        // Lowering now reports streaming restrictions at the view, not at
        // every INSERT that uses it.
        let optimized = self.state().optimize(&plan).map_err(from_datafusion)?;
        self.lower(&optimized, span)?;
        self.apply_default_watermarks()?;
        self.ctx
            .register_table(view.as_str(), Arc::new(ViewTable::new(plan, Some(query.to_string()))))
            .map_err(from_datafusion)?;
        self.view_plans.insert(view.clone(), optimized);
        self.views.push(view);
        Ok(())
    }

    fn insert(&mut self, insert: Insert) -> Result<(), Diagnostic> {
        let name = sql::object_name(&insert.table);
        let Some(table) = self.table(&name) else {
            let known: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
            let mut d = Diagnostic::at(format!("unknown table '{name}'"), insert.table.span());
            if self.views.contains(&name) {
                d = Diagnostic::at(format!("'{name}' is a view; INSERT INTO needs a table with a sink connector"), insert.table.span());
            } else if let Some(k) = weir_connectors::options::closest(&name, &known) {
                d = d.with_help(format!("did you mean '{k}'?"));
            } else if !known.is_empty() {
                d = d.with_help(format!("tables: {}", known.join(", ")));
            }
            return Err(d);
        };
        let mut config = table.options.clone();
        config.remove("connector");
        let spec: Arc<dyn SinkSpec> =
            weir_connectors::sink_spec(&table.connector, &config).map_err(|e| table.connector_error(e))?;
        let declared = table.declared.clone();
        let line = insert.span.start.line;

        let query = self.windowed(&insert.query)?;
        let plan = self.plan_query(&query)?;
        let optimized = self.state().optimize(&plan).map_err(from_datafusion)?;
        let input = self.lower(&optimized, insert.span)?;
        self.apply_default_watermarks()?;
        let produced = input.schema();
        let (cast, schema) = match declared {
            None => (None, produced),
            Some(declared) => {
                if declared.fields().len() != produced.fields().len() {
                    return Err(Diagnostic::at(
                        format!(
                            "'{name}' has {} columns but the query produces {}",
                            declared.fields().len(),
                            produced.fields().len()
                        ),
                        insert.query.span(),
                    )
                    .with_help(format!("'{name}' expects: {}", describe_columns(&declared))));
                }
                let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
                for (i, (want, got)) in declared.fields().iter().zip(produced.fields()).enumerate() {
                    let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(got.name(), i));
                    if want.data_type() == got.data_type() {
                        exprs.push(column);
                    } else if can_cast_types(got.data_type(), want.data_type()) {
                        exprs.push(Arc::new(CastExpr::new(column, want.data_type().clone(), None)));
                    } else {
                        return Err(Diagnostic::at(
                            format!(
                                "column {} of the query ('{}', {}) cannot be written to '{}.{}', which is {}",
                                i + 1,
                                got.name(),
                                type_name(got.data_type()),
                                name,
                                want.name(),
                                type_name(want.data_type())
                            ),
                            insert.query.span(),
                        )
                        .with_help("CAST the value in the SELECT list"));
                    }
                }
                (Some((exprs, Arc::clone(&declared))), declared)
            }
        };
        // Every INSERT into one table feeds its one writer, so they must
        // write the same columns (a declared table casts each to its own).
        if let Some(first) = self.sinks.iter().find(|s| s.table == name)
            && !same_columns(&first.schema, &schema)
        {
            return Err(Diagnostic::at(
                format!(
                    "'{name}' is already written by the INSERT at line {} with columns ({}); this INSERT writes ({})",
                    first.line,
                    describe_columns(&first.schema),
                    describe_columns(&schema)
                ),
                insert.query.span(),
            )
            .with_help(format!("every INSERT into one table writes the same columns: declare '{name}' with a column list, or write to another table")));
        }
        self.sinks.push(SinkPlan { table: name, line, spec, input, cast, schema });
        Ok(())
    }

    /// Lowers an optimized logical plan to streaming nodes.
    fn lower(&self, plan: &LogicalPlan, statement: Span) -> Result<Node, Diagnostic> {
        let state = self.state();
        let unsupported = |what: &str, help: &str| Err(Diagnostic::new(what.to_string()).with_help(help.to_string()));
        match plan {
            LogicalPlan::TableScan(scan) if self.windows.contains_key(scan.table_name.table()) => {
                let Some(window) = self.windows.get(scan.table_name.table()) else {
                    return Err(Diagnostic::new("a window placeholder vanished"));
                };
                let mut node = window.clone();
                if let Some(indices) = &scan.projection {
                    let schema = Arc::new(scan.projected_schema.as_arrow().clone());
                    let exprs = indices
                        .iter()
                        .zip(schema.fields())
                        .map(|(i, f)| Arc::new(Column::new(f.name(), *i)) as Arc<dyn PhysicalExpr>)
                        .collect();
                    let texts = schema.fields().iter().map(|f| f.name().clone()).collect();
                    node = Node::new(plan::Project { exprs, texts, schema }, vec![node]);
                }
                if let Some(predicate) = scan.filters.iter().cloned().reduce(Expr::and) {
                    node = self.filter(node, predicate, &scan.projected_schema, &state)?;
                }
                Ok(node)
            }
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table().to_string();
                let Some(table) = self.table(&name) else {
                    return Err(Diagnostic::new(format!("'{name}' cannot be read")));
                };
                if table.source.is_none() {
                    let why = match &table.not_readable {
                        Some(reason) => format!("'{name}' cannot be read: {reason}"),
                        None => format!("'{name}' uses connector '{}', which can only be written to", table.connector),
                    };
                    return Err(Diagnostic::at(why, statement));
                }
                let schema = Arc::new(scan.projected_schema.as_arrow().clone());
                let scan_op = plan::Scan { table: name, projection: scan.projection.clone(), schema, rows: SourceRows::All };
                let mut node = Node::new(scan_op, Vec::new());
                if let Some(predicate) = scan.filters.iter().cloned().reduce(Expr::and) {
                    node = self.filter(node, predicate, &scan.projected_schema, &state)?;
                }
                Ok(node)
            }
            LogicalPlan::Projection(p) => {
                let input = self.lower(&p.input, statement)?;
                let in_schema = p.input.schema();
                let mut exprs = Vec::with_capacity(p.expr.len());
                let mut texts = Vec::with_capacity(p.expr.len());
                for e in &p.expr {
                    texts.push(display_expr(e));
                    exprs.push(state.create_physical_expr(e.clone(), in_schema).map_err(from_datafusion)?);
                }
                Ok(Node::new(plan::Project { exprs, texts, schema: Arc::new(p.schema.as_arrow().clone()) }, vec![input]))
            }
            LogicalPlan::Filter(f) => {
                let input = self.lower(&f.input, statement)?;
                self.filter(input, f.predicate.clone(), f.input.schema(), &state)
            }
            LogicalPlan::Union(u) => {
                let inputs = u.inputs.iter().map(|i| self.lower(i, statement)).collect::<Result<Vec<_>, _>>()?;
                Ok(Node::new(plan::Union { schema: Arc::new(u.schema.as_arrow().clone()) }, inputs))
            }
            LogicalPlan::SubqueryAlias(a) => self.lower(&a.input, statement),
            LogicalPlan::EmptyRelation(e) if !e.produce_one_row => {
                Ok(Node::new(plan::Empty { schema: Arc::new(e.schema.as_arrow().clone()) }, Vec::new()))
            }
            LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => unsupported(
                "a query without a FROM table has no stream to read",
                "read from a source table: SELECT ... FROM <table>",
            ),
            LogicalPlan::Aggregate(aggregate) => self.window_aggregate(aggregate, statement),
            LogicalPlan::Distinct(_) => unsupported(
                "SELECT DISTINCT over an unbounded stream would have to remember every row",
                "group the rows in a window: FROM TUMBLE(t, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, ...",
            ),
            LogicalPlan::Window(window) => self.over(window, statement),
            LogicalPlan::Sort(_) => unsupported(
                "ORDER BY is not supported on an unbounded stream",
                "remove ORDER BY: rows are emitted as they arrive",
            ),
            LogicalPlan::Limit(_) => unsupported(
                "LIMIT is not supported on an unbounded stream",
                "bound the source instead, for example 'events' = '1000' on a generator",
            ),
            LogicalPlan::Join(_) => unsupported("joins are not supported in this version of Weir", "use one source per query, or UNION ALL"),
            other => Err(Diagnostic::new(format!("{} is not supported on streams", other.display()))),
        }
    }

    fn filter(
        &self,
        input: Node,
        predicate: Expr,
        schema: &DFSchema,
        state: &SessionState,
    ) -> Result<Node, Diagnostic> {
        let text = display_expr(&predicate);
        let predicate = state.create_physical_expr(predicate, schema).map_err(from_datafusion)?;
        Ok(Node::new(plan::Filter { predicate, text }, vec![input]))
    }
}

/// An expression as SQL-ish text, without table qualifiers or type tags.
fn display_expr(expr: &Expr) -> String {
    let text = match expr {
        Expr::Alias(a) => return display_expr(&a.expr),
        Expr::Column(c) => return c.name.clone(),
        other => other.human_display().to_string(),
    };
    without_placeholders(&text)
}

/// Removes the qualifier of window placeholder tables (`__weir_window_0.`),
/// which the user never wrote.
fn without_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(sql::PLACEHOLDER_PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + sql::PLACEHOLDER_PREFIX.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        rest = after[digits..].strip_prefix('.').unwrap_or(&after[digits..]);
    }
    out.push_str(rest);
    out
}

/// Whether two schemas have the same column names and types.
fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields()).all(|(x, y)| x.name() == y.name() && x.data_type().equals_datatype(y.data_type()))
}

fn describe_columns(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Table {
    /// A connector's complaint, pointed at the option it is about.
    fn connector_error(&self, e: ConnectorError) -> Diagnostic {
        let span_of = |key: &str| self.option_spans.get(key).copied();
        match &e {
            ConnectorError::UnknownConnector { .. } => {
                Diagnostic::at(e.to_string(), self.connector_span)
            }
            ConnectorError::UnknownOption { key, .. } | ConnectorError::InvalidOption { key, .. } => {
                Diagnostic::at(e.to_string(), span_of(key).unwrap_or(self.options_span))
            }
            ConnectorError::MissingOption { .. } => Diagnostic::at(e.to_string(), self.options_span),
            _ => Diagnostic::at(e.to_string(), self.name_span),
        }
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

mod over;
mod windows;

/// Marks a declared column as reading the connector's metadata `key`,
/// after checking that the connector has it and that its values convert
/// to the declared type.
fn metadata_field(field: Field, key: &str, span: Span, type_span: Span, connector: &str) -> Result<Field, Diagnostic> {
    if connector != "kafka" {
        return Err(Diagnostic::at(format!("connector '{connector}' has no metadata; METADATA columns are for kafka sources"), span));
    }
    let Some(kind) = weir_connectors::KafkaMetadata::from_name(key) else {
        let names: Vec<&str> = weir_connectors::KAFKA_METADATA.iter().map(|(n, _)| *n).collect();
        let d = Diagnostic::at(format!("kafka has no metadata '{key}'"), span);
        return Err(match weir_connectors::options::closest(key, &names) {
            Some(k) => d.with_help(format!("did you mean '{k}'? kafka's metadata: {}", weir_connectors::metadata_names())),
            None => d.with_help(format!("kafka's metadata: {}", weir_connectors::metadata_names())),
        });
    };
    if !datafusion::arrow::compute::can_cast_types(&kind.data_type(), field.data_type()) {
        let expected = weir_connectors::KAFKA_METADATA.iter().find(|(n, _)| *n == key).map_or("", |(_, t)| *t);
        return Err(Diagnostic::at(
            format!("metadata '{key}' is {expected}; it cannot be read as {}", type_name(field.data_type())),
            type_span,
        ));
    }
    let metadata = std::collections::HashMap::from([(weir_connectors::METADATA_FIELD_KEY.to_string(), key.to_string())]);
    Ok(field.with_metadata(metadata))
}
