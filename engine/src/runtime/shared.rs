//! What the workers of one run share: the stop flag, the first error, and
//! counters for the final report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_connectors::BadRecords;
use weir_operators::{Prequential, SharedModel};

use super::clock::WatermarkClock;
use super::failed::{FailedRows, Place};
use super::progress::Progress;
use crate::metrics::{RunCounts, RunMetrics};
use crate::plan::Pipeline;
use crate::{EngineError, Result};

pub(crate) struct Shared {
    stop: Arc<AtomicBool>,
    error: Mutex<Option<EngineError>>,
    pub(crate) bad: BTreeMap<String, Arc<BadRecords>>,
    pub(crate) rows_read: BTreeMap<String, Arc<AtomicU64>>,
    pub(crate) rows_written: Vec<(String, Arc<AtomicU64>)>,
    /// Rows behind the watermark, per table that a window reads.
    pub(crate) rows_late: BTreeMap<String, Arc<AtomicU64>>,
    widths: BTreeMap<String, usize>,
    /// The most advanced watermark of any reader (what an idle reader
    /// jumps to).
    pub(crate) max_watermark: AtomicI64,
    /// Watermark history and window latencies.
    pub(crate) clock: WatermarkClock,
    /// Every worker's instance of every model, for the report.
    pub(crate) models: Mutex<Vec<(String, SharedModel)>>,
    /// What the sinks have synced and the operators hold, for commits.
    pub(crate) progress: Progress,
    /// The run's Prometheus metrics.
    pub(crate) metrics: RunMetrics,
    /// Rows whose expressions failed, and the policy for them.
    pub(crate) failed: FailedRows,
    /// Raised with the first error: connectors stop waiting for brokers.
    pub(crate) cancel: weir_connectors::Cancel,
    /// Rows waiting in exchanges, for back-pressure.
    pub(crate) in_flight: super::flow::InFlight,
    /// Rows stateful operators hold, and their peaks.
    pub(crate) state_rows: super::instrument::StateRows,
    /// Each INSERT as rows that fail in it are reported (`INSERT INTO o (line 5)`).
    statements: Vec<String>,
    /// The checkpoint coordinator (off unless the pipeline checkpoints).
    pub(crate) checkpoints: Arc<crate::checkpoint::Checkpoints>,
}

/// What a run did with one model, summed over workers.
#[derive(Debug, Clone, Default)]
pub struct ModelReport {
    /// Prequential metrics of the rows learned.
    pub metrics: Prequential,
    /// Rows scored by `ML_PREDICT`.
    pub rows_scored: u64,
    /// Models in the bank (keys seen), over all workers.
    pub keys: usize,
    /// Where it ran and why.
    pub device: String,
}

/// What a run's checkpoints did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The checkpoint the run resumed from.
    pub restored: Option<u64>,
    /// Checkpoints written.
    pub written: u64,
    /// Checkpoints that could not be written.
    pub failed: u64,
    /// The last one written (the restored one when none was).
    pub last: Option<u64>,
    /// Its state's size.
    pub last_bytes: u64,
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Rows read per source table (after skipping malformed records).
    pub rows_read: BTreeMap<String, u64>,
    /// Rows written per `INSERT`, in file order, with the sink's name.
    pub rows_written: Vec<(String, u64)>,
    /// Rows that arrived behind their table's watermark and so were left
    /// out of its windows, per table that a window reads.
    pub rows_late: BTreeMap<String, u64>,
    /// For each window emitted because the watermark passed its end (not
    /// flushed at the end of the input): the time from the watermark passing
    /// the end to the row leaving the window operator, sorted.
    pub window_latencies: Vec<Duration>,
    /// Malformed records skipped, per source table.
    pub malformed: BTreeMap<String, u64>,
    /// Rows whose expression failed and were skipped
    /// (`SET 'pipeline.on-error' = 'skip'`, the default).
    pub rows_failed: u64,
    /// A human summary of the failed rows, with examples.
    pub failed_summary: Option<String>,
    /// Human summaries of the malformed records, with examples.
    pub malformed_summaries: Vec<String>,
    /// Per model: what was learned and scored.
    pub models: BTreeMap<String, ModelReport>,
    /// Per stateful operator that counts its state (`sink/join`): the most
    /// rows it held at once, over all workers.
    pub state_peaks: BTreeMap<String, u64>,
    /// What the run's checkpoints did (`None` without checkpoints).
    pub checkpoints: Option<CheckpointReport>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Shared {
    pub(crate) fn new(
        pipeline: &Pipeline,
        stop: Arc<AtomicBool>,
        workers: usize,
        name: &str,
        checkpoints: Arc<crate::checkpoint::Checkpoints>,
    ) -> Result<Self> {
        let bad: BTreeMap<String, Arc<BadRecords>> =
            pipeline.sources.iter().map(|s| (s.table.clone(), Arc::new(BadRecords::new(&s.table)))).collect();
        let zero = || Arc::new(AtomicU64::new(0));
        let counts = RunCounts {
            read: pipeline.sources.iter().map(|s| (s.table.clone(), zero())).collect(),
            late: pipeline.windowed_tables().into_iter().map(|t| (t, zero())).collect(),
            written: pipeline.sinks.iter().map(|s| (s.table.clone(), zero())).collect(),
        };
        let metrics = RunMetrics::new(name, &counts, bad.iter().map(|(t, b)| (t.clone(), Arc::clone(b))).collect());
        let cancel = weir_connectors::Cancel::default();
        let failed = FailedRows::open(pipeline, name, &cancel)?;
        let statements = pipeline.sinks.iter().map(|s| format!("INSERT INTO {} (line {})", s.table, s.line)).collect();
        Ok(Self {
            stop,
            error: Mutex::new(None),
            bad,
            rows_read: counts.read.into_iter().collect(),
            rows_written: counts.written,
            rows_late: counts.late.into_iter().collect(),
            max_watermark: AtomicI64::new(0),
            clock: WatermarkClock::default(),
            models: Mutex::new(Vec::new()),
            progress: Progress::new(pipeline.sinks.len(), workers),
            metrics,
            widths: pipeline.sources.iter().map(|s| (s.table.clone(), s.schema.fields().len())).collect(),
            failed,
            cancel,
            in_flight: super::flow::InFlight::default(),
            state_rows: super::instrument::StateRows::default(),
            statements,
            checkpoints,
        })
    }

    /// The `INSERT` statement of sink `index`, as errors name it.
    pub(crate) fn statement(&self, index: usize) -> String {
        self.statements.get(index).cloned().unwrap_or_default()
    }

    /// Where a row fails in operator `name` of the `index`-th INSERT.
    pub(crate) fn place(&self, index: usize, name: &str) -> Place {
        Place {
            statement: self.statements.get(index).cloned().unwrap_or_default(),
            operator: format!("{}/{name}", self.sink_name(index)),
        }
    }

    /// The error of an operator of the `index`-th INSERT.
    pub(crate) fn operator_error(&self, index: usize) -> impl Fn(weir_operators::OperatorError) -> EngineError + '_ {
        move |source| EngineError::Operator { sink: self.sink_name(index), source }
    }

    /// The name of the sink of the `index`-th INSERT, for errors.
    pub(crate) fn sink_name(&self, index: usize) -> String {
        self.rows_written.get(index).map(|(n, _)| n.clone()).unwrap_or_default()
    }

    /// The number of columns of a source table (its connector's and
    /// computed ones, without hidden columns).
    pub(crate) fn source_width(&self, table: &str) -> Option<usize> {
        self.widths.get(table).copied()
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
        self.cancel.abort();
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether an error has been recorded.
    pub(crate) fn failed(&self) -> bool {
        match self.error.lock() {
            Ok(slot) => slot.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        }
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
            rows_read: self.rows_read.into_iter().map(|(k, v)| (k, v.load(Ordering::Relaxed))).collect(),
            rows_written: self.rows_written.into_iter().map(|(k, v)| (k, v.load(Ordering::Relaxed))).collect(),
            rows_late: self.rows_late.into_iter().map(|(k, v)| (k, v.load(Ordering::Relaxed))).collect(),
            window_latencies: self.clock.latencies(),
            malformed: self.bad.iter().map(|(k, v)| (k.clone(), v.count())).collect(),
            rows_failed: self.failed.count(),
            failed_summary: self.failed.summary(),
            malformed_summaries: self.bad.values().filter_map(|b| b.summary()).collect(),
            models: model_reports(self.models),
            state_peaks: self.state_rows.peaks(),
            checkpoints: self.checkpoints.run_report(),
            elapsed,
        })
    }
}

fn model_reports(models: Mutex<Vec<(String, SharedModel)>>) -> BTreeMap<String, ModelReport> {
    let models = match models.into_inner() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut out: BTreeMap<String, ModelReport> = BTreeMap::new();
    for (name, model) in models {
        let state = match model.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let report = out.entry(name).or_default();
        report.metrics.merge(&state.metrics);
        report.rows_scored += state.rows_scored;
        report.keys += state.keys();
        if report.device.is_empty() {
            report.device = state.device.clone();
        }
    }
    out
}
