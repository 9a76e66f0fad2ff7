//! Hash partitioning of batches by key columns, for the exchange in front
//! of a keyed operator.
//!
//! Every worker must send a key to the same place, in every process of a
//! cluster, so the hash is DataFusion's with a fixed seed (the one its own
//! repartitioning uses), never a per-process random one.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::physical_expr::PhysicalExpr;

use crate::{OperatorError, Result};

/// Splits batches into one part per worker by hashing key expressions.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::arrow::array::{Int64Array, RecordBatch};
/// use datafusion::physical_expr::expressions::Column;
/// use weir_operators::Partitioner;
///
/// let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1, 2, 1, 3])) as _)])?;
/// let mut by_key = Partitioner::new(vec![Arc::new(Column::new("k", 0))], 2);
/// let parts = by_key.partition(&batch)?;
/// assert_eq!(parts.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Partitioner {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    parts: usize,
    hashes: Vec<u64>,
}

impl Partitioner {
    /// Partitions into `parts` by `keys`; without keys everything goes to
    /// part 0 (a global aggregate runs in one place).
    pub fn new(keys: Vec<Arc<dyn PhysicalExpr>>, parts: usize) -> Self {
        Self { keys, parts: parts.max(1), hashes: Vec::new() }
    }

    /// The non-empty parts of `batch`, each with its part number.
    pub fn partition(&mut self, batch: &RecordBatch) -> Result<Vec<(u64, RecordBatch)>> {
        if self.keys.is_empty() || self.parts == 1 {
            return Ok(vec![(0, batch.clone())]);
        }
        let rows = batch.num_rows();
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch).and_then(|v| v.into_array(rows)))
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()
            .map_err(|source| OperatorError::Evaluate { operator: "partition".into(), source })?;
        self.hashes.clear();
        self.hashes.resize(rows, 0);
        create_hashes(&keys, &RandomState::with_seed(0), &mut self.hashes)
            .map_err(|source| OperatorError::Evaluate { operator: "partition".into(), source })?;
        let mut indices: Vec<Vec<u32>> = vec![Vec::new(); self.parts];
        for (i, h) in self.hashes.iter().enumerate() {
            indices[(*h % self.parts as u64) as usize].push(i as u32);
        }
        let mut parts = Vec::new();
        for (part, rows) in indices.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let batch = take_record_batch(batch, &UInt32Array::from(rows))
                .map_err(|source| OperatorError::Arrow { operator: "partition".into(), source })?;
            parts.push((part as u64, batch));
        }
        Ok(parts)
    }
}
