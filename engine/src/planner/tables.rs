//! `CREATE TABLE`: a table's columns, computed columns, watermark and
//! connector, checked and turned into a source plan (when it can be read).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::ExprSchemable;
use datafusion::sql::sqlparser::ast::{ExprWithAlias, Spanned};
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_connectors::ConnectorError;

use crate::diagnostic::Diagnostic;
use crate::plan::{type_name, ComputedPlan, SourcePlan, WatermarkPlan};
use crate::sql::{self, CreateTable, SqlOption};

use super::{from_datafusion, Planner, Table};

impl Planner {
    pub(super) fn create_table(&mut self, t: CreateTable) -> Result<(), Diagnostic> {
        let name = sql::object_name(&t.name);
        let name_span = t.name.span();
        self.check_new_name(&name, name_span)?;

        let mut options = BTreeMap::new();
        let mut option_spans = HashMap::new();
        for SqlOption { key, value, span } in &t.options {
            if options.insert(key.clone(), value.clone()).is_some() {
                return Err(Diagnostic::at(format!("option '{key}' is given twice"), *span));
            }
            option_spans.insert(key.clone(), *span);
        }
        let Some(connector) = options.get("connector").cloned() else {
            return Err(Diagnostic::at("the table has no 'connector' option", t.options_span).with_help(
                "add WITH ('connector' = '...'); sources: generator, file, kafka; sinks: file, kafka, stdout, blackhole",
            ));
        };
        let connector_span = option_spans.get("connector").copied().unwrap_or(t.options_span);
        if !weir_connectors::is_source(&connector) && !weir_connectors::is_sink(&connector) {
            let mut known_unique: Vec<&str> = Vec::new();
            for (n, _) in weir_connectors::SOURCES.iter().chain(weir_connectors::SINKS) {
                if !known_unique.contains(n) {
                    known_unique.push(n);
                }
            }
            let mut d = Diagnostic::at(format!("unknown connector '{connector}'"), connector_span);
            d = match weir_connectors::options::closest(&connector, &known_unique) {
                Some(k) => d.with_help(format!("did you mean '{k}'? connectors: {}", known_unique.join(", "))),
                None => d.with_help(format!("connectors: {}", known_unique.join(", "))),
            };
            return Err(d);
        }

        let declared = match &t.columns {
            None => None,
            Some(columns) => {
                let mut fields: Vec<Field> = Vec::with_capacity(columns.len());
                for c in columns {
                    if fields.iter().any(|f| f.name() == &c.name.value) || t.computed.iter().any(|p| p.name.value == c.name.value) {
                        return Err(Diagnostic::at(format!("column '{}' is declared twice", c.name.value), c.name.span));
                    }
                    let data_type = sql::sql_type_to_arrow(&c.data_type).ok_or_else(|| {
                        Diagnostic::at(format!("unsupported column type {}", c.data_type), c.type_span)
                            .with_help(format!("supported types: {}", sql::SUPPORTED_TYPES))
                    })?;
                    let mut field = Field::new(c.name.value.clone(), data_type, !c.not_null);
                    if let Some((key, span)) = &c.metadata {
                        field = metadata_field(field, key, *span, c.type_span, &connector)?;
                    }
                    fields.push(field);
                }
                Some(Arc::new(Schema::new(fields)))
            }
        };

        let mut table = Table {
            name: name.clone(),
            connector: connector.clone(),
            connector_span,
            options: options.clone(),
            option_spans,
            options_span: t.options_span,
            name_span,
            declared: declared.clone(),
            source: None,
            not_readable: None,
        };
        let mut config = options.clone();
        config.remove("connector");
        // An engine option, not the connector's; Flink's Kafka name too.
        let mut idle_timeout = None;
        for key in ["idle_timeout", "scan.watermark.idle-timeout"] {
            let Some(text) = config.remove(key) else { continue };
            let span = table.option_spans.get(key).copied().unwrap_or(t.options_span);
            if !weir_connectors::is_source(&connector) {
                return Err(Diagnostic::at(format!("'{key}' applies to sources; '{connector}' is a sink"), span));
            }
            if idle_timeout.is_some() {
                return Err(Diagnostic::at("give either 'idle_timeout' or 'scan.watermark.idle-timeout', not both", span));
            }
            idle_timeout = Some(humantime::parse_duration(text.trim()).map_err(|e| {
                Diagnostic::at(format!("'{key}' = '{text}' is not a duration: {e}"), span)
                    .with_help("for example '30 s', '500ms' or '2 min'")
            })?);
        }

        let source_spec = if weir_connectors::is_source(&connector) {
            let primary_key: Vec<String> = t.primary_key.iter().map(|c| c.value.clone()).collect();
            match weir_connectors::source_spec(&connector, &config, declared.clone(), &primary_key) {
                Ok(spec) => Some(spec),
                // A table that cannot be a source may still be a sink (a file
                // sink needs no column list); reading it reports why not.
                Err(e @ ConnectorError::Schema { .. }) if weir_connectors::is_sink(&connector) => {
                    table.not_readable = Some(e.to_string());
                    None
                }
                // Options only a sink takes (Kafka's 'key.fields'): a sink.
                Err(e) if weir_connectors::is_sink(&connector) && weir_connectors::sink_spec(&connector, &config).is_ok() => {
                    table.not_readable = Some(e.to_string());
                    None
                }
                Err(e) => return Err(table.connector_error(e)),
            }
        } else {
            None
        };
        let schema_for_catalog = if let Some(spec) = source_spec {
            let mut source = self.source_plan(&name, spec, &t)?;
            source.idle_timeout = idle_timeout;
            let schema = Arc::clone(&source.schema);
            table.source = Some(source);
            Some(schema)
        } else {
            // Validate the sink options now, so that mistakes show even if no
            // INSERT uses the table yet.
            weir_connectors::sink_spec(&connector, &config).map_err(|e| table.connector_error(e))?;
            if !t.computed.is_empty() || t.watermark.is_some() || !t.primary_key.is_empty() {
                return Err(Diagnostic::at(
                    format!("connector '{connector}' is a sink: computed columns, watermarks and primary keys only apply to sources"),
                    name_span,
                ));
            }
            // Registered with its columns (or none), so that reading it gives
            // Weir's explanation rather than "table not found".
            Some(declared.clone().unwrap_or_else(|| Arc::new(Schema::empty())))
        };
        if let Some(schema) = schema_for_catalog {
            self.ctx
                .register_table(name.as_str(), Arc::new(EmptyTable::new(schema)))
                .map_err(from_datafusion)?;
        }
        self.tables.push(table);
        Ok(())
    }

    pub(super) fn source_plan(
        &self,
        name: &str,
        spec: Arc<dyn weir_connectors::SourceSpec>,
        t: &CreateTable,
    ) -> Result<SourcePlan, Diagnostic> {
        let physical = spec.schema();
        let df_physical = DFSchema::try_from_qualified_schema(name, &physical).map_err(from_datafusion)?;
        let state = self.state();
        let mut fields: Vec<Field> = physical.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut computed = Vec::new();
        for c in &t.computed {
            if fields.iter().any(|f| f.name() == &c.name.value) {
                return Err(Diagnostic::at(format!("column '{}' is declared twice", c.name.value), c.name.span));
            }
            let expr = state
                .create_logical_expr_from_sql_expr(ExprWithAlias { expr: c.expr.clone(), alias: None }, &df_physical)
                .map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            let (_, field) = expr.to_field(&df_physical).map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            let (data_type, nullable) = (field.data_type().clone(), field.is_nullable());
            let physical_expr = state.create_physical_expr(expr, &df_physical).map_err(|e| from_datafusion(e).or_at(c.expr.span()))?;
            fields.push(Field::new(c.name.value.clone(), data_type, nullable));
            computed.push(ComputedPlan { name: c.name.value.clone(), expr: physical_expr, text: c.expr.to_string() });
        }
        let schema = Arc::new(Schema::new(fields));
        let watermark = match &t.watermark {
            None => None,
            Some(w) => {
                let field = schema.field_with_name(&w.column.value).map_err(|_| {
                    Diagnostic::at(format!("WATERMARK FOR names '{}', which is not a column of '{name}'", w.column.value), w.column.span)
                })?;
                if !matches!(field.data_type(), DataType::Timestamp(..)) {
                    return Err(Diagnostic::at(
                        format!("the watermark column '{}' is {}, not a TIMESTAMP", w.column.value, type_name(field.data_type())),
                        w.column.span,
                    )
                    .with_help("declare it TIMESTAMP, or compute one: ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)"));
                }
                let df_full = DFSchema::try_from_qualified_schema(name, &schema).map_err(from_datafusion)?;
                let expr = state
                    .create_logical_expr_from_sql_expr(ExprWithAlias { expr: w.expr.clone(), alias: None }, &df_full)
                    .map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                let data_type = expr.get_type(&df_full).map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                if !matches!(data_type, DataType::Timestamp(..)) {
                    return Err(Diagnostic::at(
                        format!("the watermark expression is {}, not a TIMESTAMP", type_name(&data_type)),
                        w.expr.span(),
                    )
                    .with_help(format!("for example: WATERMARK FOR {0} AS {0} - INTERVAL '5' SECOND", w.column.value)));
                }
                let delay = fixed_delay(&expr, &w.column.value, field.data_type());
                let physical_expr = state.create_physical_expr(expr, &df_full).map_err(|e| from_datafusion(e).or_at(w.expr.span()))?;
                Some(WatermarkPlan { column: w.column.value.clone(), expr: physical_expr, text: w.expr.to_string(), delay })
            }
        };
        let mut primary_key = Vec::with_capacity(t.primary_key.len());
        for column in &t.primary_key {
            if schema.index_of(&column.value).is_err() {
                return Err(Diagnostic::at(format!("the PRIMARY KEY names '{}', which is not a column of '{name}'", column.value), column.span));
            }
            primary_key.push(column.value.clone());
        }
        Ok(SourcePlan { table: name.to_string(), spec, computed, watermark, primary_key, schema, default_watermark: false, idle_timeout: None })
    }
}

/// The fixed length `expr` subtracts from `column` (of type `time`), in
/// `time`'s unit, where `expr` is `column - INTERVAL '...'` with no months
/// (and no days where `time` has a time zone other than UTC: a day there
/// is a calendar day, 23 or 25 hours across a change of clocks) and the
/// length is a whole number of units. See [`WatermarkPlan::delay`].
pub(super) fn fixed_delay(expr: &datafusion::logical_expr::Expr, column: &str, time: &DataType) -> Option<i64> {
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
    let DataType::Timestamp(unit, zone) = time else { return None };
    let Expr::BinaryExpr(BinaryExpr { left, op: Operator::Minus, right }) = expr else { return None };
    let Expr::Column(c) = left.as_ref() else { return None };
    const DAY_NANOS: i64 = 86_400_000_000_000;
    let utc = zone.as_deref().is_none_or(|z| z == "UTC" || z == "+00:00");
    let fixed_days = |days: i32| (days == 0 || utc).then(|| i64::from(days).checked_mul(DAY_NANOS)).flatten();
    let nanos = match right.as_ref() {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
            fixed_days(v.days)?.checked_add(v.nanoseconds)?
        }
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
            fixed_days(v.days)?.checked_add(i64::from(v.milliseconds) * 1_000_000)?
        }
        _ => return None,
    };
    let per_unit = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    (c.name == column && nanos % per_unit == 0).then_some(nanos / per_unit)
}

impl Table {
    /// A connector's complaint, pointed at the option it is about.
    pub(super) fn connector_error(&self, e: ConnectorError) -> Diagnostic {
        let span_of = |key: &str| self.option_spans.get(key).copied();
        match &e {
            ConnectorError::UnknownConnector { .. } => {
                Diagnostic::at(e.to_string(), self.connector_span)
            }
            ConnectorError::UnknownOption { key, .. } | ConnectorError::InvalidOption { key, .. } => {
                Diagnostic::at(e.to_string(), span_of(key).unwrap_or(self.options_span))
            }
            ConnectorError::MissingOption { .. } => Diagnostic::at(e.to_string(), self.options_span),
            _ => Diagnostic::at(e.to_string(), self.name_span),
        }
    }
}

/// Marks a declared column as reading the connector's metadata `key`,
/// after checking that the connector has it and that its values convert
/// to the declared type.
pub(super) fn metadata_field(field: Field, key: &str, span: Span, type_span: Span, connector: &str) -> Result<Field, Diagnostic> {
    if connector != "kafka" && connector != "upsert-kafka" {
        return Err(Diagnostic::at(format!("connector '{connector}' has no metadata; METADATA columns are for kafka and upsert-kafka sources"), span));
    }
    let Some(kind) = weir_connectors::KafkaMetadata::from_name(key) else {
        let names: Vec<&str> = weir_connectors::KAFKA_METADATA.iter().map(|(n, _)| *n).collect();
        let d = Diagnostic::at(format!("kafka has no metadata '{key}'"), span);
        return Err(match weir_connectors::options::closest(key, &names) {
            Some(k) => d.with_help(format!("did you mean '{k}'? kafka's metadata: {}", weir_connectors::metadata_names())),
            None => d.with_help(format!("kafka's metadata: {}", weir_connectors::metadata_names())),
        });
    };
    if !datafusion::arrow::compute::can_cast_types(&kind.data_type(), field.data_type()) {
        let expected = weir_connectors::KAFKA_METADATA.iter().find(|(n, _)| *n == key).map_or("", |(_, t)| *t);
        return Err(Diagnostic::at(
            format!("metadata '{key}' is {expected}; it cannot be read as {}", type_name(field.data_type())),
            type_span,
        ));
    }
    let metadata = std::collections::HashMap::from([(weir_connectors::METADATA_FIELD_KEY.to_string(), key.to_string())]);
    Ok(field.with_metadata(metadata))
}

#[cfg(test)]
mod tests {
    use crate::planner::plan_pipeline;

    /// The delay each watermark expression gets, in its column's unit.
    fn delay(column_type: &str, watermark: &str) -> Option<i64> {
        let sql = format!(
            "CREATE TABLE t (k BIGINT, ts {column_type}, WATERMARK FOR ts AS {watermark})
               WITH ('connector' = 'file', 'path' = '/dev/null', 'format' = 'json');
             CREATE TABLE o WITH ('connector' = 'blackhole');
             INSERT INTO o SELECT k, ts FROM t;"
        );
        let pipeline = plan_pipeline(&sql).unwrap_or_else(|d| panic!("{sql}: {d:?}"));
        pipeline.sources[0].watermark.as_ref().expect("a watermark").delay
    }

    #[test]
    fn fixed_length_watermarks_subtract_an_integer() {
        assert_eq!(delay("TIMESTAMP", "ts - INTERVAL '5' SECOND"), Some(5_000));
        assert_eq!(delay("TIMESTAMP", "ts - INTERVAL '1' MINUTE"), Some(60_000));
        assert_eq!(delay("TIMESTAMP", "ts - INTERVAL '0.25' SECOND"), Some(250));
        // TIMESTAMP is UTC, whose days are all 24 hours.
        assert_eq!(delay("TIMESTAMP", "ts - INTERVAL '1' DAY"), Some(86_400_000));
        // Calendar lengths and other shapes keep DataFusion's arithmetic.
        assert_eq!(delay("TIMESTAMP", "ts - INTERVAL '1' MONTH"), None);
        assert_eq!(delay("TIMESTAMP", "ts"), None);
        assert_eq!(delay("TIMESTAMP", "ts + INTERVAL '1' SECOND"), None);
    }
}
