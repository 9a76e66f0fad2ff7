//! `weir check`'s text of a pipeline: its settings, sources and, per
//! `INSERT`, the operator tree each node describes itself in.

use std::fmt;

use super::{type_name, Pipeline, RowPolicy};

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        if let Some(ttl) = self.settings.state_ttl_ms {
            let ttl = humantime::format_duration(std::time::Duration::from_millis(ttl.unsigned_abs()));
            writeln!(f, "state ttl: {ttl} (joins without a time bound hold a row until the watermark is this far past it)")?;
        }
        if self.settings.on_error == RowPolicy::Fail {
            writeln!(f, "on error: a row whose expression fails stops the pipeline")?;
        }
        let c = &self.settings.checkpoints;
        if c.dir.is_some() || c.interval.is_some() {
            let interval = c.interval.unwrap_or(crate::checkpoint::DEFAULT_INTERVAL);
            let dir = c.dir.as_deref().unwrap_or("--checkpoint-dir");
            writeln!(f, "checkpoints: every {} in {dir}, keeping {}", humantime::format_duration(interval), c.retained.unwrap_or(1))?;
        }
        if let Some(d) = &self.settings.dead_letter {
            writeln!(f, "dead letters: failed rows go to {} ({})", d.table, d.spec.describe())?;
        }
        for source in &self.sources {
            writeln!(f, "source {}: {}", source.table, source.spec.describe())?;
            let columns: Vec<String> = source
                .schema
                .fields()
                .iter()
                .filter(|c| c.name() != weir_connectors::upsert::DELETED_COLUMN)
                .map(|c| {
                    let computed = source.computed.iter().find(|p| &p.name == c.name());
                    match computed {
                        Some(p) => format!("{} AS {}", c.name(), p.text),
                        None => format!(
                            "{} {}{}{}",
                            c.name(),
                            type_name(c.data_type()),
                            if c.is_nullable() { "" } else { " NOT NULL" },
                            c.metadata()
                                .get(weir_connectors::METADATA_FIELD_KEY)
                                .map(|k| format!(" METADATA FROM '{k}'"))
                                .unwrap_or_default()
                        ),
                    }
                })
                .collect();
            writeln!(f, "  columns: {}", columns.join(", "))?;
            if let Some(w) = &source.watermark {
                let default = if source.default_watermark { " (Weir's default: the table declares no WATERMARK)" } else { "" };
                writeln!(f, "  watermark: for {} as {}{default}", w.column, w.text)?;
            }
            if !source.primary_key.is_empty() {
                let upsert = source.schema.index_of(weir_connectors::upsert::DELETED_COLUMN).is_ok();
                let deletes = if upsert { "; each message its key's new value, a null value deleting the key" } else { "" };
                writeln!(f, "  primary key: {} (not enforced; with the watermark, a versioned table{deletes})", source.primary_key.join(", "))?;
            }
            if let Some(idle) = source.idle_timeout {
                writeln!(f, "  idle after: {} without rows (then a partition no longer holds the watermark back)", humantime::format_duration(idle))?;
            }
            writeln!(f, "  split: across all workers")?;
        }
        for sink in &self.sinks {
            writeln!(f)?;
            if let Some(model) = sink.trains() {
                // Training writes nothing: the rows end in the model.
                writeln!(f, "insert into {} (line {}): trains model {model}", sink.table, sink.line)?;
                if let Some(d) = self.models.iter().find(|m| m.name == model).and_then(|m| m.drift.as_ref()) {
                    writeln!(f, "  drift: {} on each key's prequential errors, on_drift {}", d.detector.method(), d.on_drift.name())?;
                }
                let mut tree = String::new();
                sink.input.explain(1, &mut tree);
                write!(f, "{tree}")?;
                continue;
            }
            writeln!(f, "insert into {} (line {}): {}", sink.table, sink.line, sink.spec.describe())?;
            writeln!(f, "  schema: {}", {
                let cols: Vec<String> = sink
                    .schema
                    .fields()
                    .iter()
                    .map(|c| format!("{} {}", c.name(), type_name(c.data_type())))
                    .collect();
                cols.join(", ")
            })?;
            let mut tree = String::new();
            let mut depth = 1;
            if !sink.spec.parallel() {
                tree.push_str("  exchange: gather to worker 0\n");
                depth = 2;
            } else {
                tree.push_str("  write on every worker\n");
                depth = depth.max(2);
            }
            if sink.cast.is_some() {
                tree.push_str(&format!("{}cast to the sink's columns\n", "  ".repeat(depth)));
                depth += 1;
            }
            sink.input.explain(depth, &mut tree);
            write!(f, "{tree}")?;
        }
        Ok(())
    }
}
