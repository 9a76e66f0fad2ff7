//! Window table-valued functions: `TUMBLE`, `HOP`, `CUMULATE` and
//! `SESSION` in `FROM`.
//!
//! Flink writes `FROM TABLE(TUMBLE(TABLE traffic, DESCRIPTOR(ts), INTERVAL
//! '1' MINUTE))`; RisingWave's shorthand is `FROM TUMBLE(traffic, ts,
//! INTERVAL '1' MINUTE)`. Both are accepted. DataFusion has no notion of
//! event-time windows, so before a query is planned each call is cut out of
//! the AST and replaced by a placeholder table (`__weir_window_<n>`) whose
//! columns are the input's plus `window_start` and `window_end`; the planner
//! registers that table and knows what it stands for. Everything around the
//! call (the SELECT list, WHERE, GROUP BY, aggregates) is then planned and
//! type-checked by DataFusion exactly as written.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query, SetExpr, Spanned,
    TableAlias, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan};

use crate::diagnostic::Diagnostic;

/// The prefix of placeholder tables; no user table may start with it.
pub const PLACEHOLDER_PREFIX: &str = "__weir_window_";

/// Which window function was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFunction {
    /// `TUMBLE(data, time, size)`.
    Tumble,
    /// `HOP(data, time, slide, size)`.
    Hop,
    /// `CUMULATE(data, time, step, size)`.
    Cumulate,
    /// `SESSION(data, time, gap)`.
    Session,
    /// `LATE_ROWS(table)`: the rows of a table that arrived behind its
    /// watermark (the side output of its windows).
    LateRows,
    /// `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a, b))`: the rows of `t`
    /// with model `m`'s prediction appended.
    MlPredict,
    /// `ML_METRICS(MODEL m)`: model `m`'s prequential metrics per key, after
    /// each training batch.
    MlMetrics,
    /// `ML_ALERTS(MODEL m)`: the alerts of model `m`'s drift detector.
    MlAlerts,
    /// `v FOR SYSTEM_TIME AS OF s.ts`, rewritten to a call: the versioned
    /// table `v` as of the time column of the join's other input.
    Versioned,
}

impl WindowFunction {
    fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "TUMBLE" => Some(Self::Tumble),
            "HOP" => Some(Self::Hop),
            "SESSION" => Some(Self::Session),
            "CUMULATE" => Some(Self::Cumulate),
            "LATE_ROWS" => Some(Self::LateRows),
            "ML_PREDICT" => Some(Self::MlPredict),
            "ML_METRICS" => Some(Self::MlMetrics),
            "ML_ALERTS" => Some(Self::MlAlerts),
            "__WEIR_VERSIONED" => Some(Self::Versioned),
            _ => None,
        }
    }

    /// The call's signature, for error messages.
    pub fn signature(self) -> &'static str {
        match self {
            Self::Tumble => "TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
            Self::Hop => "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE) -- slide, then size",
            Self::Session => "SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '5' MINUTE) -- the gap",
            Self::Cumulate => "CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '10' MINUTE) -- step, then size",
            Self::LateRows => "LATE_ROWS(t)",
            Self::MlPredict => "ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(feature, ...))",
            Self::MlMetrics => "ML_METRICS(MODEL m)",
            Self::MlAlerts => "ML_ALERTS(MODEL m)",
            Self::Versioned => "JOIN v FOR SYSTEM_TIME AS OF s.ts AS x ON s.k = x.k",
        }
    }

    /// How many arguments the call takes.
    fn arguments(self) -> usize {
        match self {
            Self::Hop | Self::Cumulate => 4,
            Self::Tumble | Self::Session | Self::MlPredict => 3,
            Self::Versioned => 2,
            Self::LateRows | Self::MlMetrics | Self::MlAlerts => 1,
        }
    }
}

/// One window call found in a query.
#[derive(Debug, Clone)]
pub struct WindowCall {
    /// The placeholder table that replaced it.
    pub placeholder: String,
    /// Which function.
    pub function: WindowFunction,
    /// The whole call.
    pub span: Span,
    /// The table or view windowed.
    pub input: ObjectName,
    /// The time column (none for `LATE_ROWS`).
    pub time: Option<Ident>,
    /// The interval arguments, in order (size; or slide and size for HOP).
    pub intervals: Vec<Expr>,
    /// `ML_PREDICT`'s model.
    pub model: Option<Ident>,
    /// `ML_PREDICT`'s DESCRIPTOR columns (the features, in the model's
    /// INPUT order).
    pub columns: Vec<Ident>,
    /// `SESSION`'s `PARTITION BY` columns (Flink's form).
    pub partition: Vec<Ident>,
    /// `FOR SYSTEM_TIME AS OF`'s column, its parts (`s`, `ts`).
    pub as_of: Vec<Ident>,
}

/// Drops the `TABLE` keyword of Flink's `TUMBLE(TABLE t, ...)` argument
/// and the `MODEL` keyword of `ML_PREDICT(TABLE t, MODEL m, ...)`, which
/// sqlparser does not parse inside a function call; spans are kept.
pub(crate) fn strip_table_keyword(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let word = |t: &TokenWithSpan, s: &str| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(s));
    for token in tokens {
        if word(&token, "MODEL") {
            // `ML_METRICS ( MODEL` and `ML_ALERTS ( MODEL`: the only argument.
            let mut previous = out.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_)));
            if previous.next().is_some_and(|t| t.token == Token::LParen)
                && previous.next().is_some_and(|t| word(t, "ML_METRICS") || word(t, "ML_ALERTS"))
            {
                continue;
            }
            // `ML_PREDICT ( t , MODEL`: the model argument.
            let mut previous = out.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_)));
            let comma = previous.next().is_some_and(|t| t.token == Token::Comma);
            let table = previous.next().is_some_and(|t| matches!(t.token, Token::Word(_)));
            let paren = previous.next().is_some_and(|t| t.token == Token::LParen);
            let predict = previous.next().is_some_and(|t| word(t, "ML_PREDICT"));
            if comma && table && paren && predict {
                continue;
            }
        }
        if word(&token, "TABLE") {
            let mut previous = out.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_)));
            let paren = previous.next().is_some_and(|t| t.token == Token::LParen);
            let function = previous.next().is_some_and(
                |t| matches!(&t.token, Token::Word(w) if WindowFunction::from_name(&w.value).is_some()),
            );
            if paren && function {
                continue;
            }
        }
        out.push(token);
    }
    system_time_as_call(partition_as_argument(out))
}

/// The function Flink's `FOR SYSTEM_TIME AS OF` becomes.
const VERSIONED: &str = "__weir_versioned";

/// Rewrites `v FOR SYSTEM_TIME AS OF s.ts`, which sqlparser's generic
/// dialect does not parse, to `__weir_versioned(v, s.ts)`: a table
/// function the window extraction then replaces, as it does windows.
fn system_time_as_call(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &Token, s: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(s));
    let name_like = |t: &Token| matches!(t, Token::Word(_) | Token::Period);
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        // FOR SYSTEM_TIME AS OF, whitespace between.
        let words: Vec<usize> = (i..tokens.len()).filter(|&j| !matches!(tokens[j].token, Token::Whitespace(_))).take(5).collect();
        let is = |k: usize, s: &str| words.get(k).is_some_and(|&j| word(&tokens[j].token, s));
        if !(is(0, "FOR") && is(1, "SYSTEM_TIME") && is(2, "AS") && is(3, "OF")) {
            out.push(token.clone());
            i += 1;
            continue;
        }
        // The table's name before it: `v` or `db.v`.
        let mut trailing = Vec::new();
        while out.last().is_some_and(|t| matches!(t.token, Token::Whitespace(_))) {
            trailing.extend(out.pop());
        }
        let mut name = Vec::new();
        while out.last().is_some_and(|t| name_like(&t.token)) {
            name.extend(out.pop());
        }
        name.reverse();
        // The time column after it: `s.ts`.
        let mut j = words.get(4).copied().unwrap_or(tokens.len());
        let mut column = Vec::new();
        while j < tokens.len() && name_like(&tokens[j].token) {
            column.push(tokens[j].clone());
            j += 1;
        }
        if name.is_empty() || column.is_empty() {
            out.extend(name);
            out.extend(trailing.into_iter().rev());
            out.push(token.clone());
            i += 1;
            continue;
        }
        let at = token.span;
        out.push(TokenWithSpan { token: Token::make_word(VERSIONED, None), span: at });
        out.push(TokenWithSpan { token: Token::LParen, span: at });
        out.extend(name);
        out.push(TokenWithSpan { token: Token::Comma, span: at });
        out.extend(column);
        out.push(TokenWithSpan { token: Token::RParen, span: at });
        i = j;
    }
    out
}

/// The function Flink's `PARTITION BY` becomes inside a window call.
const PARTITION_ARGUMENT: &str = "__weir_partition_by";

/// Rewrites Flink's `SESSION(t PARTITION BY k, ...)` and `SESSION(t
/// PARTITION BY (a, b), ...)` (the `TABLE` keyword already dropped), which
/// sqlparser cannot parse as a function argument, to `SESSION(t,
/// __weir_partition_by(k), ...)`; the columns keep their spans.
fn partition_as_argument(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &Token, s: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(s));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut rest = tokens.into_iter().peekable();
    while let Some(token) = rest.next() {
        if !word(&token.token, "PARTITION") || !after_window_table(&out) {
            out.push(token);
            continue;
        }
        // `BY`, skipping whitespace.
        let mut skipped = Vec::new();
        while rest.peek().is_some_and(|t| matches!(t.token, Token::Whitespace(_))) {
            skipped.extend(rest.next());
        }
        if !rest.peek().is_some_and(|t| word(&t.token, "BY")) {
            out.push(token);
            out.extend(skipped);
            continue;
        }
        rest.next();
        let at = token.span;
        out.push(TokenWithSpan { token: Token::Comma, span: at });
        out.push(TokenWithSpan { token: Token::make_word(PARTITION_ARGUMENT, None), span: at });
        out.push(TokenWithSpan { token: Token::LParen, span: at });
        while rest.peek().is_some_and(|t| matches!(t.token, Token::Whitespace(_))) {
            rest.next();
        }
        if rest.peek().is_some_and(|t| t.token == Token::LParen) {
            // `(a, b)`: up to the matching parenthesis.
            rest.next();
            let mut depth = 0usize;
            for t in rest.by_ref() {
                match t.token {
                    Token::LParen => depth += 1,
                    Token::RParen if depth == 0 => break,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                out.push(t);
            }
        } else {
            // One column: up to the next comma or the call's end.
            while rest.peek().is_some_and(|t| !matches!(t.token, Token::Comma | Token::RParen)) {
                out.extend(rest.next());
            }
        }
        out.push(TokenWithSpan { token: Token::RParen, span: at });
    }
    out
}

/// Whether `tokens` end with `SESSION ( name` (a window function's first
/// argument, possibly qualified).
fn after_window_table(tokens: &[TokenWithSpan]) -> bool {
    let mut previous = tokens.iter().rev().filter(|t| !matches!(t.token, Token::Whitespace(_))).peekable();
    if !previous.next().is_some_and(|t| matches!(t.token, Token::Word(_))) {
        return false;
    }
    while previous.peek().is_some_and(|t| t.token == Token::Period) {
        previous.next();
        if !previous.next().is_some_and(|t| matches!(t.token, Token::Word(_))) {
            return false;
        }
    }
    previous.next().is_some_and(|t| t.token == Token::LParen)
        && previous.next().is_some_and(|t| matches!(&t.token, Token::Word(w) if WindowFunction::from_name(&w.value).is_some()))
}

/// Replaces every window call in `query` by a placeholder table, numbering
/// placeholders from `next`.
pub fn extract_windows(query: &mut Query, next: &mut usize) -> Result<Vec<WindowCall>, Diagnostic> {
    let mut visitor = Extractor { next, calls: Vec::new() };
    match query.visit(&mut visitor) {
        ControlFlow::Break(d) => Err(d),
        ControlFlow::Continue(()) => Ok(visitor.calls),
    }
}

struct Extractor<'a> {
    next: &'a mut usize,
    calls: Vec<WindowCall>,
}

impl VisitorMut for Extractor<'_> {
    type Break = Diagnostic;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Diagnostic> {
        let span = factor.span();
        let (name, args, alias) = match factor {
            TableFactor::TableFunction { expr: Expr::Function(f), alias } => {
                let args = match &f.args {
                    FunctionArguments::List(list) => list.args.clone(),
                    _ => Vec::new(),
                };
                (f.name.clone(), args, alias.clone())
            }
            TableFactor::Table { name, args: Some(args), alias, .. } => (name.clone(), args.args.clone(), alias.clone()),
            _ => return ControlFlow::Continue(()),
        };
        let Some(function) = name.0.last().and_then(ObjectNamePart::as_ident).and_then(|i| WindowFunction::from_name(&i.value))
        else {
            return ControlFlow::Continue(());
        };
        match self.call(function, span, &args) {
            Ok(mut call) => {
                call.placeholder = format!("{PLACEHOLDER_PREFIX}{}", *self.next);
                *self.next += 1;
                // Without an alias, columns are qualified by the windowed
                // table's name, so messages say `traffic.speed`.
                let alias = alias.or_else(|| {
                    call.input.0.last().and_then(ObjectNamePart::as_ident).map(|i| TableAlias {
                        explicit: false,
                        name: Ident::new(i.value.clone()),
                        columns: Vec::new(),
                        at: None,
                    })
                });
                *factor = placeholder_table(&call.placeholder, alias);
                self.calls.push(call);
                ControlFlow::Continue(())
            }
            Err(d) => ControlFlow::Break(d),
        }
    }
}

impl Extractor<'_> {
    fn call(&self, function: WindowFunction, span: Span, args: &[FunctionArg]) -> Result<WindowCall, Diagnostic> {
        let usage = || format!("write {}", function.signature());
        let mut exprs = Vec::with_capacity(args.len());
        let mut partition = Vec::new();
        for arg in args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(f))) = arg
                && f.name.to_string() == PARTITION_ARGUMENT
            {
                if function != WindowFunction::Session {
                    return Err(Diagnostic::at(format!("{function:?} takes no PARTITION BY; only SESSION does").to_uppercase_first(), span)
                        .with_help(usage()));
                }
                partition = identifiers(f, "PARTITION BY lists column names")?;
                continue;
            }
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e.clone()),
                other => {
                    return Err(Diagnostic::at(format!("unsupported window argument '{other}'"), span)
                        .with_help(format!("pass arguments by position: {}", usage())));
                }
            }
        }
        let want = function.arguments();
        if exprs.len() != want {
            return Err(Diagnostic::at(
                format!("{function:?} takes {want} arguments, found {}", exprs.len()).to_uppercase_first(),
                span,
            )
            .with_help(usage()));
        }
        let input = match &exprs[0] {
            Expr::Identifier(i) => ObjectName(vec![ObjectNamePart::Identifier(i.clone())]),
            Expr::CompoundIdentifier(parts) => ObjectName(parts.iter().cloned().map(ObjectNamePart::Identifier).collect()),
            other => {
                return Err(Diagnostic::at("the first argument of a window function is the table or view to window", other.span())
                    .with_help(usage()));
            }
        };
        let call = WindowCall {
            placeholder: String::new(),
            function,
            span,
            input,
            time: None,
            intervals: Vec::new(),
            model: None,
            columns: Vec::new(),
            partition,
            as_of: Vec::new(),
        };
        if function == WindowFunction::Versioned {
            let as_of = match &exprs[1] {
                Expr::Identifier(i) => vec![i.clone()],
                Expr::CompoundIdentifier(parts) => parts.clone(),
                other => {
                    return Err(Diagnostic::at("FOR SYSTEM_TIME AS OF takes the event-time column of the join's other input", other.span())
                        .with_help(usage()));
                }
            };
            return Ok(WindowCall { as_of, ..call });
        }
        if function == WindowFunction::LateRows {
            return Ok(call);
        }
        if matches!(function, WindowFunction::MlMetrics | WindowFunction::MlAlerts) {
            // The one argument is the model; `input` holds its name.
            let model = call.input.0.last().and_then(ObjectNamePart::as_ident).cloned();
            return Ok(WindowCall { model, ..call });
        }
        if function == WindowFunction::MlPredict {
            let model = match &exprs[1] {
                Expr::Identifier(i) => i.clone(),
                other => return Err(Diagnostic::at("the second argument of ML_PREDICT is the model: MODEL m", other.span()).with_help(usage())),
            };
            let columns = match &exprs[2] {
                Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => match &f.args {
                    FunctionArguments::List(_) => identifiers(f, "DESCRIPTOR lists column names")?,
                    _ => return Err(Diagnostic::at("DESCRIPTOR lists the feature columns", f.span()).with_help(usage())),
                },
                other => {
                    return Err(Diagnostic::at("the third argument of ML_PREDICT is DESCRIPTOR(feature, ...)", other.span())
                        .with_help(usage()));
                }
            };
            return Ok(WindowCall { model: Some(model), columns, ..call });
        }
        let time = match &exprs[1] {
            Expr::Identifier(i) => i.clone(),
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => match &f.args {
                FunctionArguments::List(list) if list.args.len() == 1 => match &list.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => i.clone(),
                    other => return Err(Diagnostic::at("DESCRIPTOR takes one column name", other.span())),
                },
                _ => return Err(Diagnostic::at("DESCRIPTOR takes one column name", f.span())),
            },
            other => {
                return Err(Diagnostic::at("the second argument of a window function is the time column", other.span())
                    .with_help("write DESCRIPTOR(ts), or just the column name"));
            }
        };
        Ok(WindowCall { time: Some(time), intervals: exprs[2..].to_vec(), ..call })
    }
}

/// The arguments of `f`, each a column name.
fn identifiers(f: &datafusion::sql::sqlparser::ast::Function, what: &str) -> Result<Vec<Ident>, Diagnostic> {
    let FunctionArguments::List(list) = &f.args else { return Err(Diagnostic::at(what, f.span())) };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => Ok(i.clone()),
            other => Err(Diagnostic::at(what, other.span())),
        })
        .collect()
}

trait UpperFirst {
    fn to_uppercase_first(self) -> String;
}

impl UpperFirst for String {
    fn to_uppercase_first(self) -> String {
        // "Tumble takes ..." reads better as "TUMBLE takes ...".
        match self.split_once(' ') {
            Some((f, rest)) => format!("{} {rest}", f.to_uppercase()),
            None => self,
        }
    }
}

/// Where the top-level `GROUP BY` of a query is, for errors about it.
pub fn group_by_span(query: &Query) -> Option<Span> {
    match query.body.as_ref() {
        SetExpr::Select(select) => match &select.group_by {
            GroupByExpr::Expressions(exprs, _) if !exprs.is_empty() => Some(Span::union_iter(exprs.iter().map(Spanned::span))),
            _ => None,
        },
        _ => None,
    }
}

fn placeholder_table(name: &str, alias: Option<TableAlias>) -> TableFactor {
    TableFactor::Table {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        alias,
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    }
}
