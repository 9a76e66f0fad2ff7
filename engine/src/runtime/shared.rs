//! What the workers of one run share: the stop flag, the first error, and
//! counters for the final report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_connectors::BadRecords;

use crate::plan::Pipeline;
use crate::{EngineError, Result};

pub(crate) struct Shared {
    stop: Arc<AtomicBool>,
    error: Mutex<Option<EngineError>>,
    pub(crate) bad: BTreeMap<String, Arc<BadRecords>>,
    pub(crate) rows_read: BTreeMap<String, AtomicU64>,
    pub(crate) rows_written: Vec<(String, AtomicU64)>,
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Rows read per source table (after skipping malformed records).
    pub rows_read: BTreeMap<String, u64>,
    /// Rows written per `INSERT`, in file order, with the sink's name.
    pub rows_written: Vec<(String, u64)>,
    /// Malformed records skipped, per source table.
    pub malformed: BTreeMap<String, u64>,
    /// Human summaries of the malformed records, with examples.
    pub malformed_summaries: Vec<String>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Shared {
    pub(crate) fn new(pipeline: &Pipeline, stop: Arc<AtomicBool>) -> Self {
        Self {
            stop,
            error: Mutex::new(None),
            bad: pipeline.sources.iter().map(|s| (s.table.clone(), Arc::new(BadRecords::new(&s.table)))).collect(),
            rows_read: pipeline.sources.iter().map(|s| (s.table.clone(), AtomicU64::new(0))).collect(),
            rows_written: pipeline.sinks.iter().map(|s| (s.table.clone(), AtomicU64::new(0))).collect(),
        }
    }

    /// Whether sources should stop reading.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records the first error and stops the pipeline.
    pub(crate) fn fail(&self, error: EngineError) {
        let mut slot = match self.error.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slot.is_none() {
            *slot = Some(error);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(crate) fn into_report(self, elapsed: Duration) -> Result<RunReport> {
        let error = match self.error.into_inner() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(error) = error {
            return Err(error);
        }
        Ok(RunReport {
            rows_read: self.rows_read.into_iter().map(|(k, v)| (k, v.into_inner())).collect(),
            rows_written: self.rows_written.into_iter().map(|(k, v)| (k, v.into_inner())).collect(),
            malformed: self.bad.iter().map(|(k, v)| (k.clone(), v.count())).collect(),
            malformed_summaries: self.bad.values().filter_map(|b| b.summary()).collect(),
            elapsed,
        })
    }
}
