//! What one pipeline may cost to check: limits on its text, statements
//! and expressions, enforced before DataFusion sees anything.
//!
//! `weir serve` plans SQL that anybody with the token sends, so planning
//! must never take the process down. sqlparser already refuses deep
//! *nesting* (parentheses, subqueries: "nested too deeply"), but a long
//! chain such as `a + a + ... + a` parses in a loop into a left-deep tree
//! thousands of levels deep, and every recursive pass after that (the
//! planner, the optimizer, `Display`, `Drop`) walks it recursively. These
//! limits turn such input into a positioned error. The visitor that
//! measures depth stops at the first expression past the limit, so it never
//! recurses deeper than the limit itself; parsing and dropping the tree run
//! on the planning thread's generous stack (`planner::plan_pipeline`).

use std::ops::ControlFlow;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, Spanned, Visit, Visitor};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::ast::PipelineStatement;
use crate::diagnostic::Diagnostic;

/// Limits on what planning one pipeline may cost. The defaults are far
/// above what hand-written or generated pipelines need.
///
/// ```
/// let limits = weir_engine::sql::Limits::default();
/// assert_eq!(limits.max_expression_depth, 256);
/// let deep = format!(
///     "CREATE TABLE t WITH ('connector' = 'generator');\n\
///      CREATE TABLE o WITH ('connector' = 'blackhole');\n\
///      INSERT INTO o SELECT {} FROM t;",
///     vec!["speed"; 1000].join(" + ")
/// );
/// let err = weir_engine::plan_pipeline(&deep).unwrap_err();
/// assert!(err.message.contains("nested 257 levels deep"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest pipeline text, in bytes (default 1 MiB, `weir serve`'s
    /// request limit).
    pub max_sql_bytes: usize,
    /// The most statements in one pipeline (default 1,000).
    pub max_statements: usize,
    /// The deepest expression tree: operators and function calls nested in
    /// each other, a chain `a + b + c` counting one level per operator
    /// (default 256).
    pub max_expression_depth: usize,
    /// The most expression nodes in one statement (default 100,000): wide
    /// `IN` lists and `CASE`s are fine, megabytes of generated SQL are not.
    pub max_expression_nodes: usize,
    /// The most operators in the streaming plan of the whole pipeline
    /// (default 10,000).
    pub max_plan_nodes: usize,
    /// The longest planning may take before it is abandoned with an error
    /// (default 20 s).
    pub planning_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sql_bytes: 1 << 20,
            max_statements: 1000,
            max_expression_depth: 256,
            max_expression_nodes: 100_000,
            max_plan_nodes: 10_000,
            planning_timeout: Duration::from_secs(20),
        }
    }
}

/// Checks the size of the text before it is parsed.
pub(crate) fn check_text(sql: &str, limits: &Limits) -> Result<(), Diagnostic> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Diagnostic::new(format!(
            "the pipeline is {} bytes long; at most {} are accepted",
            sql.len(),
            limits.max_sql_bytes
        ))
        .with_help("split it into several pipelines"));
    }
    Ok(())
}

/// Checks the statement count and every expression's depth and size.
pub(crate) fn check_statements(statements: &[PipelineStatement], limits: &Limits) -> Result<(), Diagnostic> {
    if statements.len() > limits.max_statements {
        let span = statements[limits.max_statements].span();
        return Err(Diagnostic::at(
            format!("the pipeline has {} statements; at most {} are accepted", statements.len(), limits.max_statements),
            span,
        )
        .with_help("split it into several pipelines"));
    }
    for statement in statements {
        let mut measure = Measure { limits, depth: 0, nodes: 0 };
        let flow = match statement {
            PipelineStatement::CreateTable(t) => {
                let computed = t.computed.iter().try_for_each(|c| c.expr.visit(&mut measure));
                match computed {
                    ControlFlow::Continue(()) => t.watermark.as_ref().map_or(ControlFlow::Continue(()), |w| w.expr.visit(&mut measure)),
                    broken => broken,
                }
            }
            PipelineStatement::CreateView(v) => v.query.visit(&mut measure),
            PipelineStatement::Insert(i) => i.query.visit(&mut measure),
            PipelineStatement::CreateModel(_) | PipelineStatement::CreateMonitor(_) | PipelineStatement::Set(_) => ControlFlow::Continue(()),
        };
        if let ControlFlow::Break(d) = flow {
            return Err(d.in_statement(statement.span()));
        }
    }
    Ok(())
}

/// Counts expression nodes and tracks the nesting depth, stopping at the
/// first limit passed.
struct Measure<'a> {
    limits: &'a Limits,
    depth: usize,
    nodes: usize,
}

impl Visitor for Measure<'_> {
    type Break = Diagnostic;

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Diagnostic> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > self.limits.max_expression_depth {
            return ControlFlow::Break(
                Diagnostic::at(
                    format!(
                        "this expression is nested {} levels deep; at most {} are accepted",
                        self.depth, self.limits.max_expression_depth
                    ),
                    position(expr),
                )
                .with_help("a long chain such as a + b + c + ... counts one level per operator: sum fewer terms per expression, or compute parts in a view"),
            );
        }
        if self.nodes > self.limits.max_expression_nodes {
            return ControlFlow::Break(
                Diagnostic::at(
                    format!("the statement has more than {} expression nodes", self.limits.max_expression_nodes),
                    position(expr),
                )
                .with_help("split the query into views, or the pipeline into several"),
            );
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Diagnostic> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// Where an expression starts. Its span is the union of its children's, so
/// computing it walks the subtree: below the depth limit that is safe, and
/// past it only the innermost leftmost leaf is needed, which a left-deep
/// chain reaches by following `left`.
fn position(expr: &Expr) -> Span {
    let mut e = expr;
    while let Expr::BinaryOp { left, .. } = e {
        e = left;
    }
    let start = e.span().start;
    Span::new(start, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse_pipeline;

    fn check(sql: &str, limits: &Limits) -> Result<(), Diagnostic> {
        check_text(sql, limits)?;
        check_statements(&parse_pipeline(sql)?, limits)
    }

    #[test]
    fn depth_width_statements_and_size() {
        let limits = Limits { max_expression_depth: 10, max_expression_nodes: 50, max_statements: 3, max_sql_bytes: 2000, ..Limits::default() };
        let insert = |select: &str| format!("CREATE TABLE t WITH ('connector' = 'generator');\nINSERT INTO o SELECT {select} FROM t;");
        assert!(check(&insert(&["a"; 10].join(" + ")), &limits).is_ok());
        let deep = check(&insert(&["a"; 12].join(" + ")), &limits).unwrap_err();
        assert_eq!((deep.line(), deep.column()), (2, 22), "{deep}");
        assert!(deep.message.contains("nested 11 levels deep"), "{deep}");
        let wide = check(&insert(&format!("a IN ({})", vec!["1"; 60].join(", "))), &limits).unwrap_err();
        assert!(wide.message.contains("more than 50 expression nodes"), "{wide}");
        let many = check(&"INSERT INTO o SELECT a FROM t;\n".repeat(4), &limits).unwrap_err();
        assert_eq!(many.line(), 4, "{many}");
        let long = check(&" ".repeat(2001), &limits).unwrap_err();
        assert!(long.message.contains("2001 bytes"), "{long}");
    }
}
