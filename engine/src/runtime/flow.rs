//! Back-pressure: a bound on the rows waiting in the dataflow's exchanges.
//!
//! Timely moves data as fast as its operators produce it; nothing makes a
//! source wait for a slow sink. Within one worker that is fine, because a
//! worker runs its operators in turn and a slow sink slows its own source.
//! Across workers it is not: a sink that owns one file lives on worker 0,
//! and the other workers' sources would fill the exchange towards it
//! without limit. So every batch sent into an exchange is counted here (its
//! Arrow memory) and uncounted when the receiving operator takes it, and
//! sources do not poll while more than [`LIMIT`] bytes are in flight:
//! memory stays bounded however slow the slowest consumer is.

use std::sync::atomic::{AtomicI64, Ordering};

use datafusion::arrow::array::RecordBatch;

/// Bytes that may wait in exchanges before sources pause.
pub(crate) const LIMIT: i64 = 64 << 20;

/// Bytes of batches sent into exchanges and not yet received.
#[derive(Debug, Default)]
pub(crate) struct InFlight(AtomicI64);

impl InFlight {
    /// `batch` was sent into an exchange.
    pub(crate) fn sent(&self, batch: &RecordBatch) {
        self.0.fetch_add(batch.get_array_memory_size() as i64, Ordering::Relaxed);
    }

    /// `batch` was taken out of an exchange.
    pub(crate) fn received(&self, batch: &RecordBatch) {
        self.0.fetch_sub(batch.get_array_memory_size() as i64, Ordering::Relaxed);
    }

    /// Whether sources should wait for the consumers to catch up.
    pub(crate) fn full(&self) -> bool {
        self.0.load(Ordering::Relaxed) > LIMIT
    }
}
