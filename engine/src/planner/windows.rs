//! Planning event-time windows: the window functions in `FROM`, the
//! windowed `GROUP BY`, and the watermarks they rely on.
//!
//! A window call becomes a placeholder table (see [`crate::sql`]) whose scan
//! lowers to a [`plan::WindowAssign`] over the windowed table or view, reading
//! only the rows ahead of the watermark. An `Aggregate` whose `GROUP BY`
//! holds both `window_start` and `window_end` of one such window lowers to a
//! [`plan::WindowAggregate`] with DataFusion's own aggregate expressions; any
//! other aggregate over a stream is rejected, because it could never emit.
//!
//! Windows need event time: the time column must trace back, through plain
//! column references, to a table's `WATERMARK FOR` column. A table without a
//! `WATERMARK` clause gets the default `col - INTERVAL '1' SECOND` on the
//! column its windows use (documented in docs/sql.md).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::{Aggregate, Expr};
use datafusion::physical_expr::expressions::Column;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::sql::sqlparser::ast::{ExprWithAlias, Ident, Query, Spanned};
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_operators::window::{AggregateSpec, GroupColumn, WindowKind};

use super::{display_expr, from_datafusion, Planner};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node, SourceRows, WatermarkPlan};
use crate::sql::{self, WindowCall, WindowFunction};

/// The out-of-orderness a table without a `WATERMARK` clause tolerates.
pub(crate) const DEFAULT_WATERMARK_DELAY: &str = "INTERVAL '1' SECOND";
const DEFAULT_DELAY_MS: i64 = 1000;

impl Planner {
    /// The query with its window calls replaced by registered placeholders.
    pub(super) fn windowed(&mut self, query: &Query) -> Result<Query, Diagnostic> {
        let mut query = query.clone();
        self.group_by.set(sql::group_by_span(&query));
        let calls = sql::extract_windows(&mut query, &mut self.next_window)?;
        for call in calls {
            self.register_window(call)?;
        }
        Ok(query)
    }

    fn register_window(&mut self, call: WindowCall) -> Result<(), Diagnostic> {
        if call.function == WindowFunction::MlPredict {
            return self.register_predict(call);
        }
        if matches!(call.function, WindowFunction::MlMetrics | WindowFunction::MlAlerts) {
            return self.register_metrics(call);
        }
        if call.function == WindowFunction::Versioned {
            return self.register_versioned(call);
        }
        let name = sql::object_name(&call.input);
        let Some(time_ident) = call.time.clone() else {
            return self.register_late_rows(&name, call);
        };
        let input = if let Some(table) = self.table(&name) {
            let Some(source) = &table.source else {
                return Err(Diagnostic::at(
                    format!("'{name}' uses connector '{}', which can only be written to", table.connector),
                    call.input.span(),
                ));
            };
            plan::Scan::node(&name, Arc::clone(&source.schema), SourceRows::OnTime)
        } else if let Some(plan) = self.view_plans.get(&name) {
            on_time(self.lower(plan, call.span)?)
        } else {
            let mut known: Vec<&str> = self.tables.iter().filter(|t| t.source.is_some()).map(|t| t.name.as_str()).collect();
            known.extend(self.views.iter().map(String::as_str));
            let d = Diagnostic::at(format!("unknown table or view '{name}'"), call.input.span());
            return Err(match weir_connectors::options::closest(&name, &known) {
                Some(k) => d.with_help(format!("did you mean '{k}'?")),
                None => d.with_help(format!("tables and views: {}", known.join(", "))),
            });
        };
        let schema = input.schema();
        let time = schema.index_of(&time_ident.value).map_err(|_| {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Diagnostic::at(format!("'{}' is not a column of '{name}'", time_ident.value), time_ident.span)
                .with_help(format!("columns: {}", columns.join(", ")))
        })?;
        let zone = match schema.field(time).data_type() {
            DataType::Timestamp(_, zone) => zone.clone(),
            other => {
                return Err(Diagnostic::at(
                    format!("the window's time column '{}' is {}, not a TIMESTAMP", time_ident.value, crate::plan::type_name(other)),
                    time_ident.span,
                )
                .with_help("window on an event-time column: declare it TIMESTAMP, or compute one in the table: ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)"));
            }
        };
        let Some(origins) = self.time_origins(&input, time) else {
            return Err(Diagnostic::at(
                format!("'{}' is computed in a view, so it has no watermark", time_ident.value),
                time_ident.span,
            )
            .with_help("window on a table's event-time column (pass it through the view unchanged), or compute it in the table: ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)"));
        };
        for (table, column) in origins {
            self.ensure_watermark(&table, &column, &time_ident)?;
        }
        let mut sizes = Vec::with_capacity(call.intervals.len());
        for interval in &call.intervals {
            sizes.push(self.interval_ms(interval)?);
        }
        let kind = match call.function {
            WindowFunction::Tumble => WindowKind::Tumble { size: sizes[0] },
            WindowFunction::Session => WindowKind::Session { gap: sizes[0] },
            WindowFunction::LateRows => return Err(Diagnostic::at("LATE_ROWS takes no time column", call.span)),
            WindowFunction::MlPredict | WindowFunction::MlMetrics | WindowFunction::MlAlerts | WindowFunction::Versioned => {
                return Err(Diagnostic::at("a model function takes no time column", call.span));
            }
            WindowFunction::Hop => {
                let (slide, size) = (sizes[0], sizes[1]);
                if size % slide != 0 {
                    return Err(Diagnostic::at(
                        format!("a HOP window's size must be a whole number of slides; size {size} ms, slide {slide} ms"),
                        call.intervals[1].span(),
                    )
                    .with_help("HOP takes the slide first, then the size: HOP(t, ts, INTERVAL '10' SECOND, INTERVAL '1' MINUTE)"));
                }
                WindowKind::Hop { size, slide }
            }
            WindowFunction::Cumulate => {
                let (step, size) = (sizes[0], sizes[1]);
                if size % step != 0 {
                    return Err(Diagnostic::at(
                        format!("a CUMULATE window's size must be a whole number of steps; size {size} ms, step {step} ms"),
                        call.intervals[1].span(),
                    )
                    .with_help("CUMULATE takes the step first, then the size: CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '10' MINUTE)"));
                }
                WindowKind::Cumulate { size, step }
            }
        };
        let bound = DataType::Timestamp(TimeUnit::Millisecond, zone);
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for column in ["window_start", "window_end"] {
            if fields.iter().any(|f| f.name() == column) {
                return Err(Diagnostic::at(format!("'{name}' already has a column '{column}'"), call.span)
                    .with_help("rename it in a view before windowing"));
            }
            fields.push(Field::new(column, bound.clone(), false));
        }
        let windowed = Arc::new(Schema::new(fields));
        let mut partition = Vec::with_capacity(call.partition.len());
        for column in &call.partition {
            if schema.index_of(&column.value).is_err() {
                let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(Diagnostic::at(format!("'{}' is not a column of '{name}'", column.value), column.span)
                    .with_help(format!("columns: {}", columns.join(", "))));
            }
            partition.push(column.value.clone());
        }
        self.ctx
            .register_table(call.placeholder.as_str(), Arc::new(EmptyTable::new(Arc::clone(&windowed))))
            .map_err(from_datafusion)?;
        self.windows
            .insert(call.placeholder, Node::new(plan::WindowAssign { kind, time, partition, schema: windowed }, vec![input]));
        Ok(())
    }

    /// `LATE_ROWS(table)`: a scan of the rows behind the table's watermark.
    fn register_late_rows(&mut self, name: &str, call: WindowCall) -> Result<(), Diagnostic> {
        let Some(source) = self.table(name).and_then(|t| t.source.as_ref()) else {
            let d = Diagnostic::at(format!("LATE_ROWS reads a source table; '{name}' is not one"), call.input.span());
            return Err(if self.views.iter().any(|v| v == name) {
                d.with_help("name the table the view reads: late rows belong to a table's watermark")
            } else {
                d
            });
        };
        if source.watermark.is_none() {
            return Err(Diagnostic::at(format!("'{name}' declares no WATERMARK, so none of its rows is late"), call.input.span())
                .with_help("declare one in the table: WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"));
        }
        let schema = Arc::clone(&source.schema);
        self.ctx
            .register_table(call.placeholder.as_str(), Arc::new(EmptyTable::new(Arc::clone(&schema))))
            .map_err(from_datafusion)?;
        self.windows.insert(
            call.placeholder,
            plan::Scan::node(name, schema, SourceRows::Late),
        );
        Ok(())
    }

    /// The tables and columns column `index` of `node` is a plain copy of,
    /// or `None` when it is computed somewhere on the way.
    pub(super) fn time_origins(&self, node: &Node, index: usize) -> Option<Vec<(String, String)>> {
        if let Some(scan) = node.op::<plan::Scan>() {
            let source = self.table(&scan.table)?.source.as_ref()?;
            let column = scan.projection.as_ref().map_or(Some(index), |p| p.get(index).copied())?;
            return Some(vec![(scan.table.clone(), source.schema.fields().get(column)?.name().clone())]);
        }
        let copies = node.copies(index);
        if copies.is_empty() {
            return None;
        }
        let mut all = Vec::new();
        for (input, column) in copies {
            all.extend(self.time_origins(node.inputs().get(input)?, column)?);
        }
        Some(all)
    }

    /// Whether column `index` of `node` is a plain copy of the event-time
    /// column (the `WATERMARK FOR`) of every table it comes from.
    pub(super) fn is_event_time(&self, node: &Node, index: usize) -> bool {
        self.time_origins(node, index).is_some_and(|origins| {
            !origins.is_empty()
                && origins.iter().all(|(t, c)| {
                    self.table(t).and_then(|t| t.source.as_ref()).and_then(|s| s.watermark.as_ref()).is_some_and(|w| &w.column == c)
                })
        })
    }

    /// Like [`Self::ensure_watermark`] while lowering: a table without a
    /// watermark gets the default once lowering is done.
    pub(super) fn require_watermark(&self, table: &str, column: &str, at: Span) -> Result<(), Diagnostic> {
        let Some(source) = self.table(table).and_then(|t| t.source.as_ref()) else {
            return Err(Diagnostic::at(format!("'{table}' cannot be read"), at));
        };
        match &source.watermark {
            Some(w) if w.column == column => Ok(()),
            Some(w) => Err(Diagnostic::at(
                format!("OVER on '{table}' must ORDER BY its event-time column '{}' (its WATERMARK FOR), not '{column}'", w.column),
                at,
            )),
            None => {
                self.defaults.borrow_mut().push((table.to_string(), column.to_string()));
                Ok(())
            }
        }
    }

    /// Gives the default watermark to the tables lowering asked for.
    pub(super) fn apply_default_watermarks(&mut self) -> Result<(), Diagnostic> {
        let defaults: Vec<(String, String)> = self.defaults.borrow_mut().drain(..).collect();
        for (table, column) in defaults {
            self.ensure_watermark(&table, &column, &Ident::new(column.clone()))?;
        }
        Ok(())
    }

    /// Checks that `column` is the watermark column of `table`, giving the
    /// table the default watermark if it declares none.
    fn ensure_watermark(&mut self, table: &str, column: &str, at: &Ident) -> Result<(), Diagnostic> {
        let state = self.state();
        let Some(source) = self.tables.iter_mut().find(|t| t.name == table).and_then(|t| t.source.as_mut()) else {
            return Err(Diagnostic::at(format!("'{table}' cannot be read"), at.span));
        };
        match &source.watermark {
            Some(w) if w.column == column => Ok(()),
            Some(w) => Err(Diagnostic::at(
                format!("windows over '{table}' must use its event-time column '{}' (its WATERMARK FOR), not '{column}'", w.column),
                at.span,
            )
            .with_help(format!("write DESCRIPTOR({})", w.column))),
            None => {
                let df = DFSchema::try_from_qualified_schema(table, &source.schema).map_err(from_datafusion)?;
                let delay = Expr::Literal(ScalarValue::new_interval_mdn(0, 0, DEFAULT_DELAY_MS * 1_000_000), None);
                let expr = datafusion::logical_expr::col(datafusion::common::Column::new(Some(table), column)) - delay;
                let delay = source.schema.field_with_name(column).ok().and_then(|f| super::tables::fixed_delay(&expr, column, f.data_type()));
                let physical = state.create_physical_expr(expr, &df).map_err(from_datafusion)?;
                source.watermark = Some(WatermarkPlan {
                    column: column.to_string(),
                    expr: physical,
                    text: format!("{column} - {DEFAULT_WATERMARK_DELAY}"),
                    delay,
                });
                source.default_watermark = true;
                Ok(())
            }
        }
    }

    /// An `INTERVAL` argument in milliseconds; must be positive and of fixed
    /// length (no months or years).
    fn interval_ms(&self, interval: &datafusion::sql::sqlparser::ast::Expr) -> Result<i64, Diagnostic> {
        let span = interval.span();
        let expr = self
            .state()
            .create_logical_expr_from_sql_expr(ExprWithAlias { expr: interval.clone(), alias: None }, &DFSchema::empty())
            .map_err(|e| from_datafusion(e).or_at(span))?;
        let not_interval = || {
            Diagnostic::at(format!("expected an INTERVAL such as INTERVAL '10' SECOND, found {interval}"), span)
        };
        let ms = match expr {
            Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
                i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000
            }
            Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
                i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds)
            }
            Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(_)) | ScalarValue::IntervalYearMonth(Some(_)), _) => {
                return Err(Diagnostic::at("months and years have no fixed length, so they cannot size a window", span)
                    .with_help("use DAY, HOUR, MINUTE or SECOND"));
            }
            _ => return Err(not_interval()),
        };
        if ms <= 0 {
            return Err(Diagnostic::at(format!("a window interval must be positive, found {interval}"), span)
                .with_help("for example INTERVAL '10' SECOND"));
        }
        Ok(ms)
    }

    /// Lowers a windowed `GROUP BY`.
    pub(super) fn window_aggregate(&self, aggregate: &Aggregate, statement: Span) -> Result<Node, Diagnostic> {
        let state = self.state();
        let input = self.lower(&aggregate.input, statement)?;
        let in_df = aggregate.input.schema();
        // Where window_start and window_end are among the group columns.
        type Bound = Option<(usize, WindowKind)>;
        let mut window: (Bound, Bound) = (None, None);
        let mut keys = Vec::new();
        let mut key_texts = Vec::new();
        let mut layout = Vec::new();
        for e in &aggregate.group_expr {
            if let Expr::GroupingSet(_) = e {
                return Err(Diagnostic::at("GROUPING SETS, CUBE and ROLLUP are not supported on streams", self.group_by.get().unwrap_or(statement)));
            }
            if let Expr::Column(c) = e {
                let index = in_df.index_of_column(c).map_err(from_datafusion)?;
                // A window function's bounds, or those of a windowed
                // aggregate's rows: an aggregate of aggregates per window
                // (Nexmark's q5), whose rows come as their windows close,
                // ahead of the watermark.
                match super::joins::window_bound(&input, index) {
                    Some((kind, true)) => {
                        window.0 = Some((index, kind));
                        layout.push(GroupColumn::WindowStart);
                        continue;
                    }
                    Some((kind, false)) => {
                        window.1 = Some((index, kind));
                        layout.push(GroupColumn::WindowEnd);
                        continue;
                    }
                    None => {}
                }
            }
            keys.push(state.create_physical_expr(e.clone(), in_df).map_err(from_datafusion)?);
            key_texts.push(display_expr(e));
            layout.push(GroupColumn::Key(keys.len() - 1));
        }
        let at = self.group_by.get().unwrap_or(statement);
        let (start, end, kind) = match window {
            (Some((start, a)), Some((end, b))) if a == b => (start, end, a),
            _ if !has_window(&input) && aggregate.aggr_expr.is_empty() => {
                return Err(Diagnostic::at(
                    "SELECT DISTINCT, or GROUP BY without aggregates, over an unbounded stream needs an event-time window, or it would have to remember every row",
                    at,
                )
                .with_help("deduplicate per window: SELECT window_start, window_end, k FROM TUMBLE(t, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, k"));
            }
            _ if !has_window(&input) => {
                return Err(Diagnostic::at(
                    "an aggregate over an unbounded stream needs an event-time window, or it could never emit a result",
                    at,
                )
                .with_help("aggregate per window: SELECT window_start, window_end, k, count(*) FROM TUMBLE(t, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, k"));
            }
            _ => {
                return Err(Diagnostic::at("a windowed aggregate must GROUP BY both window_start and window_end", at)
                    .with_help("add them: GROUP BY window_start, window_end, <keys>"));
            }
        };
        self.check_partition(&input, start, &aggregate.group_expr, at)?;
        let physical_input = in_df.as_arrow();
        let planning = PhysicalPlanningContext::default();
        let mut aggregates = Vec::with_capacity(aggregate.aggr_expr.len());
        let mut aggregate_texts = Vec::with_capacity(aggregate.aggr_expr.len());
        for e in &aggregate.aggr_expr {
            let lowered = LoweredAggregateBuilder::new(e, in_df, physical_input, state.execution_props(), &planning)
                .build()
                .map_err(from_datafusion)?;
            aggregates.push(AggregateSpec { expr: lowered.aggregate, filter: lowered.filter });
            aggregate_texts.push(display_expr(e));
        }
        let op = plan::WindowAggregate {
            kind,
            start,
            end,
            keys,
            key_texts,
            layout,
            aggregates,
            aggregate_texts,
            schema: Arc::new(aggregate.schema.as_arrow().clone()),
        };
        Ok(Node::new(op, vec![input]))
    }
}

impl Planner {
    /// A `SESSION(... PARTITION BY k ...)` is grouped by exactly its
    /// partition columns: sessions are formed per group key.
    fn check_partition(&self, input: &Node, start: usize, group: &[Expr], at: Span) -> Result<(), Diagnostic> {
        let Some((window, _)) = window_of(input, start) else { return Ok(()) };
        if window.partition.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<String> = group
            .iter()
            .filter_map(|e| match e {
                Expr::Column(c) if c.name != "window_start" && c.name != "window_end" => Some(c.name.clone()),
                Expr::Column(_) => None,
                other => Some(display_expr(other)),
            })
            .collect();
        let mut partition = window.partition.clone();
        keys.sort();
        partition.sort();
        if keys == partition {
            return Ok(());
        }
        let list = window.partition.join(", ");
        Err(Diagnostic::at(
            format!("sessions are formed per PARTITION BY key ({list}), so the query must GROUP BY exactly those columns, found {}", if keys.is_empty() { "none".to_string() } else { keys.join(", ") }),
            at,
        )
        .with_help(format!("GROUP BY window_start, window_end, {list}")))
    }
}

/// Whether `node` works row by row on its inputs' columns (a projection, a
/// filter, a union): what a window placeholder may look through.
fn row_wise(node: &Node) -> bool {
    node.op::<plan::Project>().is_some() || node.op::<plan::Filter>().is_some() || node.op::<plan::Union>().is_some()
}

/// Marks every scan under `node` as reading only rows ahead of the watermark.
pub(super) fn on_time(node: Node) -> Node {
    if let Some(scan) = node.op::<plan::Scan>() {
        return Node::new(plan::Scan { rows: SourceRows::OnTime, ..scan.clone() }, Vec::new());
    }
    if row_wise(&node) {
        let inputs = node.inputs().iter().cloned().map(on_time).collect();
        return node.with_inputs(inputs);
    }
    node
}

/// The window function column `index` of `node` is the `window_start`
/// (true) or `window_end` (false) of.
pub(super) fn window_of(node: &Node, index: usize) -> Option<(&plan::WindowAssign, bool)> {
    if let Some(project) = node.op::<plan::Project>() {
        let column = project.exprs.get(index)?.downcast_ref::<Column>()?;
        return window_of(node.inputs().first()?, column.index());
    }
    if node.op::<plan::Filter>().is_some() {
        return window_of(node.inputs().first()?, index);
    }
    let window = node.op::<plan::WindowAssign>()?;
    let n = window.schema.fields().len();
    (index + 2 == n).then_some((window, true)).or((index + 1 == n).then_some((window, false)))
}

fn has_window(node: &Node) -> bool {
    node.op::<plan::WindowAssign>().is_some() || (row_wise(node) && node.inputs().iter().any(has_window))
}
