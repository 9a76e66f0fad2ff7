//! Parsing a pipeline file into [`PipelineStatement`]s.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use super::ast::*;
use crate::diagnostic::Diagnostic;

type PResult<T> = Result<T, Diagnostic>;

/// Parses a whole pipeline file.
///
/// ```
/// use weir_engine::sql::{parse_pipeline, PipelineStatement};
/// let statements = parse_pipeline(
///     "CREATE TABLE t WITH ('connector' = 'generator');\n\
///      CREATE TABLE out WITH ('connector' = 'stdout');\n\
///      INSERT INTO out SELECT sensor_id, speed FROM t WHERE speed > 50;",
/// )?;
/// assert!(matches!(statements[2], PipelineStatement::Insert(_)));
/// # Ok::<(), weir_engine::Diagnostic>(())
/// ```
pub fn parse_pipeline(sql: &str) -> PResult<Vec<PipelineStatement>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| from_parser_error(ParserError::from(e)))?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(super::windows::strip_table_keyword(tokens));
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token();
        if first.token == Token::EOF {
            break;
        }
        let start = first.span.start;
        let statement = parse_statement(&mut parser, start)?;
        let next = parser.peek_token();
        if next.token != Token::SemiColon && next.token != Token::EOF {
            return Err(Diagnostic::at(
                format!("expected ';' after the statement, found {}", next.token),
                next.span,
            )
            .with_help("statements are separated by ';'"));
        }
        statements.push(statement);
    }
    Ok(statements)
}

fn parse_statement(parser: &mut Parser<'_>, start: Location) -> PResult<PipelineStatement> {
    let first = parser.peek_token();
    if parser.parse_keyword(Keyword::CREATE) {
        let _ = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        let _ = parser.parse_keyword(Keyword::TEMPORARY);
        if parser.parse_keyword(Keyword::TABLE) {
            return parse_create_table(parser, start).map(|t| PipelineStatement::CreateTable(Box::new(t)));
        }
        if parser.parse_keyword(Keyword::VIEW) {
            let name = parser.parse_object_name(false).map_err(from_parser_error)?;
            expect_keyword(parser, Keyword::AS, "AS and the view's query")?;
            let query = parser.parse_query().map_err(from_parser_error)?;
            let span = Span::new(start, end_of(parser));
            return Ok(PipelineStatement::CreateView(CreateView { name, query, span }));
        }
        if is_word(&parser.peek_token().token, "MODEL") {
            parser.next_token();
            return parse_create_model(parser, start).map(PipelineStatement::CreateModel);
        }
        if is_word(&parser.peek_token().token, "MONITOR") {
            parser.next_token();
            return parse_create_monitor(parser, start).map(PipelineStatement::CreateMonitor);
        }
        let found = parser.peek_token();
        return Err(Diagnostic::at(format!("expected TABLE, VIEW, MODEL or MONITOR after CREATE, found {}", found.token), found.span));
    }
    if parser.parse_keyword(Keyword::INSERT) {
        expect_keyword(parser, Keyword::INTO, "INTO")?;
        let table = parser.parse_object_name(false).map_err(from_parser_error)?;
        let next = parser.peek_token();
        if next.token == Token::LParen && !matches!(parser.peek_nth_token(1).token, Token::Word(ref w) if w.keyword == Keyword::SELECT || w.keyword == Keyword::WITH)
        {
            return Err(Diagnostic::at("INSERT with a column list is not supported", next.span)
                .with_help("rows are inserted by position: order the SELECT list like the sink's columns"));
        }
        let query = parser.parse_query().map_err(from_parser_error)?;
        let span = Span::new(start, end_of(parser));
        return Ok(PipelineStatement::Insert(Insert { table, query, span }));
    }
    if parser.parse_keyword(Keyword::SET) {
        // Flink's SQL client form: SET 'key' = 'value'.
        let option = parse_option(parser)?;
        return Ok(PipelineStatement::Set(SqlOption { span: Span::new(start, end_of(parser)), ..option }));
    }
    if let Token::Word(w) = &first.token
        && (w.keyword == Keyword::SELECT || w.keyword == Keyword::WITH)
    {
        return Err(Diagnostic::at("a SELECT on its own has nowhere to send its rows", first.span)
            .with_help("write INSERT INTO <sink table> SELECT ..., with a sink such as 'connector' = 'stdout'"));
    }
    Err(Diagnostic::at(
        format!("expected CREATE TABLE, CREATE VIEW, CREATE MODEL, CREATE MONITOR, INSERT INTO or SET, found {}", first.token),
        first.span,
    ))
}

/// The start of the next significant token: where a statement just parsed ends.
fn end_of(parser: &Parser<'_>) -> Location {
    parser.peek_token().span.start
}

fn expect_keyword(parser: &mut Parser<'_>, keyword: Keyword, what: &str) -> PResult<()> {
    if parser.parse_keyword(keyword) {
        return Ok(());
    }
    let found = parser.peek_token();
    Err(Diagnostic::at(format!("expected {what}, found {}", found.token), found.span))
}

fn expect_token(parser: &mut Parser<'_>, token: Token, what: &str) -> PResult<TokenWithSpan> {
    let found = parser.peek_token();
    if found.token == token {
        parser.next_token();
        return Ok(found);
    }
    Err(Diagnostic::at(format!("expected {what}, found {}", found.token), found.span))
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn parse_create_table(parser: &mut Parser<'_>, start: Location) -> PResult<CreateTable> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false).map_err(from_parser_error)?;
    let mut columns = None;
    let mut computed = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    if parser.peek_token().token == Token::LParen {
        parser.next_token();
        let mut declared = Vec::new();
        loop {
            let next = parser.peek_token();
            if is_word(&next.token, "WATERMARK") && parser.peek_nth_token(1).token == Token::Word(for_word()) {
                parser.next_token();
                parser.next_token();
                let column = parse_ident(parser)?;
                expect_keyword(parser, Keyword::AS, "AS and the watermark expression")?;
                let expr = parser.parse_expr().map_err(from_parser_error)?;
                if watermark.is_some() {
                    return Err(Diagnostic::at("a table can have only one WATERMARK", next.span));
                }
                watermark = Some(Watermark { column, expr, span: Span::new(next.span.start, end_of(parser)) });
            } else if parser.parse_keyword(Keyword::PRIMARY) {
                expect_keyword(parser, Keyword::KEY, "KEY after PRIMARY")?;
                expect_token(parser, Token::LParen, "'(' and the key's columns")?;
                loop {
                    primary_key.push(parse_ident(parser)?);
                    if !parser.consume_token(&Token::Comma) {
                        break;
                    }
                }
                expect_token(parser, Token::RParen, "',' or ')' after the key's columns")?;
                if !parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
                    return Err(Diagnostic::at("Weir does not enforce keys: write PRIMARY KEY (...) NOT ENFORCED, as Flink does", Span::new(next.span.start, end_of(parser))));
                }
            } else {
                let name = parse_ident(parser)?;
                if parser.parse_keyword(Keyword::AS) {
                    let expr = parser.parse_expr().map_err(from_parser_error)?;
                    computed.push(ComputedColumn { name, expr });
                } else {
                    if !computed.is_empty() {
                        return Err(Diagnostic::at(
                            "declared columns must come before computed columns",
                            name.span,
                        ));
                    }
                    let type_start = parser.peek_token().span;
                    if matches!(parser.peek_token().token, Token::Comma | Token::RParen) {
                        return Err(Diagnostic::at(
                            format!("expected a type for column '{}', found {}", name.value, parser.peek_token().token),
                            type_start,
                        ));
                    }
                    if is_word(&parser.peek_token().token, "METADATA") {
                        return Err(Diagnostic::at(
                            format!("expected a type for column '{}', found METADATA", name.value),
                            type_start,
                        ));
                    }
                    let data_type = parser.parse_data_type().map_err(from_parser_error)?;
                    let type_span = Span::new(type_start.start, end_of(parser));
                    let mut not_null = false;
                    if parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
                        not_null = true;
                    } else {
                        let _ = parser.parse_keyword(Keyword::NULL);
                    }
                    let metadata = parse_metadata(parser, &name)?;
                    if parser.parse_keyword(Keyword::COMMENT) {
                        parser.parse_literal_string().map_err(from_parser_error)?;
                    }
                    declared.push(ColumnDef { name, data_type, type_span, not_null, metadata });
                }
            }
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            expect_token(parser, Token::RParen, "',' or ')' in the column list")?;
            break;
        }
        columns = Some(declared);
    }
    let (options, options_span) = parse_with(parser, start)?;
    Ok(CreateTable { name, columns, computed, watermark, primary_key, options, options_span, span: Span::new(start, end_of(parser)) })
}

/// An optional `METADATA [FROM 'key'] [VIRTUAL]` after a column's type, as
/// in Flink: the column is filled from the connector's metadata (`key`
/// defaults to the column's name). Weir never writes metadata, so VIRTUAL
/// is accepted and changes nothing.
fn parse_metadata(parser: &mut Parser<'_>, name: &Ident) -> PResult<Option<(String, Span)>> {
    let start = parser.peek_token().span;
    if !is_word(&parser.peek_token().token, "METADATA") {
        return Ok(None);
    }
    parser.next_token();
    let key = if parser.parse_keyword(Keyword::FROM) {
        let found = parser.peek_token();
        match found.token {
            Token::SingleQuotedString(key) => {
                parser.next_token();
                key
            }
            other => return Err(Diagnostic::at(format!("expected the metadata's name in quotes after FROM, found {other}"), found.span)),
        }
    } else {
        name.value.clone()
    };
    let _ = parser.parse_keyword(Keyword::VIRTUAL);
    Ok(Some((key, Span::new(start.start, end_of(parser)))))
}

/// An optional `WITH ('key' = 'value', ...)` clause ending the statement.
fn parse_with(parser: &mut Parser<'_>, start: Location) -> PResult<(Vec<SqlOption>, Span)> {
    let with_start = parser.peek_token().span;
    let mut options = Vec::new();
    if parser.parse_keyword(Keyword::WITH) {
        expect_token(parser, Token::LParen, "'(' after WITH")?;
        if parser.peek_token().token != Token::RParen {
            loop {
                options.push(parse_option(parser)?);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        expect_token(parser, Token::RParen, "',' or ')' in the WITH options")?;
        return Ok((options, Span::new(with_start.start, end_of(parser))));
    }
    let found = parser.peek_token();
    if found.token != Token::SemiColon && found.token != Token::EOF {
        return Err(Diagnostic::at(format!("expected WITH (...) options, found {}", found.token), found.span));
    }
    Ok((options, Span::new(start, end_of(parser))))
}

/// `CREATE MODEL name INPUT (col TYPE, ...) OUTPUT (col TYPE) WITH (...)`.
fn parse_create_model(parser: &mut Parser<'_>, start: Location) -> PResult<CreateModel> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false).map_err(from_parser_error)?;
    let mut lists = Vec::new();
    for clause in ["INPUT", "OUTPUT"] {
        let found = parser.peek_token();
        if !is_word(&found.token, clause) {
            return Err(Diagnostic::at(format!("expected {clause} (column TYPE, ...), found {}", found.token), found.span)
                .with_help("CREATE MODEL m INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN) WITH (...)"));
        }
        parser.next_token();
        let list_start = parser.peek_token().span.start;
        expect_token(parser, Token::LParen, &format!("'(' after {clause}"))?;
        let mut columns = Vec::new();
        loop {
            let name = parse_ident(parser)?;
            let type_start = parser.peek_token();
            if matches!(type_start.token, Token::Comma | Token::RParen) {
                return Err(Diagnostic::at(
                    format!("expected a type for column '{}', found {}", name.value, type_start.token),
                    type_start.span,
                ));
            }
            let data_type = parser.parse_data_type().map_err(from_parser_error)?;
            let type_span = Span::new(type_start.span.start, end_of(parser));
            columns.push(ColumnDef { name, data_type, type_span, not_null: false, metadata: None });
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            expect_token(parser, Token::RParen, &format!("',' or ')' in the {clause} list"))?;
            break;
        }
        lists.push((columns, Span::new(list_start, end_of(parser))));
    }
    let empty = || (Vec::new(), Span::new(start, start));
    let (outputs, outputs_span) = lists.pop().unwrap_or_else(empty);
    let (inputs, _) = lists.pop().unwrap_or_else(empty);
    let (options, options_span) = parse_with(parser, start)?;
    Ok(CreateModel { name, inputs, outputs, outputs_span, options, options_span, span: Span::new(start, end_of(parser)) })
}

/// `CREATE MONITOR name ON table (column, ...) WITH (...)`.
fn parse_create_monitor(parser: &mut Parser<'_>, start: Location) -> PResult<CreateMonitor> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false).map_err(from_parser_error)?;
    expect_keyword(parser, Keyword::ON, "ON and the table or view to watch")?;
    let input = parser.parse_object_name(false).map_err(from_parser_error)?;
    let list_start = parser.peek_token().span.start;
    expect_token(parser, Token::LParen, "'(' and the columns to watch")?;
    let mut columns = Vec::new();
    loop {
        columns.push(parse_ident(parser)?);
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        expect_token(parser, Token::RParen, "',' or ')' in the column list")?;
        break;
    }
    let columns_span = Span::new(list_start, end_of(parser));
    let (options, options_span) = parse_with(parser, start)?;
    Ok(CreateMonitor { name, input, columns, columns_span, options, options_span, span: Span::new(start, end_of(parser)) })
}

fn for_word() -> datafusion::sql::sqlparser::tokenizer::Word {
    datafusion::sql::sqlparser::tokenizer::Word { value: "FOR".into(), quote_style: None, keyword: Keyword::FOR }
}

fn parse_ident(parser: &mut Parser<'_>) -> PResult<Ident> {
    let found = parser.peek_token();
    match &found.token {
        Token::Word(_) => parser.parse_identifier().map_err(from_parser_error),
        _ => Err(Diagnostic::at(format!("expected a column name, found {}", found.token), found.span)),
    }
}

/// `'key' = 'value'`, `key.part = value`, `"key" = 10`.
fn parse_option(parser: &mut Parser<'_>) -> PResult<SqlOption> {
    let first = parser.next_token();
    let mut key = match &first.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
        Token::Word(w) => w.value.clone(),
        other => return Err(Diagnostic::at(format!("expected an option name such as 'connector', found {other}"), first.span)),
    };
    if matches!(first.token, Token::Word(_)) {
        while parser.consume_token(&Token::Period) {
            let part = parser.next_token();
            match &part.token {
                Token::Word(w) => {
                    key.push('.');
                    key.push_str(&w.value);
                }
                other => return Err(Diagnostic::at(format!("expected the rest of option name '{key}.', found {other}"), part.span)),
            }
        }
    }
    expect_token(parser, Token::Eq, &format!("'=' after option '{key}'"))?;
    let value_token = parser.next_token();
    let value = match &value_token.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
        Token::Number(n, _) => n.clone(),
        Token::Word(w) => w.value.clone(),
        Token::Minus => match parser.next_token().token {
            Token::Number(n, _) => format!("-{n}"),
            other => return Err(Diagnostic::at(format!("expected a value for option '{key}', found -{other}"), value_token.span)),
        },
        other => return Err(Diagnostic::at(format!("expected a value for option '{key}', found {other}"), value_token.span)),
    };
    Ok(SqlOption { key, value, span: Span::new(first.span.start, end_of(parser)) })
}

/// A sqlparser error as a diagnostic; its `at Line: N, Column: M` becomes the span.
pub(crate) fn from_parser_error(error: ParserError) -> Diagnostic {
    let text = match &error {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
    };
    match text.rfind(" at Line: ") {
        Some(at) => {
            let (message, position) = text.split_at(at);
            let mut numbers = position
                .trim_start_matches(" at Line: ")
                .split(", Column: ")
                .map(|n| n.trim().parse::<u64>().unwrap_or(0));
            let line = numbers.next().unwrap_or(0);
            let column = numbers.next().unwrap_or(0);
            let location = Location::new(line, column);
            Diagnostic::at(lowercase_expected(message), Span::new(location, location))
        }
        None => Diagnostic::new(lowercase_expected(&text)),
    }
}

/// sqlparser says `Expected: x, found: y`; read it as `expected x, found y`.
fn lowercase_expected(message: &str) -> String {
    message.replacen("Expected: ", "expected ", 1).replacen(", found: ", ", found ", 1)
}

/// Renders an object name as the catalog knows it (unquoted, dotted).
pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| part.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| part.to_string()))
        .collect::<Vec<_>>()
        .join(".")
}
