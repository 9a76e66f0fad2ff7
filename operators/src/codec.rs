//! Encoding operator state for checkpoints: little-endian numbers and
//! Arrow IPC streams, one after the other, and a reader that turns every
//! shortfall into an error naming the operator (a damaged or foreign
//! snapshot is an error, never wrong state).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Field, Schema};

use crate::{Batch, OperatorError, Result, StateSnapshot};

/// A batch of `rows` rows of state columns, named by position (an
/// accumulator's state, key columns): what [`write_batch`] encodes.
pub(crate) fn state_batch(operator: &str, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
        .map_err(|source| OperatorError::Arrow { operator: operator.into(), source })
}

/// Appends a number to a snapshot.
pub(crate) fn write_i64(bytes: &mut Vec<u8>, value: i64) {
    bytes.extend(value.to_le_bytes());
}

/// Appends `batch` to a snapshot as its length and an Arrow IPC stream.
pub(crate) fn write_batch(bytes: &mut Vec<u8>, batch: RecordBatch) -> Result<()> {
    let ipc = Batch(batch).to_ipc().map_err(|source| OperatorError::Arrow { operator: "snapshot".into(), source })?;
    write_bytes(bytes, &ipc);
    Ok(())
}

/// Appends a byte string (such as what [`encode`] made) and its length.
pub(crate) fn write_bytes(bytes: &mut Vec<u8>, part: &[u8]) {
    bytes.extend((part.len() as u64).to_le_bytes());
    bytes.extend(part);
}

/// Reads a join's snapshot back, every shortfall an error naming it.
pub(crate) struct Reader<'a> {
    operator: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `snapshot`, which must be of encoding `version`.
    pub(crate) fn new(operator: &'static str, snapshot: &'a StateSnapshot, version: u32) -> Result<Self> {
        let reader = Self { operator, rest: &snapshot.bytes };
        if snapshot.version != version {
            return Err(reader.bad(format!("version {} (this build reads {version})", snapshot.version)));
        }
        Ok(reader)
    }

    /// A damaged-snapshot error.
    pub(crate) fn bad(&self, reason: String) -> OperatorError {
        OperatorError::Snapshot { operator: self.operator.into(), reason }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.bad(format!("{} bytes short", n - self.rest.len())));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Eight little-endian bytes.
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(word))
    }

    /// One byte, as a flag.
    pub(crate) fn flag(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A byte string [`write_bytes`] wrote.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.i64()?).map_err(|e| self.bad(e.to_string()))?;
        self.take(len)
    }

    /// A batch [`write_batch`] wrote.
    pub(crate) fn batch(&mut self) -> Result<RecordBatch> {
        let bytes = self.bytes()?;
        Ok(Batch::from_ipc(bytes).map_err(|e| self.bad(e.to_string()))?.0)
    }
}

/// Encodes plain state (counters, detectors' numbers) with bincode, whose
/// floats round-trip bit for bit (JSON's do not, and lose NaN and the
/// infinities some detectors start from).
pub(crate) fn encode<T: serde::Serialize>(operator: &str, value: &T) -> Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| OperatorError::Snapshot { operator: operator.into(), reason: e.to_string() })
}

/// Decodes what [`encode`] wrote; a damaged or foreign encoding is an error.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(operator: &str, bytes: &[u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| OperatorError::Snapshot { operator: operator.into(), reason: e.to_string() })
}
