//! Flink's `upsert-kafka` source: a topic read as a changelog keyed by the
//! table's `PRIMARY KEY`, where each message is the key's new value and a
//! message with a null value (a tombstone) deletes the key.
//!
//! Weir reads such a table as the versioned table of an event-time temporal
//! join (`FOR SYSTEM_TIME AS OF`): every message is a version of its key
//! from its event time on. A deletion is a version too, marked in a hidden
//! BOOLEAN column ([`DELETED_COLUMN`]), so that the join knows the key has
//! no valid version from the deletion's time until a later message brings
//! it back; keeping deletions as marked rows (rather than dropping the
//! key's versions at the source) is what keeps the result independent of
//! arrival order within the watermark's bound, as Flink's versioned-table
//! semantics require. A deletion carries its key (decoded from the message
//! key with `'key.format'`) and the message's metadata; its other columns
//! are NULL, so its event time is the message timestamp when the table
//! declares `ts TIMESTAMP(3) METADATA FROM 'timestamp'` (the usual
//! upsert-kafka layout) and NULL otherwise; a deletion without an event
//! time cannot be placed in time and is counted as a late row (as any row
//! without an event time is), never applied at an arbitrary time. Every
//! column but the marker is nullable in an upsert table, since a
//! deletion's are NULL.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::kafka_source::{Origin, ValueDecoder, ValueFormat};
use crate::source::OnError;
use crate::{ConnectorError, Result};

/// The hidden column of an upsert source that marks a row as a deletion of
/// its key (`true`) rather than a new value (`false`).
pub const DELETED_COLUMN: &str = "__weir_deleted";

const NO_KEY: &str = "the message has no key; an upsert-kafka message is keyed by the table's PRIMARY KEY";

/// How an upsert source reads keys and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertSpec {
    /// The primary key's columns: their indices in the declared schema.
    pub key: Vec<usize>,
    /// How message keys are encoded (`'key.format'`).
    pub key_format: ValueFormat,
    /// Whether message values hold the key's columns too
    /// (`'value.fields-include'` = 'ALL', Flink's default) or only the
    /// others ('EXCEPT_KEY').
    pub value_has_key: bool,
}

/// The declared schema of an upsert table: its columns and the deletion
/// marker.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::datatypes::{DataType, Field, Schema};
/// use weir_connectors::upsert::{with_deleted_column, DELETED_COLUMN};
/// let declared = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, false)]));
/// let schema = with_deleted_column(&declared);
/// assert_eq!(schema.field(1).name(), DELETED_COLUMN);
/// ```
pub fn with_deleted_column(declared: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = declared.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(DELETED_COLUMN, DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// Where a column of the rows an upsert source emits comes from.
#[derive(Debug, Clone, Copy)]
enum From {
    /// The value's column `i`.
    Value(usize),
    /// The key's column `i`.
    Key(usize),
    /// The deletion marker.
    Deleted,
}

/// Rows handed out by [`Upsert::assemble`]: the batch, the origin of each
/// row (in offset order), and each message that could not be read.
pub(crate) struct Assembled<'a> {
    pub batch: RecordBatch,
    pub origins: Vec<&'a Origin>,
    pub failed: Vec<(&'a Origin, String)>,
}

/// An upsert source's per-reader state: the key decoder and the layout of
/// the rows it emits.
pub(crate) struct Upsert {
    keys: ValueDecoder,
    key_schema: SchemaRef,
    /// The emitted columns (the declared ones without metadata columns).
    data: SchemaRef,
    from: Vec<From>,
    value_has_key: bool,
}

impl Upsert {
    /// The reader of `spec` for a table whose declared columns are
    /// `schema`, of which `data` are not metadata, and whose values decode
    /// into `payload`.
    pub(crate) fn new(spec: &UpsertSpec, schema: &SchemaRef, data: SchemaRef, payload: &SchemaRef) -> Result<Self> {
        let key_fields: Vec<Field> = spec.key.iter().map(|&i| schema.field(i).clone().with_nullable(true)).collect();
        let key_schema = Arc::new(Schema::new(key_fields));
        let keys = ValueDecoder::new(&spec.key_format, &key_schema)?;
        let mut from = Vec::with_capacity(data.fields().len());
        for field in data.fields() {
            let name = field.name();
            from.push(if name == DELETED_COLUMN {
                From::Deleted
            } else if let Ok(i) = payload.index_of(name) {
                From::Value(i)
            } else if let Ok(i) = key_schema.index_of(name) {
                From::Key(i)
            } else {
                return Err(ConnectorError::Schema { connector: "upsert-kafka".into(), reason: format!("column '{name}' is neither in the key nor in the value") });
            });
        }
        Ok(Self { keys, key_schema, data, from, value_has_key: spec.value_has_key })
    }

    /// The keys of `messages`, decoded, and the messages whose key did not
    /// decode (their index and why).
    fn decode_keys(&mut self, messages: &[&Origin], policy: OnError) -> Result<(RecordBatch, Vec<(usize, String)>)> {
        let mut gathered = crate::kafka_source::Gathered::default();
        let mut failed = Vec::new();
        let mut index = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            match m.key.as_deref() {
                Some(key) if !key.is_empty() => {
                    gathered.push(m.offset, key, self.keys.is_lines());
                    index.push(i);
                }
                _ => failed.push((i, NO_KEY.to_string())),
            }
        }
        let (batches, bad) = self.keys.decode(&gathered, policy, &self.key_schema)?;
        failed.extend(bad.into_iter().map(|(at, reason)| (index[at], format!("the key does not decode: {reason}"))));
        failed.sort_by_key(|(i, _)| *i);
        let keys = concat_batches(&self.key_schema, &batches).map_err(arrow("joining decoded keys"))?;
        Ok((keys, failed))
    }

    /// One partition's rows in offset order: `values` (decoded from the
    /// messages `valued`, in order) as new values, and the messages
    /// `deleted` (tombstones) as deletions of their keys.
    pub(crate) fn assemble<'a>(
        &mut self,
        values: RecordBatch,
        valued: &[&'a Origin],
        deleted: &'a [Origin],
        policy: OnError,
    ) -> Result<Assembled<'a>> {
        let mut failed: Vec<(&'a Origin, String)> = Vec::new();
        // The values' keys, when values do not hold them; a value must be
        // keyed either way (a compacted topic refuses keyless messages).
        let (values, valued, value_keys) = if self.value_has_key {
            let keep: Vec<bool> = valued.iter().map(|o| o.key.as_deref().is_some_and(|k| !k.is_empty())).collect();
            for (o, _) in valued.iter().zip(&keep).filter(|(_, k)| !**k) {
                failed.push((o, NO_KEY.to_string()));
            }
            let values = filter_record_batch(&values, &BooleanArray::from(keep.clone())).map_err(arrow("dropping messages without a key"))?;
            let valued: Vec<&Origin> = valued.iter().zip(&keep).filter(|(_, k)| **k).map(|(o, _)| *o).collect();
            (values, valued, None)
        } else {
            let (keys, bad) = self.decode_keys(valued, policy)?;
            let mut keep = vec![true; valued.len()];
            for (i, reason) in bad {
                keep[i] = false;
                failed.push((valued[i], reason));
            }
            let values = filter_record_batch(&values, &BooleanArray::from(keep.clone())).map_err(arrow("dropping messages without a key"))?;
            let valued: Vec<&Origin> = valued.iter().zip(&keep).filter(|(_, k)| **k).map(|(o, _)| *o).collect();
            (values, valued, Some(keys))
        };
        let tombstones: Vec<&'a Origin> = deleted.iter().collect();
        let (deleted_keys, bad) = self.decode_keys(&tombstones, policy)?;
        let mut keep = vec![true; tombstones.len()];
        for (i, reason) in bad {
            keep[i] = false;
            failed.push((tombstones[i], reason));
        }
        let tombstones: Vec<&'a Origin> = tombstones.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(o, _)| o).collect();

        let n = values.num_rows();
        let m = deleted_keys.num_rows();
        let mut new_values: Vec<ArrayRef> = Vec::with_capacity(self.from.len());
        let mut deletions: Vec<ArrayRef> = Vec::with_capacity(self.from.len());
        for (field, from) in self.data.fields().iter().zip(&self.from) {
            let key_column = self.key_schema.index_of(field.name()).ok();
            match *from {
                From::Deleted => {
                    new_values.push(Arc::new(BooleanArray::from(vec![false; n])));
                    deletions.push(Arc::new(BooleanArray::from(vec![true; m])));
                }
                From::Value(i) => {
                    new_values.push(Arc::clone(values.column(i)));
                    deletions.push(match key_column {
                        Some(k) => Arc::clone(deleted_keys.column(k)),
                        None => new_null_array(field.data_type(), m),
                    });
                }
                From::Key(k) => {
                    let keys = value_keys.as_ref().ok_or_else(|| ConnectorError::Schema {
                        connector: "upsert-kafka".into(),
                        reason: format!("key column '{}' is missing from the values", field.name()),
                    })?;
                    new_values.push(Arc::clone(keys.column(k)));
                    deletions.push(Arc::clone(deleted_keys.column(k)));
                }
            }
        }
        let new_values = RecordBatch::try_new(Arc::clone(&self.data), new_values).map_err(arrow("new values"))?;
        let deletions = RecordBatch::try_new(Arc::clone(&self.data), deletions).map_err(arrow("deletions"))?;
        let both = concat_batches(&self.data, [&new_values, &deletions]).map_err(arrow("values and deletions"))?;
        // Offset order, as the messages were written.
        let mut order: Vec<(i64, u32)> = valued.iter().map(|o| o.offset).chain(tombstones.iter().map(|o| o.offset)).zip(0u32..).collect();
        order.sort_unstable();
        let origins: Vec<&'a Origin> = order.iter().map(|&(_, i)| if (i as usize) < n { valued[i as usize] } else { tombstones[i as usize - n] }).collect();
        let batch = take_record_batch(&both, &UInt32Array::from_iter_values(order.iter().map(|&(_, i)| i))).map_err(arrow("ordering by offset"))?;
        Ok(Assembled { batch, origins, failed })
    }
}

fn arrow(context: &'static str) -> impl FnOnce(datafusion::arrow::error::ArrowError) -> ConnectorError {
    move |source| ConnectorError::Arrow { context: context.into(), source }
}
