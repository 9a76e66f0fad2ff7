//! `s JOIN v FOR SYSTEM_TIME AS OF s.ts AS x ON s.k = x.k`: Flink's
//! event-time temporal join of a stream with a versioned table (one that
//! declares a `PRIMARY KEY ... NOT ENFORCED` and a watermark).
//!
//! The tokenizer turns `v FOR SYSTEM_TIME AS OF s.ts` into a table
//! function call and the window extraction into a placeholder table,
//! registered here with what it stands for. Before DataFusion optimizes
//! the query, the join's condition gains `x.version_ts <= s.ts`: it is
//! true of the version a row joins, and it keeps the version time column,
//! which the operator needs, from being pruned. Lowering then recognizes
//! the placeholder under the join's right input.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Column;
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan};
use datafusion::sql::sqlparser::ast::Spanned;
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_operators::join::JoinKind;

use super::windows::on_time;
use super::{from_datafusion, to_span, Planner};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node, SourceRows};
use crate::sql::WindowCall;

/// What a `FOR SYSTEM_TIME AS OF` placeholder stands for.
#[derive(Debug, Clone)]
pub(super) struct Versioned {
    /// The versioned table.
    pub table: String,
    /// The `AS OF` column, as written (`s.ts`).
    pub as_of: Column,
    /// Where the clause is.
    pub span: Span,
}

const VERSIONED_HINT: &str = "declare the table's key and version time: \
    PRIMARY KEY (sensor_id) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND";

impl Planner {
    /// Registers `v FOR SYSTEM_TIME AS OF s.ts` as a scan of `v`.
    pub(super) fn register_versioned(&mut self, call: WindowCall) -> Result<(), Diagnostic> {
        let name = crate::sql::object_name(&call.input);
        let at = call.input.span();
        let Some(source) = self.table(&name).and_then(|t| t.source.as_ref()) else {
            return Err(Diagnostic::at(format!("FOR SYSTEM_TIME AS OF reads a versioned source table; '{name}' is not one"), at)
                .with_help(VERSIONED_HINT));
        };
        if source.primary_key.is_empty() || source.watermark.is_none() {
            let missing = if source.primary_key.is_empty() { "PRIMARY KEY" } else { "WATERMARK" };
            return Err(Diagnostic::at(format!("'{name}' is not a versioned table: it declares no {missing}"), at).with_help(VERSIONED_HINT));
        }
        let schema = std::sync::Arc::clone(&source.schema);
        self.ctx
            .register_table(call.placeholder.as_str(), std::sync::Arc::new(EmptyTable::new(std::sync::Arc::clone(&schema))))
            .map_err(from_datafusion)?;
        let as_of = match call.as_of.as_slice() {
            [column] => Column::from_name(column.value.clone()),
            [qualifier @ .., column] => {
                let qualifier: Vec<&str> = qualifier.iter().map(|i| i.value.as_str()).collect();
                Column::new(Some(qualifier.join(".")), column.value.clone())
            }
            [] => return Err(Diagnostic::at("FOR SYSTEM_TIME AS OF takes a column", call.span)),
        };
        self.windows.insert(call.placeholder.clone(), plan::Scan::node(&name, schema, SourceRows::OnTime));
        self.versioned.insert(call.placeholder, Versioned { table: name, as_of, span: call.span });
        Ok(())
    }

    /// The versioned table `plan` reads, when it is a placeholder of one
    /// (through aliases, projections and filters).
    fn versioned_in(&self, plan: &LogicalPlan) -> Option<&Versioned> {
        match plan {
            LogicalPlan::TableScan(scan) => self.versioned.get(scan.table_name.table()),
            LogicalPlan::SubqueryAlias(_) | LogicalPlan::Projection(_) | LogicalPlan::Filter(_) => {
                plan.inputs().first().and_then(|i| self.versioned_in(i))
            }
            _ => None,
        }
    }

    /// Adds `version_ts <= as_of` to every temporal join's condition of
    /// the not yet optimized `plan` (see the module documentation).
    pub(super) fn with_as_of(&self, plan: LogicalPlan) -> Result<LogicalPlan, Diagnostic> {
        if self.versioned.is_empty() {
            return Ok(plan);
        }
        let mut failed: Option<Diagnostic> = None;
        let done = plan.transform_up(|node| {
            let LogicalPlan::Join(join) = &node else { return Ok(Transformed::no(node)) };
            if failed.is_some() {
                return Ok(Transformed::no(node));
            }
            if let Some(v) = self.versioned_in(&join.left) {
                failed = Some(
                    Diagnostic::at("the versioned table of a temporal join is its right input", v.span)
                        .with_help("write stream JOIN versioned FOR SYSTEM_TIME AS OF stream.ts AS v ON ..."),
                );
                return Ok(Transformed::no(node));
            }
            let Some(v) = self.versioned_in(&join.right) else { return Ok(Transformed::no(node)) };
            if !matches!(join.join_type, JoinType::Inner | JoinType::Left) {
                failed = Some(
                    Diagnostic::at(format!("a temporal join is INNER or LEFT, not {}", join.join_type.to_string().to_uppercase()), v.span)
                        .with_help("keep the stream's rows without a version with a LEFT JOIN"),
                );
                return Ok(Transformed::no(node));
            }
            let Some(version) = self.event_time_of(&join.right) else { return Ok(Transformed::no(node)) };
            let bound = Expr::Column(version).lt_eq(Expr::Column(v.as_of.clone()));
            Ok(super::joins::with_conjunct(node, bound))
        });
        if let Some(d) = failed {
            return Err(d);
        }
        done.map(|t| t.data).map_err(from_datafusion)
    }

    /// Lowers `join` when its right input is a versioned table.
    pub(super) fn temporal(&self, join: &Join, kind: JoinKind, statement: Span) -> Result<Option<Node>, Diagnostic> {
        let Some(v) = self.versioned_in(&join.right).cloned() else { return Ok(None) };
        let inputs = [join.left.schema().as_ref(), join.right.schema().as_ref()];
        let left = on_time(self.lower(&join.left, statement)?);
        let right = on_time(self.lower(&join.right, statement)?);
        let not_event_time = || {
            Diagnostic::at(
                format!("a temporal join is AS OF the event-time column (WATERMARK FOR) of its stream, and '{}' is not", v.as_of.flat_name()),
                v.as_of.spans().first().map_or(v.span, |s| to_span(&s)),
            )
            .with_help("write FOR SYSTEM_TIME AS OF s.ts, with ts the stream's event-time column")
        };
        let row_time = inputs[0].index_of_column(&v.as_of).map_err(|_| not_event_time())?;
        if !self.is_event_time(&left, row_time) {
            return Err(not_event_time());
        }
        let version = self.event_time_of(&join.right).and_then(|c| inputs[1].index_of_column(&c).ok());
        let Some(version_time) = version else {
            return Err(Diagnostic::at(format!("the version time of '{}' is not among the join's columns", v.table), v.span));
        };
        let super::joins::JoinKeys { keys, key_texts, filter, filter_text } = self.join_keys(join)?;
        let name = |schema: &datafusion::common::DFSchema, i: usize| {
            let (qualifier, field) = schema.qualified_field(i);
            Column::new(qualifier.cloned(), field.name()).flat_name()
        };
        let op = plan::TemporalJoin {
            kind,
            keys,
            key_texts,
            time: [row_time, version_time],
            time_texts: [name(inputs[0], row_time), name(inputs[1], version_time)],
            filter,
            filter_text,
            schema: std::sync::Arc::new(join.schema.as_arrow().clone()),
        };
        Ok(Some(Node::new(op, vec![left, right])))
    }
}
