//! Errors that point into the pipeline's SQL text.
//!
//! Every mistake in a pipeline is reported the way compilers report them: the
//! message, the file, line and column, the statement quoted with a caret under
//! the offending part, and a hint when there is an obvious fix. Rendering uses
//! `annotate-snippets`, the crate rustc's diagnostics come from.

use std::fmt;

use annotate_snippets::{Level, Renderer, Snippet};
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

/// A positioned error in a pipeline's SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, and what was expected.
    pub message: String,
    /// Where (1-based line and column), when known.
    pub span: Option<Span>,
    /// A suggestion for fixing it.
    pub help: Option<String>,
    /// The statement it belongs to, quoted when rendered.
    pub statement: Option<Span>,
}

impl Diagnostic {
    /// An error with no position (yet).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), span: None, help: None, statement: None }
    }

    /// An error at `span`.
    pub fn at(message: impl Into<String>, span: Span) -> Self {
        let span = if span.start.line == 0 { None } else { Some(span) };
        Self { message: message.into(), span, help: None, statement: None }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the statement (and the position, when none is known yet).
    pub fn in_statement(mut self, statement: Span) -> Self {
        if self.statement.is_none() {
            self.statement = Some(statement);
        }
        if self.span.is_none() {
            self.span = Some(Span::new(statement.start, statement.start));
        }
        self
    }

    /// 1-based line, 0 when unknown.
    pub fn line(&self) -> u64 {
        self.span.map(|s| s.start.line).unwrap_or(0)
    }

    /// 1-based column, 0 when unknown.
    pub fn column(&self) -> u64 {
        self.span.map(|s| s.start.column).unwrap_or(0)
    }

    /// Renders like a compiler error: message, `--> file:line:column`, the
    /// statement with a caret, and the hint.
    pub fn render(&self, source: &str, origin: &str) -> String {
        let lines: Vec<&str> = source.split('\n').collect();
        let fallback = Location::new(lines.len() as u64, lines.last().map(|l| l.chars().count() as u64 + 1).unwrap_or(1));
        let span = self.span.unwrap_or(Span::new(fallback, fallback));
        let at = span.start;
        let (first, last) = match self.statement {
            Some(st) if st.start.line > 0 && st.start.line <= at.line => {
                let mut last = st.end.line.max(at.line).min(lines.len() as u64);
                // Drop trailing blank or comment-only lines of the quoted statement.
                while last > at.line {
                    let text = lines.get(last as usize - 1).map(|l| l.trim()).unwrap_or("");
                    if text.is_empty() || text.starts_with("--") || text == ";" { last -= 1 } else { break }
                }
                (st.start.line, last)
            }
            _ => (at.line, at.line),
        };
        let first = first.max(1);
        let last = last.max(first).min(lines.len().max(1) as u64);
        let quoted: Vec<&str> = lines[(first - 1) as usize..last as usize].to_vec();
        let text = quoted.join("\n");
        let offset_of = |loc: Location| -> usize {
            let mut offset = 0;
            for (i, line) in quoted.iter().enumerate() {
                if first + i as u64 == loc.line {
                    let col = loc.column.saturating_sub(1) as usize;
                    return offset + line.char_indices().nth(col).map(|(b, _)| b).unwrap_or(line.len());
                }
                offset += line.len() + 1;
            }
            text.len()
        };
        let start = offset_of(at);
        let mut end = if span.end.line == at.line && span.end.column > at.column { offset_of(span.end) } else { start };
        if end <= start {
            // Underline the word at the position, or else its one character
            // (whole: a multi-byte character cut in two panics the renderer;
            // found by the REST fuzzer with U+202B).
            let rest = &text[start..];
            let word = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            end = start + if word > 0 { word } else { rest.chars().next().map_or(0, char::len_utf8) };
        }
        let title = self.message.clone();
        let origin_text = origin.to_string();
        let snippet = Snippet::source(&text)
            .line_start(first as usize)
            .origin(&origin_text)
            .fold(false)
            .annotation(Level::Error.span(start..end));
        let mut message = Level::Error.title(&title).snippet(snippet);
        let help;
        if let Some(h) = &self.help {
            help = h.clone();
            message = message.footer(Level::Help.title(&help));
        }
        // The renderer indexes the text itself: should it ever panic on an
        // input it mis-measures, the error still reaches the user, plainly.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Renderer::plain().render(message).to_string()))
            .unwrap_or_else(|_| format!("error: {title}\n --> {origin}:{}:{}", at.line, at.column))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line() > 0 {
            write!(f, "line {}, column {}: ", self.line(), self.column())?;
        }
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_statement_with_caret() {
        let sql = "-- a pipeline\nCREATE TABLE t WITH (\n  'connector' = 'kafak'\n);\n";
        let d = Diagnostic::at("unknown connector 'kafak'", Span::new(Location::new(3, 17), Location::new(3, 24)))
            .with_help("known: generator, file")
            .in_statement(Span::new(Location::new(2, 1), Location::new(4, 2)));
        let text = d.render(sql, "p.sql");
        assert_eq!(
            text,
            "error: unknown connector 'kafak'\n --> p.sql:3:17\n  |\n2 | CREATE TABLE t WITH (\n3 |   'connector' = 'kafak'\n  |                 ^^^^^^^\n4 | );\n  |\n  = help: known: generator, file"
        );
        assert_eq!(d.to_string(), "line 3, column 17: unknown connector 'kafak' (help: known: generator, file)");
    }

    #[test]
    fn a_position_at_a_multibyte_character_underlines_it_whole() {
        // Found by the REST fuzzer: a right-to-left embedding (U+202B, 3
        // bytes) where the error points; the underline ended inside it.
        let sql = "INSERT INTO o \u{202b}ECT * FROM t";
        let d = Diagnostic::at("expected SELECT", Span::new(Location::new(1, 15), Location::new(1, 15)));
        let text = d.render(sql, "p.sql");
        assert!(text.starts_with("error: expected SELECT\n --> p.sql:1:15"), "{text}");
    }
}
