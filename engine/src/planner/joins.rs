//! `JOIN`: two streams joined on keys and an event-time bound (Flink's
//! interval join).
//!
//! DataFusion plans the join: the equalities between the inputs become its
//! keys and the rest of the condition its filter. Weir then finds, among
//! the filter's conjuncts, the bounds on `right.ts - left.ts` between the
//! two inputs' event-time columns (`BETWEEN`, `>=`, `<=`, `>`, `<`, with
//! `± INTERVAL` on either side): they say how long a row must be held. The
//! whole filter, bounds included, still decides which pairs join, so the
//! result is the batch join's.

use datafusion::common::{Column, DFSchema, NullEquality, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Join, JoinType, Operator};
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_operators::join::JoinKind;

use super::windows::on_time;
use super::{display_expr, from_datafusion, to_span, Planner};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node};

/// `col + offset_ms` for a column of one input, or a constant.
struct Linear {
    column: Option<(usize, Column)>,
    offset_ms: i64,
}

/// A bound `right.ts - left.ts >= lower` or `<= upper` between two columns.
struct Bound {
    left: Column,
    right: Column,
    lower: Option<i64>,
    upper: Option<i64>,
}

/// Where an expression is in the statement, when DataFusion kept it.
fn span_of(expr: &Expr) -> Option<Span> {
    // The first column in the text (column_refs is a set: no order).
    let spans = expr.column_refs().into_iter().filter_map(|c| c.spans().first());
    spans.min_by_key(|s| (s.start.line, s.start.column)).map(|s| to_span(&s))
}

/// An interval or duration literal in milliseconds (`None`: not one, or a
/// month-based interval, whose length varies).
fn interval_ms(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds.div_euclid(1_000_000))
        }
        ScalarValue::IntervalDayTime(Some(v)) => Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds)),
        ScalarValue::DurationSecond(Some(v)) => v.checked_mul(1000),
        ScalarValue::DurationMillisecond(Some(v)) => Some(*v),
        ScalarValue::DurationMicrosecond(Some(v)) => Some(v.div_euclid(1000)),
        ScalarValue::DurationNanosecond(Some(v)) => Some(v.div_euclid(1_000_000)),
        _ => None,
    }
}

/// `expr` as a column of input 0 or 1 (by which schema has it) plus a
/// constant interval, when it is one.
fn linear(expr: &Expr, inputs: [&DFSchema; 2]) -> Option<Linear> {
    match expr {
        Expr::Column(c) => {
            let side = inputs.iter().position(|s| s.has_column(c))?;
            Some(Linear { column: Some((side, c.clone())), offset_ms: 0 })
        }
        Expr::Cast(c) => linear(&c.expr, inputs),
        Expr::TryCast(c) => linear(&c.expr, inputs),
        Expr::Literal(v, _) => Some(Linear { column: None, offset_ms: interval_ms(v)? }),
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::Plus | Operator::Minus), right }) => {
            let (a, b) = (linear(left, inputs)?, linear(right, inputs)?);
            if b.column.is_some() {
                return None;
            }
            let offset = if *op == Operator::Plus { a.offset_ms.checked_add(b.offset_ms)? } else { a.offset_ms.checked_sub(b.offset_ms)? };
            Some(Linear { column: a.column, offset_ms: offset })
        }
        _ => None,
    }
}

/// Adds what `lhs op rhs` says about `right.ts - left.ts` to `bound`.
fn add_bound(lhs: &Expr, op: Operator, rhs: &Expr, inputs: [&DFSchema; 2], bound: &mut Option<Bound>) {
    let (Some(a), Some(b)) = (linear(lhs, inputs), linear(rhs, inputs)) else { return };
    let (Some((sa, ca)), Some((sb, cb))) = (a.column, b.column) else { return };
    // a + x op b + y, with a and b on different inputs.
    let (left, right, op, c) = match (sa, sb) {
        // right + x op left + y  =>  right - left op y - x
        (1, 0) => (cb, ca, op, b.offset_ms - a.offset_ms),
        // left + x op right + y  =>  right - left (flipped op) x - y
        (0, 1) => (ca, cb, op.swap().unwrap_or(op), a.offset_ms - b.offset_ms),
        _ => return,
    };
    let b = bound.get_or_insert_with(|| Bound { left: left.clone(), right: right.clone(), lower: None, upper: None });
    if b.left != left || b.right != right {
        return;
    }
    match op {
        Operator::Gt | Operator::GtEq => b.lower = Some(b.lower.map_or(c, |l| l.max(c))),
        Operator::Lt | Operator::LtEq => b.upper = Some(b.upper.map_or(c, |u| u.min(c))),
        _ => {}
    }
}

/// The time bound of a join condition, from its conjuncts.
fn time_bound(filter: &Expr, inputs: [&DFSchema; 2]) -> Option<Bound> {
    let mut bound = None;
    for conjunct in split_conjunction(filter) {
        match conjunct {
            Expr::Between(Between { expr, negated: false, low, high }) => {
                add_bound(expr, Operator::GtEq, low, inputs, &mut bound);
                add_bound(expr, Operator::LtEq, high, inputs, &mut bound);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => add_bound(left, *op, right, inputs, &mut bound),
            _ => {}
        }
    }
    bound
}

/// A key as written, with its table's alias (`r.sensor_id`).
fn qualified(expr: &Expr) -> String {
    match expr {
        Expr::Column(c) => c.flat_name(),
        other => display_expr(other),
    }
}

/// An interval of `ms` milliseconds as SQL (`INTERVAL '90' SECOND`).
fn interval_sql(ms: i64) -> String {
    let units = [(86_400_000, "DAY"), (3_600_000, "HOUR"), (60_000, "MINUTE"), (1000, "SECOND")];
    match units.iter().find(|(size, _)| ms % size == 0) {
        Some((size, unit)) => format!("INTERVAL '{}' {unit}", ms / size),
        None => format!("INTERVAL '{}' SECOND", ms as f64 / 1000.0),
    }
}

/// The condition as text, its intervals written as SQL.
fn readable(expr: &Expr) -> String {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let shown = expr.clone().transform(|e| {
        Ok(match &e {
            Expr::Literal(v, _) => match interval_ms(v) {
                Some(ms) => Transformed::yes(Expr::Column(Column::from_name(interval_sql(ms)))),
                None => Transformed::no(e),
            },
            _ => Transformed::no(e),
        })
    });
    shown.map_or_else(|_| display_expr(expr), |t| display_expr(&t.data))
}

const BOUND_HINT: &str = "bound the time between the inputs' event-time columns: \
    ON a.k = b.k AND b.ts BETWEEN a.ts - INTERVAL '1' MINUTE AND a.ts + INTERVAL '1' MINUTE";

impl Planner {
    /// Lowers a join of two streams.
    pub(super) fn join(&self, join: &Join, statement: Span) -> Result<Node, Diagnostic> {
        let at = |e: Option<&Expr>| e.and_then(span_of).unwrap_or(statement);
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            JoinType::Right => JoinKind::Right,
            JoinType::Full => JoinKind::Full,
            other => {
                return Err(Diagnostic::at(format!("{other} joins are not supported on streams"), statement)
                    .with_help("write an INNER, LEFT, RIGHT or FULL OUTER JOIN"))
            }
        };
        if join.null_equality != NullEquality::NullEqualsNothing {
            return Err(Diagnostic::at("a stream join's keys never match NULL", statement));
        }
        let condition = join.filter.as_ref();
        if join.on.is_empty() {
            return Err(Diagnostic::at("a join of two streams needs an equality between their keys", at(condition))
                .with_help("join on keys as well as time: ON a.sensor_id = b.sensor_id AND b.ts BETWEEN ..."));
        }
        let inputs = [join.left.schema().as_ref(), join.right.schema().as_ref()];
        let Some(bound) = condition.and_then(|f| time_bound(f, inputs)) else {
            let what = if kind == JoinKind::Inner { "an inner join of two streams without a time bound" } else { "an outer join of two streams without a time bound" };
            return Err(Diagnostic::at(format!("{what} would hold every row forever"), at(join.on.first().map(|(l, _)| l)))
                .with_help(BOUND_HINT));
        };
        let (Some(lower), Some(upper)) = (bound.lower, bound.upper) else {
            let missing = if bound.lower.is_none() { "a lower" } else { "an upper" };
            return Err(Diagnostic::at(
                format!("the join bounds {} - {} on one side only; it needs {missing} bound too", bound.right.flat_name(), bound.left.flat_name()),
                at(condition),
            )
            .with_help(BOUND_HINT));
        };
        if lower > upper {
            return Err(Diagnostic::at(
                format!(
                    "the join's time bounds exclude every pair: {} - {} would have to be at least {lower} ms and at most {upper} ms",
                    bound.right.flat_name(),
                    bound.left.flat_name()
                ),
                at(condition),
            )
            .with_help("swap the bounds: BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ..."));
        }
        let left = on_time(self.lower(&join.left, statement)?);
        let right = on_time(self.lower(&join.right, statement)?);
        let mut time = [0; 2];
        for (side, (column, node)) in [(&bound.left, &left), (&bound.right, &right)].into_iter().enumerate() {
            let index = inputs[side].index_of_column(column).map_err(from_datafusion)?;
            if !self.is_event_time(node, index) {
                let d = Diagnostic::at(
                    format!("the join's time bound is on '{}', which is not the event-time column (WATERMARK FOR) of the table it comes from", column.name),
                    column.spans().first().map_or(statement, |s| to_span(&s)),
                );
                return Err(d.with_help("bound the inputs' event-time columns, and declare them: WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"));
            }
            time[side] = index;
        }
        let state = self.state();
        let mut keys = [Vec::new(), Vec::new()];
        let mut key_texts = Vec::new();
        for (l, r) in &join.on {
            keys[0].push(state.create_physical_expr(l.clone(), inputs[0]).map_err(from_datafusion)?);
            keys[1].push(state.create_physical_expr(r.clone(), inputs[1]).map_err(from_datafusion)?);
            key_texts.push(format!("{} = {}", qualified(l), qualified(r)));
        }
        let (filter, filter_text) = match condition {
            Some(f) => (Some(state.create_physical_expr(f.clone(), &join.schema).map_err(from_datafusion)?), readable(f)),
            None => (None, "none".to_string()),
        };
        let op = plan::IntervalJoin {
            kind,
            keys,
            key_texts,
            time,
            time_texts: [bound.left.flat_name(), bound.right.flat_name()],
            lower_ms: lower,
            upper_ms: upper,
            filter,
            filter_text,
            schema: std::sync::Arc::new(join.schema.as_arrow().clone()),
        };
        Ok(Node::new(op, vec![left, right]))
    }
}
