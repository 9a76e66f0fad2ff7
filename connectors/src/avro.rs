//! Avro message values (`'format' = 'avro'`), as Flink's `avro` format:
//! each message holds one record in Avro's binary encoding, written with
//! the schema given inline in `'avro.schema'` (no framing, no registry).
//!
//! Decoding uses arrow's own Avro codec (`arrow-avro`), many messages per
//! call: its streaming decoder reads single-object-encoded records, so each
//! body is given the single-object prefix of the table's schema (two magic
//! bytes and the schema's Rabin fingerprint) and the whole poll is decoded
//! in one pass. A chunk with a malformed record falls back to one message
//! at a time, so the bad ones are isolated and the rest kept, as for JSON.
//! Decoded columns are matched to the declared ones by name and cast.
//!
//! Encoding writes each row's record without a prefix (arrow-avro's binary
//! format), with the sink's `'avro.schema'` or one derived from the
//! columns.

use std::sync::Arc;

use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore, SCHEMA_METADATA_KEY, SINGLE_OBJECT_MAGIC};
use arrow_avro::writer::format::AvroBinaryFormat;
use arrow_avro::writer::WriterBuilder;
use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{can_cast_types, cast, concat_batches};
use datafusion::arrow::datatypes::{Schema, SchemaRef};

use crate::{ConnectorError, Result};

fn avro_err(context: &str) -> impl FnOnce(String) -> ConnectorError + '_ {
    move |reason| ConnectorError::Schema { connector: "kafka".into(), reason: format!("{context}: {reason}") }
}

/// Decodes Avro records of one writer schema into batches of the declared
/// columns.
pub struct AvroDecoder {
    schema_json: String,
    decoder: Decoder,
    /// What every body is prefixed with for the single-object decoder.
    prefix: Vec<u8>,
    /// The declared columns the batches have.
    target: SchemaRef,
    batch_size: usize,
}

impl std::fmt::Debug for AvroDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroDecoder").field("target", &self.target).finish_non_exhaustive()
    }
}

impl AvroDecoder {
    /// A decoder of records written with the Avro schema `schema_json` (a
    /// record), producing `target`'s columns, up to `batch_size` rows per
    /// call. Fails when the schema does not parse or lacks a declared NOT
    /// NULL column, or a column cannot be converted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use datafusion::arrow::datatypes::{DataType, Field, Schema};
    /// let schema = r#"{"type": "record", "name": "r", "fields": [{"name": "id", "type": "long"}]}"#;
    /// let target = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    /// let mut decoder = weir_connectors::avro::AvroDecoder::new(schema, target, 16)?;
    /// // 21 is the zig-zag varint of -11; 4 of 2.
    /// let (batch, bad) = decoder.decode(&[&[21][..], &[4][..]])?;
    /// assert_eq!(batch.num_rows(), 2);
    /// assert!(bad.is_empty());
    /// # Ok::<(), weir_connectors::ConnectorError>(())
    /// ```
    pub fn new(schema_json: &str, target: SchemaRef, batch_size: usize) -> Result<Self> {
        let avro = AvroSchema::new(schema_json.to_string());
        let fingerprint = match avro.fingerprint(FingerprintAlgorithm::Rabin).map_err(|e| avro_err("'avro.schema'")(e.to_string()))? {
            Fingerprint::Rabin(f) => f,
            other => return Err(avro_err("'avro.schema'")(format!("unexpected fingerprint {other:?}"))),
        };
        let mut prefix = SINGLE_OBJECT_MAGIC.to_vec();
        prefix.extend_from_slice(&fingerprint.to_le_bytes());
        let decoder = Self::build(schema_json, batch_size)?;
        shape_check(&decoder.schema(), &target)?;
        Ok(Self { schema_json: schema_json.to_string(), decoder, prefix, target, batch_size })
    }

    fn build(schema_json: &str, batch_size: usize) -> Result<Decoder> {
        let mut store = SchemaStore::new();
        store.register(AvroSchema::new(schema_json.to_string())).map_err(|e| avro_err("'avro.schema'")(e.to_string()))?;
        ReaderBuilder::new()
            .with_writer_schema_store(store)
            .with_batch_size(batch_size.max(1))
            .build_decoder()
            .map_err(|e| avro_err("'avro.schema'")(e.to_string()))
    }

    /// Decodes one record per body; returns the rows of the good ones, in
    /// order, and the index and reason of each bad one.
    pub fn decode(&mut self, bodies: &[&[u8]]) -> Result<(RecordBatch, Vec<(usize, String)>)> {
        let mut framed = Vec::with_capacity(bodies.iter().map(|b| b.len() + self.prefix.len()).sum());
        for body in bodies {
            framed.extend_from_slice(&self.prefix);
            framed.extend_from_slice(body);
        }
        let mut batches = Vec::new();
        let fast = self.decode_all(&framed, &mut batches);
        let mut bad = Vec::new();
        // A body that holds two records (or none) would shift rows onto
        // other messages: then each body is decoded on its own.
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if fast.is_err() || rows != bodies.len() {
            self.decoder = Self::build(&self.schema_json, self.batch_size)?;
            batches.clear();
            for (i, body) in bodies.iter().enumerate() {
                framed.clear();
                framed.extend_from_slice(&self.prefix);
                framed.extend_from_slice(body);
                match self.decoder.decode(&framed) {
                    Ok(n) if n == framed.len() => match self.decoder.flush() {
                        Ok(Some(b)) if b.num_rows() == 1 => batches.push(b),
                        Ok(_) => bad.push((i, "the value holds no complete record".to_string())),
                        Err(e) => bad.push((i, e.to_string())),
                    },
                    Ok(_) => bad.push((i, "the value does not end where its record does".to_string())),
                    Err(e) => bad.push((i, e.to_string())),
                }
                if bad.last().is_some_and(|(b, _)| *b == i) {
                    self.decoder = Self::build(&self.schema_json, self.batch_size)?;
                }
            }
        }
        let batch = match batches.first() {
            None => return Ok((RecordBatch::new_empty(Arc::clone(&self.target)), bad)),
            Some(first) => concat_batches(&first.schema(), &batches).map_err(|source| ConnectorError::Arrow { context: "joining Avro rows".into(), source })?,
        };
        Ok((shape(&batch, &self.target)?, bad))
    }

    fn decode_all(&mut self, framed: &[u8], batches: &mut Vec<RecordBatch>) -> std::result::Result<(), String> {
        let mut rest = framed;
        while !rest.is_empty() {
            let n = self.decoder.decode(rest).map_err(|e| e.to_string())?;
            rest = &rest[n..];
            if let Some(b) = self.decoder.flush().map_err(|e| e.to_string())? {
                batches.push(b);
            }
            if n == 0 && !rest.is_empty() {
                return Err("a record is cut short".into());
            }
        }
        Ok(())
    }
}

/// Checks that every declared column can be filled from `written`.
fn shape_check(written: &Schema, target: &Schema) -> Result<()> {
    for field in target.fields() {
        match written.field_with_name(field.name()) {
            Ok(w) if can_cast_types(w.data_type(), field.data_type()) => {}
            Ok(w) => {
                return Err(avro_err("'avro.schema'")(format!(
                    "field '{}' is {} in the schema and cannot be read as {}",
                    field.name(),
                    w.data_type(),
                    field.data_type()
                )));
            }
            Err(_) if field.is_nullable() => {}
            Err(_) => {
                return Err(avro_err("'avro.schema'")(format!("it has no field '{}', which is declared NOT NULL", field.name())));
            }
        }
    }
    Ok(())
}

/// The declared columns from a decoded batch: by name, cast; NULL where
/// the schema has no such field.
fn shape(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let columns = target
        .fields()
        .iter()
        .map(|f| match batch.schema().index_of(f.name()) {
            Ok(i) if batch.column(i).data_type() == f.data_type() => Ok(Arc::clone(batch.column(i))),
            Ok(i) => cast(batch.column(i), f.data_type()).map_err(|source| ConnectorError::Arrow { context: format!("Avro field '{}'", f.name()), source }),
            Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(Arc::clone(target), columns).map_err(|source| ConnectorError::Arrow { context: "Avro rows".into(), source })
}

/// Encodes rows as Avro records, one value per row.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Int64Array, RecordBatch};
/// use datafusion::arrow::datatypes::{DataType, Field, Schema};
/// let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
/// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![-11, 2]))])?;
/// let values = weir_connectors::avro::encode(&batch, None)?;
/// assert_eq!(values, vec![vec![21], vec![4]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(batch: &RecordBatch, schema_json: Option<&str>) -> Result<Vec<Vec<u8>>> {
    let schema = batch.schema();
    let mut arrow_schema = schema.as_ref().clone();
    if let Some(json) = schema_json {
        arrow_schema.metadata.insert(SCHEMA_METADATA_KEY.to_string(), json.to_string());
    }
    let mut encoder = WriterBuilder::new(arrow_schema)
        .build_encoder::<AvroBinaryFormat>()
        .map_err(|e| avro_err("encoding Avro")(e.to_string()))?;
    encoder.encode(batch).map_err(|e| avro_err("encoding Avro")(e.to_string()))?;
    Ok(encoder.flush().iter().map(|row| row.to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Float64Array, Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, TimeUnit};

    const SCHEMA: &str = r#"{"type": "record", "name": "reading", "fields": [
        {"name": "sensor_id", "type": "long"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "speed", "type": ["null", "double"]}]}"#;

    fn target() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("sensor_id", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
            Field::new("speed", DataType::Float64, true),
            Field::new("missing", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn round_trip_and_malformed_records_are_isolated() {
        let rows = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("sensor_id", DataType::Int64, false),
                Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
                Field::new("speed", DataType::Float64, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(TimestampMillisecondArray::from(vec![10, 20, 30]).with_timezone("UTC")),
                Arc::new(Float64Array::from(vec![Some(1.5), None, Some(3.5)])),
            ],
        )
        .expect("batch");
        let values = encode(&rows, Some(SCHEMA)).expect("encodes");
        assert_eq!(values.len(), 3);
        let mut decoder = AvroDecoder::new(SCHEMA, target(), 64).expect("decoder");
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (batch, bad) = decoder.decode(&refs).expect("decodes");
        assert!(bad.is_empty());
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![1, 2, 3]);
        assert_eq!(batch.column(2).as_primitive::<Float64Type>().iter().collect::<Vec<_>>(), vec![Some(1.5), None, Some(3.5)]);
        assert_eq!(batch.column(3).null_count(), 3);
        // A truncated record and trailing garbage, between good ones.
        let truncated = &values[1][..1];
        let mut long = values[2].clone();
        long.extend_from_slice(&[7, 7, 7]);
        let mixed: Vec<&[u8]> = vec![&values[0], truncated, &values[1], &long, &values[2]];
        let (batch, bad) = decoder.decode(&mixed).expect("decodes");
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![1, 2, 3]);
    }

    #[test]
    fn a_schema_without_a_declared_not_null_column_is_refused() {
        let target = Arc::new(Schema::new(vec![Field::new("volume", DataType::Int64, false)]));
        let err = AvroDecoder::new(SCHEMA, target, 8).expect_err("refused");
        assert!(err.to_string().contains("no field 'volume'"), "{err}");
        assert!(AvroDecoder::new("{not json", self::target(), 8).is_err());
    }
}
