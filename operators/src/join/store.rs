//! One input's rows held by a join: batches as they arrived, indexed by key
//! and queued by event time.
//!
//! Rows are never copied on arrival: a stored batch stays whole and the
//! index points into it. Each distinct key has a slot (a small id, reused
//! once its rows are gone) holding its rows; a min-heap of (time, slot)
//! finds the rows that expire as the watermark moves, so freeing costs what
//! expires, not what is held. Expired rows' batches are rewritten without
//! them once they are most of what is held, so memory follows the live rows.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use datafusion::arrow::array::{new_empty_array, new_null_array, Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::hash_utils::RandomState;

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
    /// Key bytes (arrow's row format) to slot.
    slots: HashMap<Box<[u8]>, usize, RandomState>,
    /// Per slot: its key and its rows (empty: free).
    rows: Vec<(Box<[u8]>, Vec<Entry>)>,
    free: Vec<usize>,
    /// Every held row's (time, slot), earliest first.
    queue: BinaryHeap<Reverse<(i64, usize)>>,
    live: usize,
    dead: usize,
}

impl Store {
    pub(super) fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            chunks: Vec::new(),
            // aHash (DataFusion's): keys are short byte strings.
            slots: HashMap::with_hasher(RandomState::with_seed(0)),
            rows: Vec::new(),
            free: Vec::new(),
            queue: BinaryHeap::new(),
            live: 0,
            dead: 0,
        }
    }

    /// Adds a batch; returns its chunk number for [`Store::insert`].
    pub(super) fn push(&mut self, batch: RecordBatch) -> usize {
        self.chunks.push(batch);
        self.chunks.len() - 1
    }

    /// Indexes one row of a pushed chunk under `key`.
    pub(super) fn insert(&mut self, key: &[u8], entry: Entry) {
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.rows[slot].0 = key.into();
                        slot
                    }
                    None => {
                        self.rows.push((key.into(), Vec::new()));
                        self.rows.len() - 1
                    }
                };
                self.slots.insert(key.into(), slot);
                slot
            }
        };
        self.rows[slot].1.push(entry);
        self.queue.push(Reverse((entry.ts, slot)));
        self.live += 1;
    }

    /// The rows held under `key`.
    pub(super) fn get(&self, key: &[u8]) -> &[Entry] {
        self.slots.get(key).map_or(&[], |&slot| &self.rows[slot].1)
    }

    /// Row `i` of those held under `key`.
    pub(super) fn get_mut(&mut self, key: &[u8], i: usize) -> Option<&mut Entry> {
        let slot = *self.slots.get(key)?;
        self.rows[slot].1.get_mut(i)
    }

    /// The earliest event time held.
    pub(super) fn earliest(&self) -> Option<i64> {
        self.queue.peek().map(|Reverse((ts, _))| *ts)
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

    /// Removes every row whose time is `expired` (a predicate true up to
    /// some time); returns where the unmatched ones were (gather them
    /// before the next [`Store::compact`]).
    pub(super) fn expire(&mut self, expired: impl Fn(i64) -> bool) -> Vec<(usize, usize)> {
        let mut unmatched = Vec::new();
        while let Some(&Reverse((ts, slot))) = self.queue.peek() {
            if !expired(ts) {
                break;
            }
            self.queue.pop();
            let Some((key, entries)) = self.rows.get_mut(slot) else { continue };
            if entries.is_empty() {
                continue;
            }
            let before = entries.len();
            entries.retain(|e| {
                let gone = expired(e.ts);
                if gone && !e.matched {
                    unmatched.push((e.chunk, e.row));
                }
                !gone
            });
            let removed = before - entries.len();
            (self.live, self.dead) = (self.live - removed, self.dead + removed);
            if entries.is_empty() {
                self.slots.remove(key);
                self.free.push(slot);
            }
        }
        unmatched
    }

    /// Every row still held and unmatched (when the inputs end).
    pub(super) fn unmatched(&self) -> Vec<(usize, usize)> {
        self.entries().into_iter().filter(|e| !e.matched).map(|e| (e.chunk, e.row)).collect()
    }

    /// Every row held: where it is, its time and whether it matched.
    pub(super) fn entries(&self) -> Vec<Entry> {
        self.rows.iter().flat_map(|(_, e)| e.iter().copied()).collect()
    }

    /// Rewrites the held batches without expired rows once those are the
    /// majority.
    pub(super) fn compact(&mut self) -> Result<()> {
        if self.dead <= self.live.max(1024) {
            return Ok(());
        }
        let mut at = Vec::with_capacity(self.live);
        for (_, entries) in &mut self.rows {
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

    /// Rows held (live ones).
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.slots.clear();
        self.rows.clear();
        self.free.clear();
        self.queue.clear();
        (self.live, self.dead) = (0, 0);
    }
}
