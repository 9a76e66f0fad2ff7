//! `JOIN`: two streams joined on keys, in one of Flink's three forms.
//!
//! DataFusion plans the join: the equalities between the inputs become its
//! keys and the rest of the condition its filter. What is left to Weir is
//! how long a row must be held, which the form says (checked in this
//! order):
//! - a *table join* has an input that ends and declares no watermark (a
//!   file read once): that input is held whole and the stream's rows are
//!   joined once it has ended;
//! - a *window join* equates both inputs' `window_start` and `window_end`
//!   (of the same windows, on raw rows or windowed aggregates): a row is
//!   held until its window closes;
//! - an *interval join* bounds `right.ts - left.ts` between the inputs'
//!   event-time columns among the filter's conjuncts (`BETWEEN`, `>=`,
//!   `<=`, `>`, `<`, with `± INTERVAL` on either side);
//! - an *unbounded* inner join holds rows forever (with a warning); with
//!   `table.exec.state.ttl` it is given a bound of the TTL either way
//!   before DataFusion optimizes it, and becomes an interval join. Outer
//!   joins need a bound.
//!
//! The whole filter, bounds included, still decides which pairs join, so
//! the result is the batch join's.

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano};
use datafusion::common::{Column, DFSchema, NullEquality, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Join, JoinType, LogicalPlan, Operator};
use datafusion::sql::sqlparser::tokenizer::Span;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use weir_operators::join::JoinKind;
use weir_operators::window::{GroupColumn, WindowKind};

use super::windows::{on_time, window_of};
use super::{display_expr, from_datafusion, to_span, Planner};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, JoinForm, Node};

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
    if !matches!(op, Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq) {
        return;
    }
    let (Some(a), Some(b)) = (linear(lhs, inputs), linear(rhs, inputs)) else { return };
    let (Some((sa, ca)), Some((sb, cb))) = (a.column, b.column) else { return };
    // Only times bound a join: `a.volume < b.volume` is just a condition.
    let is_time = |side: usize, c: &Column| {
        inputs[side].index_of_column(c).is_ok_and(|i| matches!(inputs[side].field(i).data_type(), DataType::Timestamp(..) | DataType::Date32 | DataType::Date64))
    };
    if !is_time(sa, &ca) || !is_time(sb, &cb) {
        return;
    }
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
    let expr = &super::temporal::unwrapped(expr);
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

/// The window a column of `node` bounds: `window_start` (true) or
/// `window_end` (false) of a window function's rows or of a windowed
/// aggregate's, seen through projections and filters.
pub(super) fn window_bound(node: &Node, index: usize) -> Option<(WindowKind, bool)> {
    if let Some(project) = node.op::<plan::Project>() {
        let column = project.exprs.get(index)?.downcast_ref::<PhysicalColumn>()?;
        return window_bound(node.inputs().first()?, column.index());
    }
    if node.op::<plan::Filter>().is_some() {
        return window_bound(node.inputs().first()?, index);
    }
    if let Some(aggregate) = node.op::<plan::WindowAggregate>() {
        return match aggregate.layout.get(index)? {
            GroupColumn::WindowStart => Some((aggregate.kind, true)),
            GroupColumn::WindowEnd => Some((aggregate.kind, false)),
            GroupColumn::Key(_) => None,
        };
    }
    let (window, start) = window_of(node, index)?;
    Some((window.kind, start))
}

/// A window join's windows and each input's `window_end` column.
struct Windows {
    kind: WindowKind,
    ends: [usize; 2],
    texts: [String; 2],
}

const WINDOW_HINT: &str = "window both inputs with the same function and join on both bounds: \
    ON l.window_start = r.window_start AND l.window_end = r.window_end AND l.k = r.k";

/// Whether `on` joins the two inputs' windows: equalities of both
/// `window_start`s and both `window_end`s of the same windows.
fn window_join(on: &[(Expr, Expr)], inputs: [&DFSchema; 2], nodes: [&Node; 2], statement: Span) -> Result<Option<Windows>, Diagnostic> {
    // Per bound (start, end): the windows, both columns, their texts, where.
    type Found = Option<(WindowKind, [usize; 2], [String; 2], Span)>;
    let mut found: [Found; 2] = [None, None];
    for (l, r) in on {
        let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else { continue };
        let (Ok(li), Ok(ri)) = (inputs[0].index_of_column(lc), inputs[1].index_of_column(rc)) else { continue };
        let (Some((lk, ls)), Some((rk, rs))) = (window_bound(nodes[0], li), window_bound(nodes[1], ri)) else { continue };
        let at = span_of(l).unwrap_or(statement);
        if ls != rs {
            return Err(Diagnostic::at(format!("{} is a window's {}, {} its {}", lc.flat_name(), bound_name(ls), rc.flat_name(), bound_name(rs)), at)
                .with_help(WINDOW_HINT));
        }
        if lk != rk {
            return Err(Diagnostic::at(format!("a window join needs the same windows on both inputs, found {lk} and {rk}"), at).with_help(WINDOW_HINT));
        }
        if let WindowKind::Session { .. } = lk {
            return Err(Diagnostic::at("session windows cannot be joined: each input's sessions end at different times", at)
                .with_help("join tumbling, hopping or cumulating windows, or bound the time between the rows (an interval join)"));
        }
        found[usize::from(!ls)] = Some((lk, [li, ri], [lc.flat_name(), rc.flat_name()], at));
    }
    match found {
        [Some(_), Some((kind, ends, texts, _))] => Ok(Some(Windows { kind, ends, texts })),
        [None, None] => Ok(None),
        [Some((_, _, _, at)), None] | [None, Some((_, _, _, at))] => {
            Err(Diagnostic::at("a window join equates both window_start and window_end of its inputs", at).with_help(WINDOW_HINT))
        }
    }
}

fn bound_name(start: bool) -> &'static str {
    if start { "window_start" } else { "window_end" }
}

/// A join's keys over each input and its condition over the joined rows,
/// as physical expressions and as text.
pub(super) struct JoinKeys {
    pub keys: [Vec<std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>>; 2],
    pub key_texts: Vec<String>,
    pub filter: Option<std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
    pub filter_text: String,
}

/// How a join holds its rows: its form, each input's time column, and
/// the bounds on `right - left` of those times.
struct Held {
    form: JoinForm,
    time: [Option<usize>; 2],
    texts: [String; 2],
    lower: i64,
    upper: i64,
}

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
        if let Some(node) = self.temporal(join, kind, statement)? {
            return Ok(node);
        }
        let inputs = [join.left.schema().as_ref(), join.right.schema().as_ref()];
        let left = on_time(self.lower(&join.left, statement)?);
        let right = on_time(self.lower(&join.right, statement)?);
        let tables = [self.is_bounded_table(&left), self.is_bounded_table(&right)];
        let held = if tables[0] || tables[1] {
            // The right input is the table when both are.
            let table = usize::from(tables[1]);
            let keeps = match kind {
                JoinKind::Inner => true,
                JoinKind::Left => table == 1,
                JoinKind::Right => table == 0,
                JoinKind::Full => false,
            };
            if !keeps {
                return Err(Diagnostic::at(
                    format!("a {} join of a stream and a bounded table would keep the table's unmatched rows, which are known only when the stream ends", kind.sql()),
                    at(join.on.first().map(|(l, _)| l)),
                )
                .with_help("enrich the stream: stream LEFT JOIN table (or an INNER JOIN)"));
            }
            let none = || "-".to_string();
            Held { form: JoinForm::Table { side: table }, time: [None; 2], texts: [none(), none()], lower: i64::MIN, upper: i64::MAX }
        } else if let Some(w) = window_join(&join.on, inputs, [&left, &right], statement)? {
            // Each row is held by its window's end, until the window closes.
            Held { form: JoinForm::Window(w.kind), time: w.ends.map(Some), texts: w.texts, lower: 0, upper: 0 }
        } else if let Some(bound) = condition.and_then(|f| time_bound(f, inputs)) {
            self.interval(&bound, inputs, [&left, &right], condition, statement)?
        } else {
            self.unbounded(join, kind, statement)?
        };
        let JoinKeys { keys, key_texts, filter, filter_text } = self.join_keys(join)?;
        let op = plan::StreamJoin {
            form: held.form,
            kind,
            keys,
            key_texts,
            time: held.time,
            time_texts: held.texts,
            lower_ms: held.lower,
            upper_ms: held.upper,
            filter,
            filter_text,
            schema: std::sync::Arc::new(join.schema.as_arrow().clone()),
        };
        Ok(Node::new(op, vec![left, right]))
    }

    /// The physical keys and condition of `join`.
    pub(super) fn join_keys(&self, join: &Join) -> Result<JoinKeys, Diagnostic> {
        let state = self.state();
        let inputs = [join.left.schema().as_ref(), join.right.schema().as_ref()];
        let mut keys = [Vec::new(), Vec::new()];
        let mut key_texts = Vec::new();
        for (l, r) in &join.on {
            keys[0].push(state.create_physical_expr(l.clone(), inputs[0]).map_err(from_datafusion)?);
            keys[1].push(state.create_physical_expr(r.clone(), inputs[1]).map_err(from_datafusion)?);
            key_texts.push(format!("{} = {}", qualified(l), qualified(r)));
        }
        let (filter, filter_text) = match &join.filter {
            Some(f) => (Some(state.create_physical_expr(f.clone(), &join.schema).map_err(from_datafusion)?), readable(f)),
            None => (None, "none".to_string()),
        };
        Ok(JoinKeys { keys, key_texts, filter, filter_text })
    }

    /// Whether `node` reads only tables that end and declare no watermark
    /// (through projections, filters and unions): a table to join whole.
    fn is_bounded_table(&self, node: &Node) -> bool {
        if let Some(scan) = node.op::<plan::Scan>() {
            let source = self.table(&scan.table).and_then(|t| t.source.as_ref());
            return source.is_some_and(|s| s.watermark.is_none() && s.spec.bounded());
        }
        let row_wise = node.op::<plan::Project>().is_some() || node.op::<plan::Filter>().is_some() || node.op::<plan::Union>().is_some();
        row_wise && !node.inputs().is_empty() && node.inputs().iter().all(|i| self.is_bounded_table(i))
    }

    /// An interval join: rows held by their event time within `bound`.
    fn interval(&self, bound: &Bound, inputs: [&DFSchema; 2], nodes: [&Node; 2], condition: Option<&Expr>, statement: Span) -> Result<Held, Diagnostic> {
        let at = condition.and_then(span_of).unwrap_or(statement);
        let (Some(lower), Some(upper)) = (bound.lower, bound.upper) else {
            let missing = if bound.lower.is_none() { "a lower" } else { "an upper" };
            return Err(Diagnostic::at(
                format!("the join bounds {} - {} on one side only; it needs {missing} bound too", bound.right.flat_name(), bound.left.flat_name()),
                at,
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
                at,
            )
            .with_help("swap the bounds: BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ..."));
        }
        let mut time = [None; 2];
        for (side, (column, node)) in [(&bound.left, nodes[0]), (&bound.right, nodes[1])].into_iter().enumerate() {
            let index = inputs[side].index_of_column(column).map_err(from_datafusion)?;
            // A window's end is a time no later row of that input can be
            // behind: a windowed aggregate emits it when the watermark has
            // passed it, so downstream it is ahead of the watermark (Flink
            // joins on it as a time attribute too, Nexmark's q7).
            let window_end = matches!(window_bound(node, index), Some((_, false)));
            if !self.is_event_time(node, index) && !window_end {
                let d = Diagnostic::at(
                    format!("the join's time bound is on '{}', which is not the event-time column (WATERMARK FOR) of the table it comes from", column.name),
                    column.spans().first().map_or(statement, |s| to_span(&s)),
                );
                return Err(d.with_help("bound the inputs' event-time columns, and declare them: WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"));
            }
            time[side] = Some(index);
        }
        Ok(Held { form: JoinForm::Interval, time, texts: [bound.left.flat_name(), bound.right.flat_name()], lower, upper })
    }

    /// An inner join without a time bound: rows held forever, with a
    /// warning. (With `table.exec.state.ttl`, [`Self::bound_by_ttl`] gave
    /// it a bound before DataFusion optimized it.)
    fn unbounded(&self, join: &Join, kind: JoinKind, statement: Span) -> Result<Held, Diagnostic> {
        let at = join.on.first().and_then(|(l, _)| span_of(l)).unwrap_or(statement);
        if kind != JoinKind::Inner {
            return Err(Diagnostic::at("an outer join of two streams without a time bound would have to retract the rows it padded with NULLs", at)
                .with_help(BOUND_HINT));
        }
        self.warnings.borrow_mut().push(
            Diagnostic::at("this join has no time bound, so it holds every row of both inputs: its state grows without bound", at)
                .with_help(format!("bound the time between the inputs ({BOUND_HINT}), or free old rows: SET 'table.exec.state.ttl' = '1 h'")),
        );
        let none = || "-".to_string();
        Ok(Held { form: JoinForm::Unbounded, time: [None; 2], texts: [none(), none()], lower: i64::MIN, upper: i64::MAX })
    }
}

impl Planner {
    /// `SET 'table.exec.state.ttl'`: every inner join of the (not yet
    /// optimized) `plan` without a time bound gets one, `right.ts BETWEEN
    /// left.ts - ttl AND left.ts + ttl` on the inputs' event-time columns.
    /// A row is then held until the watermark is the TTL past it, and rows
    /// further apart than that do not pair: Flink's TTL, made exact in
    /// event time, so results do not depend on arrival. It is done before
    /// DataFusion prunes columns, which would drop an event-time column
    /// the query does not select.
    pub(super) fn bound_by_ttl(&self, plan: LogicalPlan) -> Result<LogicalPlan, Diagnostic> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        let Some(ttl) = self.settings.state_ttl_ms else { return Ok(plan) };
        let mut failed: Option<Diagnostic> = None;
        let bounded = plan.transform_up(|node| {
            let LogicalPlan::Join(join) = &node else { return Ok(Transformed::no(node)) };
            let inputs = [join.left.schema().as_ref(), join.right.schema().as_ref()];
            let bounded = join.filter.as_ref().and_then(|f| time_bound(f, inputs)).is_some();
            if join.join_type != JoinType::Inner || bounded || failed.is_some() {
                return Ok(Transformed::no(node));
            }
            let times = [self.event_time_of(&join.left), self.event_time_of(&join.right)];
            let [Some(left), Some(right)] = times else {
                let side = if times[0].is_none() { "left" } else { "right" };
                let at = join.filter.as_ref().or(join.on.first().map(|(l, _)| l)).and_then(span_of).unwrap_or(Span::empty());
                failed = Some(
                    Diagnostic::at(format!("'table.exec.state.ttl' frees a join's rows by event time, and its {side} input has no event-time column"), at)
                        .with_help("declare the event time of the tables joined, and pass it through views: WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"),
                );
                return Ok(Transformed::no(node));
            };
            let interval = || Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, ttl.saturating_mul(1_000_000)))), None);
            let left = Expr::Column(left);
            let bound = Expr::Column(right).between(left.clone() - interval(), left + interval());
            Ok(with_conjunct(node, bound))
        });
        if let Some(d) = failed {
            return Err(d);
        }
        bounded.map(|t| t.data).map_err(from_datafusion)
    }

    /// The event-time column of what `plan` reads, as `plan` names it: a
    /// table's `WATERMARK FOR` column, or a view's or window's copy of one,
    /// through aliases, filters and projections.
    pub(super) fn event_time_of(&self, plan: &LogicalPlan) -> Option<Column> {
        match plan {
            LogicalPlan::SubqueryAlias(a) => self.event_time_of(&a.input).map(|c| Column::new(Some(a.alias.clone()), c.name)),
            LogicalPlan::Filter(f) => self.event_time_of(&f.input),
            LogicalPlan::Projection(p) => {
                let time = self.event_time_of(&p.input)?;
                let index = p.expr.iter().position(|e| match e {
                    Expr::Column(c) => *c == time,
                    Expr::Alias(a) => matches!(a.expr.as_ref(), Expr::Column(c) if *c == time),
                    _ => false,
                })?;
                let (qualifier, field) = p.schema.qualified_field(index);
                Some(Column::new(qualifier.cloned(), field.name()))
            }
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                let column = if let Some(table) = self.table(name) {
                    table.source.as_ref()?.watermark.as_ref()?.column.clone()
                } else {
                    let node = match self.windows.get(name) {
                        Some(node) => node.clone(),
                        None => self.lower(self.view_plans.get(name)?, Span::empty()).ok()?,
                    };
                    let index = (0..node.schema().fields().len()).find(|&i| self.is_event_time(&node, i))?;
                    node.schema().field(index).name().clone()
                };
                scan.projected_schema.has_column_with_unqualified_name(&column).then(|| Column::new(Some(scan.table_name.clone()), column))
            }
            _ => None,
        }
    }
}

/// `node` (a join) with `conjunct` added to its condition.
pub(super) fn with_conjunct(node: LogicalPlan, conjunct: Expr) -> datafusion::common::tree_node::Transformed<LogicalPlan> {
    use datafusion::common::tree_node::Transformed;
    let LogicalPlan::Join(join) = node else { return Transformed::no(node) };
    let filter = Some(match join.filter.clone() {
        Some(f) => f.and(conjunct),
        None => conjunct,
    });
    Transformed::yes(LogicalPlan::Join(Join { filter, ..join }))
}
