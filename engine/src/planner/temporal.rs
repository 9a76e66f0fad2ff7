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
//!
//! A condition on the versioned table's columns alone is applied after
//! the join has picked the version valid at the row's time, as Flink does
//! (FLINK-28988): filtering versions before the join would change which
//! one is the latest. DataFusion would push such a condition into the
//! join's right input, so before optimizing it is wrapped in
//! [`AfterJoin`], which also names the stream's `AS OF` column and so
//! stays in the join's condition or above the join. An upsert-kafka
//! table's deletion marker is kept for the operator the same way, and
//! dropped from what the query returns.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Filter, Join, JoinType, LogicalPlan, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use weir_connectors::upsert::DELETED_COLUMN;
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
    /// the not yet optimized `plan`, keeps conditions on the versioned
    /// table's columns after the join and its deletion marker for the
    /// operator only (see the module documentation).
    pub(super) fn with_as_of(&self, plan: LogicalPlan) -> Result<LogicalPlan, Diagnostic> {
        if self.versioned.is_empty() {
            return Ok(plan);
        }
        let mut failed: Option<Diagnostic> = None;
        let done = plan.transform_up(|node| {
            if failed.is_some() {
                return Ok(Transformed::no(node));
            }
            // Every node's schema follows its inputs' (a projection above
            // may have dropped the deletion marker).
            let node = node.recompute_schema()?;
            match node {
                LogicalPlan::Join(join) => {
                    if let Some(v) = self.versioned_in(&join.left) {
                        failed = Some(
                            Diagnostic::at("the versioned table of a temporal join is its right input", v.span)
                                .with_help("write stream JOIN versioned FOR SYSTEM_TIME AS OF stream.ts AS v ON ..."),
                        );
                        return Ok(Transformed::no(LogicalPlan::Join(join)));
                    }
                    let Some(v) = self.versioned_in(&join.right) else { return Ok(Transformed::no(LogicalPlan::Join(join))) };
                    if !matches!(join.join_type, JoinType::Inner | JoinType::Left) {
                        failed = Some(
                            Diagnostic::at(format!("a temporal join is INNER or LEFT, not {}", join.join_type.to_string().to_uppercase()), v.span)
                                .with_help("keep the stream's rows without a version with a LEFT JOIN"),
                        );
                        return Ok(Transformed::no(LogicalPlan::Join(join)));
                    }
                    let Some(version) = self.event_time_of(&join.right) else { return Ok(Transformed::no(LogicalPlan::Join(join))) };
                    let anchor = Expr::Column(v.as_of.clone());
                    let mut conjuncts: Vec<Expr> = join.filter.clone().map(split_conjunction_owned).unwrap_or_default();
                    conjuncts = conjuncts.into_iter().map(|c| after_join_if_right_only(c, &join.left, &join.right, &anchor)).collect();
                    conjuncts.push(Expr::Column(version).lt_eq(anchor.clone()));
                    if let Some(deleted) = deleted_column(join.right.schema()) {
                        conjuncts.push(after_join(Expr::Not(Box::new(Expr::Column(deleted))), anchor));
                    }
                    Ok(Transformed::yes(LogicalPlan::Join(Join { filter: conjunction(conjuncts), ..join }).recompute_schema()?))
                }
                LogicalPlan::Filter(filter) => {
                    let LogicalPlan::Join(join) = filter.input.as_ref() else { return Ok(Transformed::no(LogicalPlan::Filter(filter))) };
                    let Some(v) = self.versioned_in(&join.right) else { return Ok(Transformed::no(LogicalPlan::Filter(filter))) };
                    let anchor = Expr::Column(v.as_of.clone());
                    let conjuncts: Vec<Expr> = split_conjunction_owned(filter.predicate.clone())
                        .into_iter()
                        .map(|c| after_join_if_right_only(c, &join.left, &join.right, &anchor))
                        .collect();
                    let predicate = conjunction(conjuncts).unwrap_or(filter.predicate.clone());
                    Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(predicate, Arc::clone(&filter.input))?)))
                }
                LogicalPlan::Projection(projection) => {
                    let hidden = |e: &Expr| matches!(e, Expr::Column(c) if c.name == DELETED_COLUMN);
                    let exprs: Vec<Expr> = projection.expr.iter().filter(|e| !hidden(e)).cloned().collect();
                    Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, projection.input)?)))
                }
                other => Ok(Transformed::yes(other)),
            }
        });
        if let Some(d) = failed {
            return Err(d);
        }
        done.map(|t| t.data).map_err(from_datafusion)
    }

    /// Refuses a condition on the versioned table's columns that the
    /// optimizer moved below the temporal join anyway (from a query
    /// around the one that joins), which would filter versions before
    /// the join picks one; conditions on the join keys alone are the same
    /// either way.
    fn no_filter_below(&self, join: &Join, v: &Versioned) -> Result<(), Diagnostic> {
        let keys: Vec<String> = join.on.iter().flat_map(|(_, r)| r.column_refs().into_iter().map(|c| c.name.clone())).collect();
        let mut below: Option<String> = None;
        let _ = join.right.apply(|node| {
            let predicates: Vec<&Expr> = match node {
                LogicalPlan::Filter(f) => vec![&f.predicate],
                LogicalPlan::TableScan(scan) => scan.filters.iter().collect(),
                _ => Vec::new(),
            };
            for p in predicates {
                if p.column_refs().iter().any(|c| !keys.contains(&c.name)) {
                    below = Some(super::lower::display_expr(p));
                }
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
        match below {
            None => Ok(()),
            Some(condition) => Err(Diagnostic::at(
                format!(
                    "the condition {condition} on the versioned table '{}' would filter its versions before the temporal join picks the one valid at each row's time",
                    v.table
                ),
                v.span,
            )
            .with_help("write it in the ON clause or the WHERE of the query that joins, where it applies to the version the join picked (as in Flink)")),
        }
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
        self.no_filter_below(join, &v)?;
        let deleted = inputs[1].fields().iter().position(|f| f.name() == DELETED_COLUMN);
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
            deleted,
            schema: std::sync::Arc::new(join.schema.as_arrow().clone()),
        };
        Ok(Some(Node::new(op, vec![left, right])))
    }
}

/// The deletion marker among `schema`'s columns (an upsert table's).
fn deleted_column(schema: &DFSchema) -> Option<Column> {
    schema.columns().into_iter().find(|c| c.name == DELETED_COLUMN)
}

/// `condition` kept after the join when it reads only the versioned
/// table's (`right`'s) columns.
fn after_join_if_right_only(condition: Expr, left: &LogicalPlan, right: &LogicalPlan, anchor: &Expr) -> Expr {
    let columns = condition.column_refs();
    let right_only = !columns.is_empty()
        && columns.iter().all(|c| right.schema().has_column(c) && !left.schema().has_column(c));
    if right_only {
        after_join(condition, anchor.clone())
    } else {
        condition
    }
}

/// `condition`, evaluated where the temporal join is: [`AfterJoin`].
fn after_join(condition: Expr, anchor: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(AfterJoin::default())), vec![condition, anchor]))
}

/// The condition `e` as written: without [`AfterJoin`] around its parts
/// and without the deletion marker's test (`weir check` says it in words).
pub(super) fn unwrapped(e: &Expr) -> Expr {
    let shown = split_conjunction_owned(e.clone())
        .into_iter()
        .filter(|c| !c.column_refs().iter().any(|col| col.name == DELETED_COLUMN))
        .map(|c| {
            let original = c.clone();
            c.transform(|e| match e {
                Expr::ScalarFunction(f) if f.name() == AFTER_JOIN && !f.args.is_empty() => {
                    Ok(Transformed::yes(f.args.into_iter().next().unwrap_or_else(|| Expr::Literal(datafusion::common::ScalarValue::Boolean(Some(true)), None))))
                }
                other => Ok(Transformed::no(other)),
            })
            .map_or(original, |t| t.data)
        });
    conjunction(shown).unwrap_or_else(|| Expr::Literal(datafusion::common::ScalarValue::Boolean(Some(true)), None))
}

const AFTER_JOIN: &str = "__weir_after_join";

/// `__weir_after_join(condition, anchor)`: the condition's value. Its
/// second argument, a column of the join's stream side, makes the call
/// read both inputs, so DataFusion leaves it in the temporal join's
/// condition (or above the join) rather than pushing it into the
/// versioned table's input.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AfterJoin {
    signature: Signature,
}

impl Default for AfterJoin {
    fn default() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for AfterJoin {
    fn name(&self) -> &str {
        AFTER_JOIN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::common::Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(condition) => Ok(condition),
            None => datafusion::common::exec_err!("{AFTER_JOIN} takes a condition"),
        }
    }
}
