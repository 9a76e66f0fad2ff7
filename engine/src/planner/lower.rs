//! Lowering DataFusion's optimized logical plan to Weir's plan nodes.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node, SourceRows};
use crate::sql;

use super::{from_datafusion, Planner};

impl Planner {
    /// Lowers an optimized logical plan to streaming nodes.
    pub(super) fn lower(&self, plan: &LogicalPlan, statement: Span) -> Result<Node, Diagnostic> {
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
                if table.source.as_ref().is_some_and(|s| s.schema.index_of(weir_connectors::upsert::DELETED_COLUMN).is_ok()) {
                    return Err(Diagnostic::at(
                        format!("'{name}' is an upsert-kafka table: a changelog of each key's latest value, which Weir reads only as the versioned table of a temporal join"),
                        statement,
                    )
                    .with_help(format!("join a stream with it: FROM s JOIN {name} FOR SYSTEM_TIME AS OF s.ts AS v ON s.k = v.k")));
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
            LogicalPlan::Join(join) => self.join(join, statement),
            other => Err(Diagnostic::new(format!("{} is not supported on streams", other.display()))),
        }
    }

    pub(super) fn filter(
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
pub(super) fn display_expr(expr: &Expr) -> String {
    let text = match expr {
        Expr::Alias(a) => return display_expr(&a.expr),
        Expr::Column(c) => return c.name.clone(),
        other => other.human_display().to_string(),
    };
    without_placeholders(&text)
}

/// Removes the qualifier of window placeholder tables (`__weir_window_0.`),
/// which the user never wrote.
pub(super) fn without_placeholders(text: &str) -> String {
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
