//! Turning bytes of JSON lines or CSV into Arrow batches, many records at once.
//!
//! The fast path hands a whole chunk of complete records to arrow's
//! streaming JSON or CSV decoder. Only when that chunk holds a malformed
//! record does the decoder fall back to decoding the chunk one record at a
//! time, so that each bad record can be reported with its position and the
//! good ones kept. Clean input never pays for error isolation.
//!
//! Three things arrow's decoders do not check are checked here:
//! - JSON syntax. arrow-json's tape decoder skips commas instead of
//!   requiring them (`{"a": 1 "b": 2}` decodes), so every JSON record is
//!   first validated by serde_json, which also makes sure a record holds
//!   exactly one value (`{...} {...}` on one line, or in one Kafka
//!   message, is malformed, never two rows).
//! - One row per record: a record that decodes into no row or into several
//!   is malformed, so rows never shift onto other records' positions.
//! - Decimal rounding. arrow parses `12.345` into `DECIMAL(10, 2)` by
//!   truncating (12.34); SQL's CAST rounds half away from zero (12.35).
//!   Decimal columns are decoded with one more digit of scale and then
//!   cast, which rounds: rounding half away from zero looks only at that
//!   one digit.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, concat_batches, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::{csv, json};

use crate::{ConnectorError, Result};

/// Rows per decoded batch.
pub const BATCH_SIZE: usize = 8192;

/// The record formats files (and later Kafka messages) come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

impl Format {
    /// The `'format'` words, in order.
    pub const NAMES: &'static [&'static str] = &["json", "csv"];

    /// Parses a `'format'` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

enum Inner {
    Json(json::reader::Decoder),
    Csv(Box<csv::reader::Decoder>),
}

impl Inner {
    fn decode(&mut self, bytes: &[u8]) -> Result<usize, ArrowError> {
        guarded(|| match self {
            Inner::Json(d) => d.decode(bytes),
            Inner::Csv(d) => d.decode(bytes),
        })
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        guarded(|| match self {
            Inner::Json(d) => d.flush(),
            Inner::Csv(d) => d.flush(),
        })
    }
}

/// Runs one of arrow's decoding steps, turning a panic inside arrow into an
/// error. Arrow's parsers are meant to return errors, but a record from a
/// stranger must never take the pipeline down when one does not (the JSON
/// fuzzer found `i256` division by zero on a decimal with hundreds of
/// digits, arrow 59.3). After an error the decoder is rebuilt (`reset`),
/// so no state from the interrupted call is used again; the record that
/// caused it is then isolated and reported like any malformed record.
fn guarded<T>(step: impl FnOnce() -> Result<T, ArrowError>) -> Result<T, ArrowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(ArrowError::ParseError(format!("the value could not be decoded ({what})")))
    })
}

/// Where each output column comes from in a CSV file's own column order.
#[derive(Debug, Clone)]
enum Source {
    Column(usize),
    Null,
}

/// How the bytes handed to the decoder divide into records.
#[derive(Debug, Clone, Copy)]
enum Records<'a> {
    /// One record per line; blank lines are no records.
    Lines,
    /// Record `i` starts at `starts[i]` and ends where the next starts.
    Starts(&'a [usize]),
}

/// The records of `bytes`: their start and their bytes.
fn records<'a>(bytes: &'a [u8], records: Records<'a>) -> Vec<(usize, &'a [u8])> {
    match records {
        Records::Lines => {
            let mut out = Vec::new();
            let mut offset = 0;
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    out.push((offset, line));
                }
                offset += line.len();
            }
            out
        }
        Records::Starts(starts) => {
            let ends = starts.iter().skip(1).copied().chain([bytes.len()]);
            starts.iter().zip(ends).map(|(&s, e)| (s, &bytes[s.min(e)..e])).collect()
        }
    }
}

/// Decodes complete lines of one format into batches of a target schema.
pub struct RecordDecoder {
    format: Format,
    schema: SchemaRef,
    /// What arrow decodes: the target schema with decimals one digit wider
    /// in scale (JSON), or the file's columns in header order (CSV).
    decoded: SchemaRef,
    /// For CSV: how to reach each target column from the file's.
    csv_layout: Option<Vec<Source>>,
    inner: Inner,
}

impl std::fmt::Debug for RecordDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDecoder").field("format", &self.format).field("schema", &self.schema).finish()
    }
}

fn arrow_err(context: &str) -> impl FnOnce(ArrowError) -> ConnectorError + '_ {
    move |source| ConnectorError::Arrow { context: context.to_string(), source }
}

/// A field as arrow should decode it: decimals with one more digit of
/// scale (see the module docs), so that the cast to the declared type rounds.
fn widened(field: &Field) -> Field {
    match field.data_type() {
        DataType::Decimal128(p, s) if *p < 38 => field.clone().with_data_type(DataType::Decimal128(p + 1, s + 1)),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *p < 76 => {
            field.clone().with_data_type(DataType::Decimal256(p + 1, s + 1))
        }
        _ => field.clone(),
    }
}

impl RecordDecoder {
    /// A JSON-lines decoder producing `schema`. Object keys are matched to
    /// columns by name; unknown keys are ignored, missing ones are NULL, and a
    /// missing NOT NULL column makes the record malformed.
    pub fn json(schema: SchemaRef) -> Result<Self> {
        let decoded = Arc::new(Schema::new(schema.fields().iter().map(|f| widened(f)).collect::<Vec<_>>()));
        let inner = Inner::Json(Self::json_decoder(&decoded)?);
        Ok(Self { format: Format::Json, schema, decoded, csv_layout: None, inner })
    }

    /// A CSV decoder producing `schema` from a file whose header is `header`.
    ///
    /// Columns are matched by name, in any order; header columns that are not
    /// declared are ignored; a declared column missing from the header is
    /// NULL, or an error if it is NOT NULL.
    pub fn csv(schema: SchemaRef, header: &[String]) -> Result<Self> {
        let mut file_fields = Vec::with_capacity(header.len());
        for name in header {
            let field = match schema.field_with_name(name) {
                Ok(f) => widened(f).with_nullable(true),
                Err(_) => Field::new(name, DataType::Utf8, true),
            };
            file_fields.push(field);
        }
        let mut sources = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            match header.iter().position(|h| h == field.name()) {
                Some(i) => sources.push(Source::Column(i)),
                None if field.is_nullable() => sources.push(Source::Null),
                None => {
                    return Err(ConnectorError::Schema {
                        connector: "file".into(),
                        reason: format!(
                            "the CSV header has no column '{}', which is declared NOT NULL (header: {})",
                            field.name(),
                            header.join(",")
                        ),
                    });
                }
            }
        }
        let decoded = Arc::new(Schema::new(file_fields));
        let inner = Inner::Csv(Box::new(Self::csv_decoder(&decoded)?));
        Ok(Self { format: Format::Csv, schema, decoded, csv_layout: Some(sources), inner })
    }

    fn json_decoder(schema: &SchemaRef) -> Result<json::reader::Decoder> {
        json::ReaderBuilder::new(Arc::clone(schema))
            .with_batch_size(BATCH_SIZE)
            .build_decoder()
            .map_err(arrow_err("building the JSON decoder"))
    }

    fn csv_decoder(schema: &SchemaRef) -> Result<csv::reader::Decoder> {
        Ok(csv::ReaderBuilder::new(Arc::clone(schema))
            .with_header(false)
            .with_batch_size(BATCH_SIZE)
            .build_decoder())
    }

    fn reset(&mut self) -> Result<()> {
        self.inner = match self.format {
            Format::Csv => Inner::Csv(Box::new(Self::csv_decoder(&self.decoded)?)),
            Format::Json => Inner::Json(Self::json_decoder(&self.decoded)?),
        };
        Ok(())
    }

    /// The schema of the batches produced.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `bytes`, which must hold complete lines, one record each,
    /// appending batches to `out`. Each malformed line is passed to `bad`
    /// with its byte offset in `bytes` and the reason, in order; `bad`
    /// decides whether that stops decoding.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<RecordBatch>,
        bad: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        self.decode_with(bytes, Records::Lines, out, bad)
    }

    /// Like [`RecordDecoder::decode`], for records whose boundaries the
    /// caller knows (Kafka messages, which may hold newlines): record `i`
    /// is `bytes[starts[i]..starts[i + 1]]`. Every record must decode into
    /// exactly one row; `bad` gets the record's start.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use datafusion::arrow::datatypes::{DataType, Field, Schema};
    /// use weir_connectors::decode::RecordDecoder;
    /// let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
    /// let mut decoder = RecordDecoder::json(schema)?;
    /// let bytes = b"{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n{\"a\":\n 4}\n";
    /// let (mut out, mut bad) = (Vec::new(), Vec::new());
    /// decoder.decode_records(bytes, &[0, 9, 27], &mut out, &mut |at, why| Ok(bad.push((at, why))))?;
    /// assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    /// assert_eq!(bad.len(), 1);
    /// assert_eq!(bad[0].0, 9); // the record with two values
    /// # Ok::<(), weir_connectors::ConnectorError>(())
    /// ```
    pub fn decode_records(
        &mut self,
        bytes: &[u8],
        starts: &[usize],
        out: &mut Vec<RecordBatch>,
        bad: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        self.decode_with(bytes, Records::Starts(starts), out, bad)
    }

    fn decode_with(
        &mut self,
        bytes: &[u8],
        layout: Records<'_>,
        out: &mut Vec<RecordBatch>,
        bad: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        let all = records(bytes, layout);
        let mut failures: Vec<(usize, String)> = Vec::new();
        // JSON syntax first: arrow-json is lenient about separators.
        let good: Vec<(usize, &[u8])> = match self.format {
            Format::Json => all
                .into_iter()
                .filter(|(start, record)| crate::json_syntax::surely_valid(record) || match serde_json::from_slice::<serde::de::IgnoredAny>(record) {
                    Ok(_) => true,
                    Err(e) => {
                        failures.push((*start, json_syntax_message(&e)));
                        false
                    }
                })
                .collect(),
            Format::Csv => all,
        };
        // The fast path over every good record at once: one pass, no copy
        // when all were good.
        let joined;
        let chunk: &[u8] = if failures.is_empty() {
            bytes
        } else {
            joined = good.iter().flat_map(|(_, r)| with_newline(r)).collect::<Vec<u8>>();
            &joined
        };
        let mut batches = Vec::new();
        let fast = self.decode_all(chunk, &mut batches).and_then(|()| batches.into_iter().map(|b| guarded(|| self.shape(b))).collect::<Result<Vec<_>, _>>());
        // A CSV file's quoted newline makes one record of two lines: its
        // rows are not counted against lines.
        let counted = !(self.format == Format::Csv && matches!(layout, Records::Lines));
        match fast {
            Ok(shaped) if !counted || shaped.iter().map(RecordBatch::num_rows).sum::<usize>() == good.len() => out.extend(shaped),
            _ => {
                self.reset()?;
                self.decode_one_by_one(&good, out, &mut failures)?;
            }
        }
        failures.sort_by_key(|(offset, _)| *offset);
        for (offset, reason) in failures {
            bad(offset, reason)?;
        }
        Ok(())
    }

    fn decode_all(&mut self, mut bytes: &[u8], batches: &mut Vec<RecordBatch>) -> Result<(), ArrowError> {
        while !bytes.is_empty() {
            let n = self.inner.decode(bytes)?;
            bytes = &bytes[n..];
            if let Some(batch) = self.inner.flush()? {
                batches.push(batch);
            }
            if n == 0 && !bytes.is_empty() {
                return Err(ArrowError::ParseError("decoder made no progress".into()));
            }
        }
        if let Some(batch) = self.inner.flush()? {
            batches.push(batch);
        }
        Ok(())
    }

    /// The slow path: one record at a time, so that bad ones can be
    /// isolated; each must decode into exactly one row.
    fn decode_one_by_one(&mut self, good: &[(usize, &[u8])], out: &mut Vec<RecordBatch>, failures: &mut Vec<(usize, String)>) -> Result<()> {
        let mut rows: Vec<RecordBatch> = Vec::new();
        for &(start, record) in good {
            let line = with_newline(record);
            let decoded = self.inner.decode(&line).and_then(|_| self.inner.flush());
            let shaped = decoded.map_err(|e| self.explain(&e, record)).and_then(|b| match b {
                Some(b) => guarded(|| self.shape(b)).map_err(|e| self.explain(&e, record)),
                None => Err("the record holds no row".to_string()),
            });
            match shaped {
                Ok(batch) if batch.num_rows() == 1 => rows.push(batch),
                Ok(batch) => failures.push((start, format!("the record holds {} rows; each must hold exactly one", batch.num_rows()))),
                Err(reason) => {
                    self.reset()?;
                    failures.push((start, reason));
                }
            }
            if rows.len() >= BATCH_SIZE {
                emit(&self.schema, &mut rows, out)?;
            }
        }
        emit(&self.schema, &mut rows, out)
    }

    /// Puts a decoded batch into the target schema: CSV's header order to
    /// the declared order with NULLs for absent columns, widened decimals
    /// cast (rounded) to the declared ones, and NOT NULL checked.
    fn shape(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let rows = batch.num_rows();
        let columns: Vec<ArrayRef> = match &self.csv_layout {
            Some(sources) => sources
                .iter()
                .zip(self.schema.fields())
                .map(|(s, f)| match s {
                    Source::Column(i) => Arc::clone(batch.column(*i)),
                    Source::Null => new_null_array(f.data_type(), rows),
                })
                .collect(),
            None => batch.columns().to_vec(),
        };
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    return Ok(c);
                }
                cast_with_options(&c, f.data_type(), &CastOptions { safe: false, ..Default::default() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(f) = self.schema.fields().iter().zip(&columns).find(|(f, c)| !f.is_nullable() && c.null_count() > 0).map(|(f, _)| f) {
            return Err(ArrowError::InvalidArgumentError(format!("the record has no value for '{}', which is declared NOT NULL", f.name())));
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }

    /// Arrow's reason for a record that does not decode, in words about the
    /// record: a missing NOT NULL value is named by its column.
    fn explain(&self, e: &ArrowError, record: &[u8]) -> String {
        let text = clean_message(e);
        if self.format != Format::Json || !(text.contains("non-nullable") || text.contains("unmasked nulls")) {
            return text;
        }
        // arrow-json's own message names a struct's child; name the column.
        let record = serde_json::from_slice::<serde_json::Value>(record).ok();
        let missing = self.schema.fields().iter().filter(|f| !f.is_nullable()).find(|f| {
            record.as_ref().is_none_or(|v| v.get(f.name()).is_none_or(serde_json::Value::is_null))
        });
        match missing {
            Some(f) => format!("the record has no value for '{}', which is declared NOT NULL", f.name()),
            None => text,
        }
    }
}

/// A record with the newline that ends it.
fn with_newline(record: &[u8]) -> Vec<u8> {
    let mut line = record.to_vec();
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    line
}

fn emit(schema: &SchemaRef, rows: &mut Vec<RecordBatch>, out: &mut Vec<RecordBatch>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let batch = concat_batches(schema, rows.iter()).map_err(arrow_err("joining decoded rows"))?;
    rows.clear();
    out.push(batch);
    Ok(())
}

/// serde_json's syntax error, said of one record.
fn json_syntax_message(e: &serde_json::Error) -> String {
    let what = e.to_string();
    let what = what.split(" at line ").next().unwrap_or(&what).to_string();
    format!("not valid JSON: {what} at column {}", e.column())
}

/// Arrow's messages without the `Json error: ` style prefixes.
fn clean_message(e: &ArrowError) -> String {
    let text = e.to_string();
    for prefix in ["Json error: ", "Parser error: ", "Csv error: ", "Invalid argument error: ", "Cast error: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
            Field::new("speed", DataType::Float64, true),
        ]))
    }

    fn decode(d: &mut RecordDecoder, text: &str) -> (Vec<RecordBatch>, Vec<(usize, String)>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        d.decode(text.as_bytes(), &mut out, &mut |o, r| {
            bad.push((o, r));
            Ok(())
        })
        .unwrap();
        (out, bad)
    }

    #[test]
    fn json_clean_and_malformed() {
        let mut d = RecordDecoder::json(schema()).unwrap();
        let (out, bad) = decode(&mut d, "{\"id\":1,\"ts\":\"2026-01-01T00:00:01Z\",\"speed\":2.5}\n{\"id\":2}\n");
        assert!(bad.is_empty());
        assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        let text = "{\"id\":1,\"speed\":1}\nnot json\n{\"speed\":3}\n{\"id\":4,\"speed\":\"fast\"}\n{\"id\":5,\"speed\":5}\n";
        let (out, bad) = decode(&mut d, text);
        let offsets: Vec<usize> = bad.iter().map(|b| b.0).collect();
        assert_eq!(offsets, vec![19, 28, 40]);
        let rows: Vec<f64> =
            out.iter().flat_map(|b| b.column(2).as_primitive::<Float64Type>().values().to_vec()).collect();
        assert_eq!(rows, vec![1.0, 5.0]);
    }

    #[test]
    fn csv_reorders_and_fills() {
        let header: Vec<String> = ["speed", "extra", "id"].iter().map(|s| s.to_string()).collect();
        let mut d = RecordDecoder::csv(schema(), &header).unwrap();
        let (out, bad) = decode(&mut d, "1.5,x,7\nbad,y,8\n2.5,z,9\n");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 8);
        let b = &out[0];
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(1).null_count(), 2);
        let missing = RecordDecoder::csv(schema(), &["speed".to_string()]);
        assert!(missing.unwrap_err().to_string().contains("no column 'id'"));
    }
}
