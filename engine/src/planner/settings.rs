//! `SET 'key' = 'value'`: settings of the whole pipeline, in the form of
//! Flink's SQL client. Each key is checked here, at its position; an
//! unknown key is an error with the closest known one as a hint.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_connectors::SinkSpec;

use super::Planner;
use crate::diagnostic::Diagnostic;
use crate::plan::{DeadLetterPlan, RowPolicy};
use crate::sql::SqlOption;

/// Every key `SET` takes, with what it means (for errors and docs).
pub const KEYS: &[(&str, &str)] = &[
    (
        "pipeline.on-error",
        "'skip' (default): a row whose expression fails (division by zero, a bad cast) is counted, logged and dead-lettered, and the pipeline goes on; 'fail': the first such row stops the pipeline",
    ),
    ("pipeline.dead-letter.table", "a sink table that receives every failed row with its error (see docs/sql.md, Errors)"),
    (
        "execution.checkpointing.interval",
        "how often a consistent checkpoint is taken ('10 s'); with 'state.checkpoints.dir' (default 10 s when only the directory is set)",
    ),
    (
        "state.checkpoints.dir",
        "where checkpoints are kept: a local path, a file:// URL or s3://bucket/prefix (see the s3.* keys); a pipeline whose directory holds a checkpoint resumes from it",
    ),
    ("state.checkpoints.num-retained", "how many complete checkpoints are kept (default 1)"),
    (
        "table.exec.state.ttl",
        "how long a join without a time bound holds a row, in event time ('1 h', '30 min'); rows further apart do not pair",
    ),
];

/// The columns of a dead-letter table.
pub fn dead_letter_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("failed_at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("statement", DataType::Utf8, false),
        Field::new("operator", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("row", DataType::Utf8, false),
    ]))
}

impl Planner {
    /// Records one `SET`; the dead-letter table is resolved at the end, so
    /// that it may be declared after the `SET`.
    pub(super) fn set(&mut self, option: SqlOption) -> Result<(), Diagnostic> {
        let SqlOption { key, value, span } = &option;
        match key.as_str() {
            "pipeline.on-error" => {
                self.settings.on_error = match value.trim().to_ascii_lowercase().as_str() {
                    "skip" => RowPolicy::Skip,
                    "fail" => RowPolicy::Fail,
                    other => {
                        return Err(Diagnostic::at(format!("'pipeline.on-error' is 'skip' or 'fail', not '{other}'"), *span));
                    }
                };
            }
            "pipeline.dead-letter.table" => self.dead_letter = Some(option.clone()),
            "table.exec.state.ttl" => {
                let ttl = humantime::parse_duration(value.trim()).map_err(|e| {
                    Diagnostic::at(format!("'table.exec.state.ttl' is a duration: {e}"), *span).with_help("for example SET 'table.exec.state.ttl' = '1 h'")
                })?;
                let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                // Flink: 0 turns the TTL off.
                self.settings.state_ttl_ms = (ms > 0).then_some(ms);
            }
            crate::checkpoint::INTERVAL_KEY => {
                let interval = humantime::parse_duration(value.trim()).map_err(|e| {
                    Diagnostic::at(format!("'{key}' is a duration: {e}"), *span).with_help(format!("for example SET '{key}' = '10 s'"))
                })?;
                if interval.is_zero() {
                    return Err(Diagnostic::at(format!("'{key}' must be longer than 0"), *span).with_help(format!("for example SET '{key}' = '10 s'")));
                }
                self.settings.checkpoints.interval = Some(interval);
            }
            crate::checkpoint::DIR_KEY => {
                if value.trim().is_empty() {
                    return Err(Diagnostic::at(format!("'{key}' is a directory, not empty"), *span));
                }
                self.settings.checkpoints.dir = Some(value.trim().to_string());
            }
            s3 if crate::checkpoint::S3_KEYS.iter().any(|(k, _)| *k == s3) => {
                crate::checkpoint::check_s3_option(s3, value).map_err(|why| Diagnostic::at(why, *span))?;
                self.settings.checkpoints.store.insert(s3.to_string(), value.trim().to_string());
            }
            crate::checkpoint::RETAINED_KEY => match value.trim().parse::<usize>() {
                Ok(n) if n >= 1 => self.settings.checkpoints.retained = Some(n),
                _ => return Err(Diagnostic::at(format!("'{key}' is a whole number of at least 1, not '{value}'"), *span)),
            },
            other => {
                let known: Vec<&str> = KEYS.iter().chain(crate::checkpoint::S3_KEYS).map(|(k, _)| *k).collect();
                let d = Diagnostic::at(format!("unknown setting '{other}'"), *span);
                return Err(match weir_connectors::options::closest(other, &known) {
                    Some(k) => d.with_help(format!("did you mean '{k}'? settings: {}", known.join(", "))),
                    None => d.with_help(format!("settings: {}", known.join(", "))),
                });
            }
        }
        Ok(())
    }

    /// Resolves `'pipeline.dead-letter.table'` to its sink, once every
    /// table is declared and every INSERT planned.
    pub(super) fn resolve_dead_letter(&mut self) -> Result<(), Diagnostic> {
        let Some(SqlOption { value: name, span, .. }) = self.dead_letter.clone() else { return Ok(()) };
        let Some(table) = self.table(&name) else {
            return Err(Diagnostic::at(format!("the dead-letter table '{name}' is not declared"), span)
                .with_help(format!("declare it: CREATE TABLE {name} WITH ('connector' = 'file', 'path' = 'errors.json', 'format' = 'json')")));
        };
        if self.sinks.iter().any(|s| s.table == name) {
            return Err(Diagnostic::at(format!("'{name}' is the dead-letter table, so no INSERT may write to it"), span)
                .with_help("dead letters have their own columns: failed_at, statement, operator, error, row"));
        }
        let schema = dead_letter_schema();
        if let Some(declared) = &table.declared {
            let same = declared.fields().len() == schema.fields().len()
                && declared.fields().iter().zip(schema.fields()).all(|(d, s)| d.name() == s.name() && d.data_type().equals_datatype(s.data_type()));
            if !same {
                return Err(Diagnostic::at(format!("the dead-letter table '{name}' must have the columns failed_at TIMESTAMP(3), statement, operator, error, row (VARCHAR)"), span)
                    .with_help("or declare it without a column list"));
            }
        }
        let mut config = table.options.clone();
        config.remove("connector");
        let spec: Arc<dyn SinkSpec> = weir_connectors::sink_spec(&table.connector, &config).map_err(|e| table.connector_error(e))?;
        self.settings.dead_letter = Some(DeadLetterPlan { table: name, spec, schema });
        Ok(())
    }
}
