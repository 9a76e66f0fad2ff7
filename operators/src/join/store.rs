//! One input's rows held by a join: batches as they arrived, indexed by key.
//!
//! Rows are never copied on arrival: a stored batch stays whole and the
//! index points into it. Expired rows leave the index at once; their
//! batches are rewritten without them once they are most of what is held,
//! so memory follows the live rows.

use std::collections::HashMap;

use datafusion::arrow::array::{new_empty_array, new_null_array, Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::SchemaRef;

use crate::{OperatorError, Result};

/// A stored row: where it is, its event time, whether it found a partner.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) chunk: usize,
    pub(super) row: usize,
    pub(super) ts: i64,
    pub(super) matched: bool,
}

/// One input's held rows.
#[derive(Debug)]
pub(super) struct Store {
    pub(super) schema: SchemaRef,
    chunks: Vec<RecordBatch>,
    pub(super) by_key: HashMap<Box<[u8]>, Vec<Entry>>,
    live: usize,
    dead: usize,
    /// The earliest event time held (exact after every expiry pass).
    pub(super) earliest: Option<i64>,
}

impl Store {
    pub(super) fn new(schema: SchemaRef) -> Self {
        Self { schema, chunks: Vec::new(), by_key: HashMap::new(), live: 0, dead: 0, earliest: None }
    }

    /// Adds a batch; returns its chunk number for [`Store::insert`].
    pub(super) fn push(&mut self, batch: RecordBatch) -> usize {
        self.chunks.push(batch);
        self.chunks.len() - 1
    }

    /// Indexes one row of a pushed chunk under `key`.
    pub(super) fn insert(&mut self, key: &[u8], entry: Entry) {
        self.earliest = Some(self.earliest.map_or(entry.ts, |e| e.min(entry.ts)));
        self.live += 1;
        match self.by_key.get_mut(key) {
            Some(entries) => entries.push(entry),
            None => {
                self.by_key.insert(key.into(), vec![entry]);
            }
        }
    }

    /// The rows at `at` (chunk, row), column by column.
    pub(super) fn gather(&self, at: &[(usize, usize)]) -> Result<Vec<ArrayRef>> {
        if at.is_empty() {
            return Ok(self.schema.fields().iter().map(|f| new_empty_array(f.data_type())).collect());
        }
        (0..self.schema.fields().len())
            .map(|c| {
                let columns: Vec<&dyn Array> = self.chunks.iter().map(|b| b.column(c).as_ref()).collect();
                interleave(&columns, at).map_err(|source| OperatorError::Arrow { operator: "join".into(), source })
            })
            .collect()
    }

    /// NULL columns of this input's types, `n` rows long.
    pub(super) fn nulls(&self, n: usize) -> Vec<ArrayRef> {
        self.schema.fields().iter().map(|f| new_null_array(f.data_type(), n)).collect()
    }

    /// Removes every row for which `expired(ts)` holds; returns where the
    /// unmatched ones were (gather them before the next [`Store::compact`]).
    pub(super) fn expire(&mut self, expired: impl Fn(i64) -> bool) -> Vec<(usize, usize)> {
        let mut unmatched = Vec::new();
        let mut earliest: Option<i64> = None;
        let mut removed = 0;
        self.by_key.retain(|_, entries| {
            entries.retain(|e| {
                if expired(e.ts) {
                    removed += 1;
                    if !e.matched {
                        unmatched.push((e.chunk, e.row));
                    }
                    false
                } else {
                    earliest = Some(earliest.map_or(e.ts, |t| t.min(e.ts)));
                    true
                }
            });
            !entries.is_empty()
        });
        self.live -= removed;
        self.dead += removed;
        self.earliest = earliest;
        unmatched
    }

    /// Every row still held and unmatched (when the inputs end).
    pub(super) fn unmatched(&self) -> Vec<(usize, usize)> {
        self.by_key.values().flatten().filter(|e| !e.matched).map(|e| (e.chunk, e.row)).collect()
    }

    /// Rewrites the held batches without expired rows once those are the
    /// majority.
    pub(super) fn compact(&mut self) -> Result<()> {
        if self.dead <= self.live.max(1024) {
            return Ok(());
        }
        let mut at = Vec::with_capacity(self.live);
        for entries in self.by_key.values_mut() {
            for e in entries.iter_mut() {
                at.push((e.chunk, e.row));
                (e.chunk, e.row) = (0, at.len() - 1);
            }
        }
        let columns = self.gather(&at)?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|source| OperatorError::Arrow { operator: "join".into(), source })?;
        self.chunks = vec![batch];
        self.dead = 0;
        Ok(())
    }

    /// Every row held: where it is, its time and whether it matched.
    pub(super) fn entries(&self) -> Vec<Entry> {
        self.by_key.values().flatten().copied().collect()
    }

    /// Rows held (live ones).
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.by_key.clear();
        (self.live, self.dead, self.earliest) = (0, 0, None);
    }
}
