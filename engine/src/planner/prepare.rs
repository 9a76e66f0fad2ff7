//! Before DataFusion plans a statement: the SQL forms Flink users write
//! that DataFusion reads differently are rewritten, and mistakes that would
//! only show on the first row are reported here, at their position.
//!
//! - `INTERVAL '1:30' MINUTE TO SECOND` (SQL's range intervals, which Flink
//!   takes) becomes `INTERVAL '1 minutes 30 seconds'`; DataFusion knows
//!   only single-unit intervals.
//! - Format patterns of `DATE_FORMAT`, `TO_TIMESTAMP`, `TO_DATE` and
//!   `TO_CHAR`: Flink's are Java's `DateTimeFormatter` patterns
//!   (`'yyyy-MM-dd HH:mm'`), DataFusion's are strftime's (`'%Y-%m-%d
//!   %H:%M'`). A pattern without `%` is read as Java's and translated; a
//!   strftime pattern is checked. Either way a pattern that cannot work is
//!   an error now, never a literal returned on every row.
//! - A constant expression that fails (`CAST('abc' AS INT)`, a bad
//!   timestamp literal, `1 / 0`) fails on every row: it is evaluated once
//!   here. Only casts, arithmetic and the time-parsing functions are
//!   evaluated, so checking costs nothing, and not inside `CASE`,
//!   `COALESCE` and the like, where it may never run.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::DFSchema;
use datafusion::execution::session_state::SessionState;
use datafusion::sql::sqlparser::ast::{
    DateTimeField, Expr, ExprWithAlias, FunctionArg, FunctionArgExpr, FunctionArguments, Interval, Spanned, Value, ValueWithSpan, VisitMut,
    VisitorMut,
};

use crate::diagnostic::Diagnostic;
use crate::sql::{PipelineStatement, Span};

/// Functions whose second and later arguments are date/time patterns.
const FORMATTED: &[&str] = &[
    "date_format",
    "to_char",
    "to_timestamp",
    "to_timestamp_seconds",
    "to_timestamp_millis",
    "to_timestamp_micros",
    "to_timestamp_nanos",
    "to_date",
    "to_unixtime",
    "to_time",
];

/// Functions a constant may contain and still be evaluated at check time:
/// cheap, and the ones that fail on a bad literal.
const EVALUATED: &[&str] = &[
    "to_timestamp",
    "to_timestamp_seconds",
    "to_timestamp_millis",
    "to_timestamp_micros",
    "to_timestamp_nanos",
    "to_timestamp_ltz",
    "to_date",
    "to_char",
    "date_format",
    "to_unixtime",
    "make_date",
    "arrow_cast",
];

/// Functions whose arguments are evaluated only for some rows.
const CONDITIONAL: &[&str] = &["coalesce", "nullif", "nvl", "nvl2", "ifnull", "if"];

/// Rewrites and checks every expression of `statement`.
pub(super) fn prepare(statement: &mut PipelineStatement, state: &SessionState) -> Result<(), Diagnostic> {
    let mut visitor = Prepare { state, stack: Vec::new() };
    let flow = match statement {
        PipelineStatement::CreateTable(t) => {
            let mut flow = ControlFlow::Continue(());
            for c in &mut t.computed {
                flow = c.expr.visit(&mut visitor);
                if flow.is_break() {
                    break;
                }
            }
            match (flow, &mut t.watermark) {
                (ControlFlow::Continue(()), Some(w)) => w.expr.visit(&mut visitor),
                (flow, _) => flow,
            }
        }
        PipelineStatement::CreateView(v) => v.query.visit(&mut visitor),
        PipelineStatement::Insert(i) => i.query.visit(&mut visitor),
        PipelineStatement::CreateModel(_) | PipelineStatement::CreateMonitor(_) | PipelineStatement::Set(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(d) => Err(d),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// One expression being visited.
struct Frame {
    /// No column, subquery or aggregate below it so far.
    constant: bool,
    /// Only the cheap forms of [`EVALUATED`] below it so far.
    cheap: bool,
    /// Its children run only for some rows (`CASE`, `COALESCE`, `AND`).
    conditional: bool,
    /// Constant children, evaluated when this one turns out not to be.
    candidates: Vec<Expr>,
}

struct Prepare<'a> {
    state: &'a SessionState,
    stack: Vec<Frame>,
}

impl VisitorMut for Prepare<'_> {
    type Break = Diagnostic;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Diagnostic> {
        if let Expr::Interval(interval) = expr
            && let Err(d) = range_interval(interval)
        {
            return ControlFlow::Break(d);
        }
        if let Expr::Function(f) = expr {
            let name = f.name.to_string().to_ascii_lowercase();
            if FORMATTED.contains(&name.as_str())
                && let FunctionArguments::List(list) = &mut f.args
            {
                for arg in list.args.iter_mut().skip(1) {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(p), span }))) =
                        arg
                    {
                        match strftime_pattern(p) {
                            Ok(translated) => *p = translated,
                            Err(why) => {
                                return ControlFlow::Break(
                                    Diagnostic::at(format!("'{p}' is not a date/time pattern {name} can use: {why}"), *span).with_help(
                                        "write Flink's (Java's) pattern letters, 'yyyy-MM-dd HH:mm:ss.SSS', or strftime's, '%Y-%m-%d %H:%M:%S%.3f'",
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        let (constant, cheap, conditional) = classify(expr, self.state);
        if !constant {
            for frame in &mut self.stack {
                frame.constant = false;
            }
        }
        if !cheap {
            for frame in &mut self.stack {
                frame.cheap = false;
            }
        }
        self.stack.push(Frame { constant, cheap, conditional, candidates: Vec::new() });
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Diagnostic> {
        let Some(frame) = self.stack.pop() else { return ControlFlow::Continue(()) };
        let guarded = frame.conditional || self.stack.iter().any(|f| f.conditional);
        if frame.constant {
            match self.stack.last_mut() {
                Some(parent) if frame.cheap => parent.candidates.push(expr.clone()),
                Some(_) => {}
                None if frame.cheap && !guarded => return self.evaluate(expr),
                None => {}
            }
            return ControlFlow::Continue(());
        }
        if guarded {
            return ControlFlow::Continue(());
        }
        for candidate in &frame.candidates {
            self.evaluate(candidate)?;
        }
        ControlFlow::Continue(())
    }
}

impl Prepare<'_> {
    /// Evaluates a constant expression once; an error is its error on
    /// every row.
    fn evaluate(&self, expr: &Expr) -> ControlFlow<Diagnostic> {
        if matches!(expr, Expr::Value(_) | Expr::Interval(_)) {
            return ControlFlow::Continue(());
        }
        let empty = DFSchema::empty();
        // Whatever does not plan alone is reported by the planner, in context.
        let Ok(logical) = self.state.create_logical_expr_from_sql_expr(ExprWithAlias { expr: expr.clone(), alias: None }, &empty) else {
            return ControlFlow::Continue(());
        };
        let Ok(physical) = self.state.create_physical_expr(logical, &empty) else { return ControlFlow::Continue(()) };
        let Ok(row) = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1))) else {
            return ControlFlow::Continue(());
        };
        match physical.evaluate(&row) {
            Ok(_) => ControlFlow::Continue(()),
            Err(e) => {
                let reason = e.find_root().strip_backtrace();
                let reason = ["Arrow error: ", "Execution error: ", "Cast error: ", "Compute error: "]
                    .iter()
                    .fold(reason, |r, p| r.strip_prefix(p).map(str::to_string).unwrap_or(r));
                ControlFlow::Break(
                    Diagnostic::at(format!("this expression fails on every row: {reason}"), expr.span())
                        .with_help("fix the literal, or use TRY_CAST to get NULL where a value does not convert"),
                )
            }
        }
    }
}

/// Whether an expression node is constant (no column, subquery, aggregate
/// or volatile function), cheap to evaluate, and conditional for its
/// children.
fn classify(expr: &Expr, state: &SessionState) -> (bool, bool, bool) {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::CompoundFieldAccess { .. } => (false, false, false),
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => (false, false, false),
        Expr::Value(_) | Expr::Interval(_) | Expr::TypedString { .. } | Expr::Nested(_) => (true, true, false),
        Expr::Cast { .. } | Expr::UnaryOp { .. } => (true, true, false),
        Expr::BinaryOp { op, .. } => {
            use datafusion::sql::sqlparser::ast::BinaryOperator as B;
            (true, true, matches!(op, B::And | B::Or))
        }
        Expr::Case { .. } => (true, false, true),
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let volatile = state.scalar_functions().get(&name).is_some_and(|u| u.signature().volatility != datafusion::logical_expr::Volatility::Immutable);
            let aggregate = f.over.is_some() || state.aggregate_functions().contains_key(&name) || state.window_functions().contains_key(&name);
            let constant = !volatile && !aggregate && state.scalar_functions().contains_key(&name);
            (constant, EVALUATED.contains(&name.as_str()), CONDITIONAL.contains(&name.as_str()))
        }
        _ => (false, false, false),
    }
}

/// Rewrites `INTERVAL '1:30' MINUTE TO SECOND` and the other SQL range
/// intervals into a single string DataFusion reads (`'1 minutes 30
/// seconds'`); leaves single-unit intervals alone.
fn range_interval(interval: &mut Interval) -> Result<(), Diagnostic> {
    let (Some(leading), Some(last)) = (&interval.leading_field, &interval.last_field) else { return Ok(()) };
    use DateTimeField as F;
    let (units, shape): (&[&str], &str) = match (leading, last) {
        (F::Year, F::Month) => (&["years", "months"], "'years-months', for example '1-6'"),
        (F::Day, F::Hour) => (&["days", "hours"], "'days hours', for example '2 12'"),
        (F::Day, F::Minute) => (&["days", "hours", "minutes"], "'days hours:minutes', for example '2 12:30'"),
        (F::Day, F::Second) => (&["days", "hours", "minutes", "seconds"], "'days hours:minutes:seconds', for example '2 12:30:15.5'"),
        (F::Hour, F::Minute) => (&["hours", "minutes"], "'hours:minutes', for example '1:30'"),
        (F::Hour, F::Second) => (&["hours", "minutes", "seconds"], "'hours:minutes:seconds', for example '1:30:15'"),
        (F::Minute, F::Second) => (&["minutes", "seconds"], "'minutes:seconds', for example '1:30.5'"),
        (a, b) => {
            return Err(Diagnostic::at(format!("INTERVAL ... {a} TO {b} is not an SQL interval range"), interval.value.span())
                .with_help("ranges are YEAR TO MONTH, DAY TO HOUR|MINUTE|SECOND, HOUR TO MINUTE|SECOND and MINUTE TO SECOND; or write units: INTERVAL '1 minute 30 seconds'"));
        }
    };
    let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), span }) = interval.value.as_ref() else {
        return Err(Diagnostic::at("an interval range takes a string: INTERVAL '1:30' MINUTE TO SECOND", interval.value.span()));
    };
    let span: Span = *span;
    let bad = || Diagnostic::at(format!("'{text}' is not an interval {leading} TO {last}: write {shape}"), span);
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let parts: Vec<&str> = body.split([' ', ':', '-']).filter(|p| !p.is_empty()).collect();
    if parts.len() != units.len() {
        return Err(bad());
    }
    let mut words = Vec::with_capacity(units.len());
    for (i, (part, unit)) in parts.iter().zip(units).enumerate() {
        // Only the last field (seconds) may have a fraction.
        let fractional = i + 1 == units.len() && *unit == "seconds";
        let valid = if fractional { part.parse::<f64>().is_ok_and(f64::is_finite) && !part.starts_with('.') } else { part.bytes().all(|b| b.is_ascii_digit()) };
        if !valid {
            return Err(bad());
        }
        words.push(format!("{}{part} {unit}", if negative { "-" } else { "" }));
    }
    *interval.value = Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(words.join(" ")), span });
    interval.leading_field = None;
    interval.last_field = None;
    interval.leading_precision = None;
    interval.fractional_seconds_precision = None;
    Ok(())
}

/// A date/time pattern as strftime's: one with `%` (outside quotes) is
/// checked as it is, one without is read as a Java (Flink) pattern and
/// translated.
///
/// Java letters: `yyyy` `yy` year, `M` `MM` `MMM` `MMMM` month, `d` `dd` day,
/// `D` day of year, `H` `HH` hour, `h` `hh` hour of half day, `a` AM/PM,
/// `m` `mm` minute, `s` `ss` second, `S`... fraction (3, 6 or 9 digits),
/// `E` day name, `z` zone name, `Z` `X` `x` offset; `'text'` is literal.
pub(crate) fn strftime_pattern(pattern: &str) -> Result<String, String> {
    // A `%` outside Java's quotes makes it strftime's.
    let strftime = pattern.split('\'').step_by(2).any(|outside| outside.contains('%'));
    if strftime {
        use chrono::format::{Item, StrftimeItems};
        if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
            return Err("it has a % that strftime does not know".into());
        }
        if !StrftimeItems::new(pattern).any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(..))) {
            return Err("it has no date or time field".into());
        }
        return Ok(pattern.to_string());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut fields = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'quoted text', '' for a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let Some(close) = chars[i + 1..].iter().position(|&q| q == '\'') else { return Err("a quote is not closed".into()) };
            for &q in &chars[i + 1..i + 1 + close] {
                if q == '%' {
                    out.push_str("%%");
                } else {
                    out.push(q);
                }
            }
            i += close + 2;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let spec = match (c, run) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', 2) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', 2) => "%H",
            ('h', 1) => "%-I",
            ('h', 2) => "%I",
            ('a', _) => "%p",
            ('m', 1) => "%-M",
            ('m', 2) => "%M",
            ('s', 1) => "%-S",
            ('s', 2) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('z', _) => "%Z",
            ('Z', _) => "%z",
            ('X' | 'x', 1 | 2) => "%z",
            ('X' | 'x', 3) => "%:z",
            ('S', n) => return Err(format!("{n} fraction digits: write S three, six or nine times")),
            (c, n) => return Err(format!("the pattern letter{} '{}' {} not supported", if n > 1 { "s" } else { "" }, c.to_string().repeat(n), if n > 1 { "are" } else { "is" })),
        };
        out.push_str(spec);
        fields += 1;
        i += run;
    }
    if fields == 0 {
        return Err("it has no date or time field".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::strftime_pattern;

    #[test]
    fn java_patterns_translate_and_bad_ones_are_refused() {
        assert_eq!(strftime_pattern("yyyy-MM-dd HH:mm:ss").as_deref(), Ok("%Y-%m-%d %H:%M:%S"));
        assert_eq!(strftime_pattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").as_deref(), Ok("%Y-%m-%dT%H:%M:%S.%3f%:z"));
        assert_eq!(strftime_pattern("d MMM yy, h:mm a").as_deref(), Ok("%-d %b %y, %-I:%M %p"));
        assert_eq!(strftime_pattern("'100%' yyyy").as_deref(), Ok("100%% %Y"));
        assert_eq!(strftime_pattern("%Y-%m-%d").as_deref(), Ok("%Y-%m-%d"));
        assert!(strftime_pattern("yyyy-QQ").unwrap_err().contains("'QQ'"));
        assert!(strftime_pattern("%Y-%Q").is_err());
        assert!(strftime_pattern("---").unwrap_err().contains("no date or time field"));
        assert!(strftime_pattern("HH:mm:ss.SS").unwrap_err().contains("fraction"));
    }
}
