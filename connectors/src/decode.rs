//! Turning bytes of JSON lines or CSV into Arrow batches, many records at once.
//!
//! The fast path hands a whole chunk of complete lines to arrow's streaming
//! JSON or CSV decoder. Only when that chunk holds a malformed record does the
//! decoder fall back to decoding the chunk one line at a time, so that each bad
//! line can be reported with its position and the good ones kept. Clean input
//! never pays for error isolation.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::concat_batches;
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
    Csv(csv::reader::Decoder),
}

impl Inner {
    fn decode(&mut self, bytes: &[u8]) -> Result<usize, ArrowError> {
        match self {
            Inner::Json(d) => d.decode(bytes),
            Inner::Csv(d) => d.decode(bytes),
        }
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        match self {
            Inner::Json(d) => d.flush(),
            Inner::Csv(d) => d.flush(),
        }
    }
}

/// Where each output column comes from in a CSV file's own column order.
#[derive(Debug, Clone)]
enum Source {
    Column(usize),
    Null,
}

/// Decodes complete lines of one format into batches of a target schema.
pub struct RecordDecoder {
    format: Format,
    schema: SchemaRef,
    /// For CSV: the file's columns in header order, and how to reach the target.
    csv_layout: Option<(SchemaRef, Vec<Source>)>,
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

impl RecordDecoder {
    /// A JSON-lines decoder producing `schema`. Object keys are matched to
    /// columns by name; unknown keys are ignored, missing ones are NULL, and a
    /// missing NOT NULL column makes the record malformed.
    pub fn json(schema: SchemaRef) -> Result<Self> {
        let inner = Inner::Json(Self::json_decoder(&schema)?);
        Ok(Self { format: Format::Json, schema, csv_layout: None, inner })
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
                Ok(f) => f.clone().with_nullable(true),
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
        let file_schema = Arc::new(Schema::new(file_fields));
        let inner = Inner::Csv(Self::csv_decoder(&file_schema)?);
        Ok(Self { format: Format::Csv, schema, csv_layout: Some((file_schema, sources)), inner })
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
        self.inner = match (&self.format, &self.csv_layout) {
            (Format::Csv, Some((file_schema, _))) => Inner::Csv(Self::csv_decoder(file_schema)?),
            _ => Inner::Json(Self::json_decoder(&self.schema)?),
        };
        Ok(())
    }

    /// The schema of the batches produced.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `bytes`, which must hold complete lines, appending batches to
    /// `out`. Each malformed line is passed to `bad` with its byte offset in
    /// `bytes` and the reason; `bad` decides whether that stops decoding.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<RecordBatch>,
        bad: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        let mut batches = Vec::new();
        match self.decode_all(bytes, &mut batches) {
            Ok(()) => {
                for batch in batches {
                    out.push(self.shape(batch)?);
                }
                Ok(())
            }
            Err(_) => {
                self.reset()?;
                self.decode_lines(bytes, out, bad)
            }
        }
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

    /// The slow path: one line at a time, so that bad lines can be isolated.
    fn decode_lines(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<RecordBatch>,
        bad: &mut dyn FnMut(usize, String) -> Result<()>,
    ) -> Result<()> {
        let mut rows: Vec<RecordBatch> = Vec::new();
        let mut offset = 0;
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let start = offset;
            offset += line.len();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let mut line = line.to_vec();
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            let decoded = self.inner.decode(&line).and_then(|_| self.inner.flush());
            match decoded {
                Ok(Some(batch)) => rows.push(batch),
                Ok(None) => {}
                Err(e) => {
                    self.reset()?;
                    bad(start, clean_message(&e))?;
                }
            }
            if rows.len() >= BATCH_SIZE {
                self.emit(&mut rows, out)?;
            }
        }
        self.emit(&mut rows, out)
    }

    fn emit(&self, rows: &mut Vec<RecordBatch>, out: &mut Vec<RecordBatch>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let schema = rows[0].schema();
        let batch = concat_batches(&schema, rows.iter()).map_err(arrow_err("joining decoded rows"))?;
        rows.clear();
        out.push(self.shape(batch)?);
        Ok(())
    }

    /// Puts a decoded batch into the target schema (CSV: header order to
    /// declared order, NULLs for absent columns).
    fn shape(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some((_, sources)) = &self.csv_layout else {
            return Ok(batch);
        };
        let columns: Vec<ArrayRef> = sources
            .iter()
            .zip(self.schema.fields())
            .map(|(s, f)| match s {
                Source::Column(i) => Arc::clone(batch.column(*i)),
                Source::Null => new_null_array(f.data_type(), batch.num_rows()),
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| ConnectorError::MalformedRecord {
            position: "a CSV batch".into(),
            reason: clean_message(&e),
        })
    }
}

/// Arrow's messages without the `Json error: ` style prefixes.
fn clean_message(e: &ArrowError) -> String {
    let text = e.to_string();
    for prefix in ["Json error: ", "Parser error: ", "Csv error: ", "Invalid argument error: "] {
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
