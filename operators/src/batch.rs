//! [`Batch`]: a record batch that can cross worker and process boundaries.
//!
//! Timely dataflow moves data between workers through channels that, between
//! processes, serialize with serde. A batch is serialized as an Arrow IPC
//! stream (schema plus one record batch), the encoding every Arrow system
//! reads, so a batch costs one memcpy-like encode per exchange rather than a
//! per-row conversion. Between threads of one process timely moves the value
//! itself and no encoding happens at all.

use std::fmt;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use serde::de::Error as _;
use serde::ser::Error as _;

/// A record batch that serializes as Arrow IPC.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Int64Array, RecordBatch};
/// use weir_operators::Batch;
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)])?;
/// let bytes = Batch(batch.clone()).to_ipc()?;
/// assert_eq!(Batch::from_ipc(&bytes)?.0, batch);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Batch(pub RecordBatch);

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch({} rows x {} columns)", self.0.num_rows(), self.0.num_columns())
    }
}

impl Batch {
    /// Encodes the batch as an Arrow IPC stream.
    pub fn to_ipc(&self) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
        let mut buffer = Vec::with_capacity(self.0.get_array_memory_size() + 512);
        let mut writer = StreamWriter::try_new(&mut buffer, &self.0.schema())?;
        writer.write(&self.0)?;
        writer.finish()?;
        drop(writer);
        Ok(buffer)
    }

    /// Decodes a batch written by [`Batch::to_ipc`].
    pub fn from_ipc(bytes: &[u8]) -> Result<Self, datafusion::arrow::error::ArrowError> {
        let mut reader = StreamReader::try_new(bytes, None)?;
        match reader.next() {
            Some(batch) => Ok(Batch(batch?)),
            None => Err(datafusion::arrow::error::ArrowError::IpcError(
                "IPC stream holds no record batch".into(),
            )),
        }
    }
}

impl serde::Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_ipc().map_err(S::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> serde::Deserialize<'de> for Batch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Batch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Arrow IPC stream")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Batch, E> {
                Batch::from_ipc(v).map_err(E::custom)
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Batch, E> {
                self.visit_bytes(&v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Batch::from_ipc(&bytes).map_err(A::Error::custom)
            }
        }
        deserializer.deserialize_bytes(Visitor).map_err(|e| D::Error::custom(e.to_string()))
    }
}
