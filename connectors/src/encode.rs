//! Turning batches into JSON lines, CSV, or an aligned table.
//!
//! Every sink writes TIMESTAMP values as RFC 3339 in UTC (`2026-01-01T00:00:05Z`,
//! with a fraction only when there is one), whatever the column's time zone,
//! so downstream consumers never have to guess.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::datatypes::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::{ConnectorError, Result};

fn arrow_err(context: &'static str) -> impl FnOnce(datafusion::arrow::error::ArrowError) -> ConnectorError {
    move |source| ConnectorError::Arrow { context: context.to_string(), source }
}

/// Formats epoch nanoseconds as RFC 3339 UTC.
fn rfc3339(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, sub) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => nanos.to_string(),
    }
}

fn timestamps_to_strings(array: &ArrayRef, unit: &TimeUnit) -> ArrayRef {
    let scale: i64 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    let values: Vec<Option<i64>> = match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().iter().collect(),
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().iter().collect(),
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().iter().collect(),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().iter().collect(),
    };
    let mut builder = StringBuilder::with_capacity(values.len(), values.len() * 24);
    for v in values {
        builder.append_option(v.map(|v| rfc3339(v.saturating_mul(scale))));
    }
    Arc::new(builder.finish())
}

/// The batch with every timestamp column replaced by RFC 3339 UTC strings.
pub fn with_rfc3339_timestamps(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Timestamp(..))) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, _) => {
                fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
                columns.push(timestamps_to_strings(column, unit));
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_err("formatting timestamps"))
}

/// Appends the batch as JSON lines (NULLs written as `null`).
pub fn write_json(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    let batch = with_rfc3339_timestamps(batch)?;
    let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, LineDelimited>(out);
    writer.write(&batch).map_err(arrow_err("writing JSON"))?;
    writer.finish().map_err(arrow_err("writing JSON"))
}

/// Appends the batch as CSV, with a header line when `header` is set.
pub fn write_csv(batch: &RecordBatch, header: bool, out: &mut Vec<u8>) -> Result<()> {
    let batch = with_rfc3339_timestamps(batch)?;
    let mut writer = datafusion::arrow::csv::WriterBuilder::new().with_header(header).build(out);
    writer.write(&batch).map_err(arrow_err("writing CSV"))
}

/// Writes batches as a table aligned for people. Column widths are fixed by
/// the header and the first batch and grow when a wider value arrives.
#[derive(Debug, Default)]
pub struct TableWriter {
    widths: Vec<usize>,
}

impl TableWriter {
    /// Appends the batch's rows (and, the first time, the header).
    pub fn write(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let batch = with_rfc3339_timestamps(batch)?;
        let options = FormatOptions::default().with_null("NULL");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(arrow_err("formatting a table"))?;
        let cells: Vec<Vec<String>> = (0..batch.num_rows())
            .map(|row| formatters.iter().map(|f| f.value(row).to_string()).collect())
            .collect();
        let schema = batch.schema();
        let numeric: Vec<bool> = schema.fields().iter().map(|f| f.data_type().is_numeric()).collect();
        let first = self.widths.is_empty();
        if first {
            self.widths = schema.fields().iter().map(|f| f.name().len()).collect();
            for row in &cells {
                for (w, cell) in self.widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            self.line(&names, &numeric, out)?;
            let rule: Vec<String> = self.widths.iter().map(|w| "-".repeat(*w)).collect();
            self.line(&rule, &vec![false; rule.len()], out)?;
        }
        for row in &cells {
            for (w, cell) in self.widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
            self.line(row, &numeric, out)?;
        }
        Ok(())
    }

    fn line(&self, cells: &[String], right: &[bool], out: &mut Vec<u8>) -> Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = self.widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                text.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&format!("{cell:>w$}"));
            } else if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}"));
            }
        }
        writeln!(out, "{}", text.trim_end()).map_err(|source| ConnectorError::Io { path: "<table>".into(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, TimestampMillisecondArray};

    fn batch() -> RecordBatch {
        let ts = TimestampMillisecondArray::from(vec![Some(1_767_225_600_000), Some(1_767_225_600_250), None])
            .with_timezone("UTC");
        RecordBatch::try_from_iter([
            ("ts", Arc::new(ts) as ArrayRef),
            ("speed", Arc::new(Float64Array::from(vec![Some(1.5), None, Some(100.0)])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn json_lines_with_rfc3339() {
        let mut out = Vec::new();
        write_json(&batch(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ts\":\"2026-01-01T00:00:00Z\",\"speed\":1.5}\n\
             {\"ts\":\"2026-01-01T00:00:00.250Z\",\"speed\":null}\n\
             {\"ts\":null,\"speed\":100.0}\n"
        );
    }

    #[test]
    fn csv_and_table() {
        let mut out = Vec::new();
        write_csv(&batch(), true, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ts,speed\n2026-01-01T00:00:00Z,1.5\n2026-01-01T00:00:00.250Z,\n,100.0\n"
        );
        let mut out = Vec::new();
        TableWriter::default().write(&batch(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().next().unwrap(), "ts                        speed");
        assert!(text.contains("2026-01-01T00:00:00.250Z   NULL"), "{text}");
    }
}
