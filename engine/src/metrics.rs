//! Prometheus metrics of every pipeline this process runs, in one registry
//! served at `/metrics` (`weir run --metrics-addr`, `weir serve`).
//!
//! Names follow Prometheus' conventions: a `weir_` prefix, `_total` for
//! counters, base units (`_seconds`, `_bytes`). Labels are few and
//! bounded: `pipeline`, and one of `table`, `operator`, `sink`, `model`,
//! `monitor` (names from the SQL), `worker`, a Kafka `partition`, a
//! monitor's `feature` and an alert's `state`; never a key such as a sensor
//! id.
//!
//! Hot paths count once, in the counts a run keeps for its report; those,
//! and what lives behind locks (models, malformed-record counts), are
//! copied into the registry when it is scraped, by each run's refresher
//! (held weakly: it goes away with the run, after a final copy).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus::proto::MetricType;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use weir_connectors::BadRecords;

use crate::lock;
use weir_operators::{Prequential, SharedModel};


/// Buckets for per-batch operator time, 10 µs to 1 s.
const OPERATOR_BUCKETS: &[f64] = &[1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0];
/// Buckets for window emission latency, 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];

/// The process's metric families.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    uptime: Gauge,
    pub(crate) source_records: IntCounterVec,
    pub(crate) source_malformed: IntCounterVec,
    pub(crate) source_late: IntCounterVec,
    pub(crate) source_dead_lettered: IntCounterVec,
    pub(crate) source_watermark: GaugeVec,
    pub(crate) source_watermark_lag: GaugeVec,
    pub(crate) source_idle: IntGaugeVec,
    pub(crate) source_lag: IntGaugeVec,
    pub(crate) operator_records_in: IntCounterVec,
    pub(crate) operator_records_out: IntCounterVec,
    pub(crate) operator_batches_in: IntCounterVec,
    pub(crate) operator_batches_out: IntCounterVec,
    pub(crate) operator_seconds: HistogramVec,
    pub(crate) operator_state_rows: IntGaugeVec,
    pub(crate) sink_records: IntCounterVec,
    pub(crate) sink_failures: IntCounterVec,
    pub(crate) rows_failed: IntCounterVec,
    pub(crate) window_latency: HistogramVec,
    pub(crate) model_learned: IntCounterVec,
    pub(crate) model_scored: IntCounterVec,
    pub(crate) model_accuracy: GaugeVec,
    pub(crate) model_log_loss: GaugeVec,
    pub(crate) model_mae: GaugeVec,
    pub(crate) model_keys: IntGaugeVec,
    pub(crate) model_device: IntGaugeVec,
    pub(crate) model_kernel_seconds: HistogramVec,
    pub(crate) monitor_statistic: GaugeVec,
    pub(crate) monitor_threshold: GaugeVec,
    pub(crate) monitor_alerts: IntCounterVec,
    pub(crate) pipelines_running: IntGauge,
    pub(crate) checkpoints: IntCounterVec,
    pub(crate) checkpoint_failures: IntCounterVec,
    pub(crate) checkpoint_restores: IntCounterVec,
    pub(crate) checkpoint_last_id: IntGaugeVec,
    pub(crate) checkpoint_last_time: GaugeVec,
    pub(crate) checkpoint_since_last: GaugeVec,
    pub(crate) checkpoint_bytes: GaugeVec,
    pub(crate) checkpoint_duration: HistogramVec,
    refreshers: Mutex<Vec<Weak<Scraped>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("families", &self.registry.gather().len()).finish_non_exhaustive()
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry.register(Box::new(c.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry.register(Box::new(g.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    g
}

fn int_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry.register(Box::new(g.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    g
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry.register(Box::new(h.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    h
}

impl Metrics {
    // Every name and label set below is a constant: registering can only
    // fail on a programming error, which the unit test catches.
    fn new() -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let _ = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        }
        let build = int_gauge(&registry, "weir_build_info", "Weir's version, as a label; always 1", &["version"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let uptime = Gauge::with_opts(Opts::new("weir_uptime_seconds", "Seconds since this process started"))
            .unwrap_or_else(|e| unreachable!("metric: {e}"));
        let _ = registry.register(Box::new(uptime.clone()));
        let pipelines_running = IntGauge::with_opts(Opts::new("weir_pipelines_running", "Pipelines running in this process"))
            .unwrap_or_else(|e| unreachable!("metric: {e}"));
        let _ = registry.register(Box::new(pipelines_running.clone()));
        let r = &registry;
        Self {
            started: Instant::now(),
            uptime,
            source_records: counter(r, "weir_source_records_total", "Records read by a source table", &["pipeline", "table"]),
            source_malformed: counter(r, "weir_source_malformed_records_total", "Records a source skipped or dead-lettered because they did not decode", &["pipeline", "table"]),
            source_dead_lettered: counter(r, "weir_source_dead_lettered_records_total", "Malformed records a source sent to its dead-letter topic", &["pipeline", "table"]),
            source_late: counter(r, "weir_source_late_records_total", "Records behind their table's watermark, left out of windows", &["pipeline", "table"]),
            source_watermark: gauge(r, "weir_source_watermark_seconds", "Event-time watermark of a source partition, epoch seconds", &["pipeline", "table", "partition"]),
            source_watermark_lag: gauge(r, "weir_source_watermark_lag_seconds", "Wall-clock time minus a source partition's watermark", &["pipeline", "table", "partition"]),
            source_idle: int_gauge(r, "weir_source_partition_idle", "1 while a source partition is idle and does not hold the watermark back", &["pipeline", "table", "partition"]),
            source_lag: int_gauge(r, "weir_source_consumer_lag_messages", "Messages behind the end of a source partition (Kafka consumer lag)", &["pipeline", "table", "partition"]),
            operator_records_in: counter(r, "weir_operator_records_in_total", "Rows into an operator", &["pipeline", "operator", "worker"]),
            operator_records_out: counter(r, "weir_operator_records_out_total", "Rows out of an operator", &["pipeline", "operator", "worker"]),
            operator_batches_in: counter(r, "weir_operator_batches_in_total", "Batches into an operator", &["pipeline", "operator", "worker"]),
            operator_batches_out: counter(r, "weir_operator_batches_out_total", "Batches out of an operator", &["pipeline", "operator", "worker"]),
            operator_state_rows: int_gauge(r, "weir_operator_state_rows", "Rows a stateful operator holds (a join's sides, a temporal join's versions and waiting rows)", &["pipeline", "operator", "worker"]),
            operator_seconds: histogram(r, "weir_operator_processing_seconds", "Time an operator spent on one batch", &["pipeline", "operator"], OPERATOR_BUCKETS),
            sink_records: counter(r, "weir_sink_records_total", "Rows handed to a sink", &["pipeline", "sink"]),
            sink_failures: counter(r, "weir_sink_failures_total", "Writes or deliveries a sink failed", &["pipeline", "sink"]),
            rows_failed: counter(r, "weir_rows_failed_total", "Rows whose expression failed (division by zero, a bad cast): skipped and dead-lettered, or the pipeline stopped", &["pipeline", "operator"]),
            window_latency: histogram(r, "weir_window_latency_seconds", "From the watermark passing a window's end to its row leaving the window operator", &["pipeline"], LATENCY_BUCKETS),
            model_learned: counter(r, "weir_model_rows_learned_total", "Rows a model learned", &["pipeline", "model"]),
            model_scored: counter(r, "weir_model_rows_scored_total", "Rows a model scored (ML_PREDICT)", &["pipeline", "model"]),
            model_accuracy: gauge(r, "weir_model_accuracy", "Prequential accuracy of the rows learned in the last 60 s of wall-clock time (all rows in a younger run; classification)", &["pipeline", "model"]),
            model_log_loss: gauge(r, "weir_model_log_loss", "Prequential log loss of the rows learned in the last 60 s of wall-clock time (classification)", &["pipeline", "model"]),
            model_mae: gauge(r, "weir_model_mae", "Prequential mean absolute error of the rows learned in the last 60 s of wall-clock time", &["pipeline", "model"]),
            model_keys: int_gauge(r, "weir_model_keys", "Models in a per-key bank (keys seen)", &["pipeline", "model"]),
            model_device: int_gauge(r, "weir_model_device_info", "Where a model runs, as a label; always 1", &["pipeline", "model", "device"]),
            model_kernel_seconds: histogram(r, "weir_model_kernel_seconds", "Time of one kernel call of a model's bank (learn or score a batch)", &["pipeline", "model", "call"], OPERATOR_BUCKETS),
            monitor_statistic: gauge(r, "weir_monitor_statistic", "The latest drift statistic of a monitored feature", &["pipeline", "monitor", "feature"]),
            monitor_threshold: gauge(r, "weir_monitor_threshold", "The threshold a monitored feature's statistic is compared with", &["pipeline", "monitor", "feature"]),
            monitor_alerts: counter(r, "weir_monitor_alerts_total", "Drift alerts, by state (raised, cleared, warning, drift)", &["pipeline", "monitor", "state"]),
            pipelines_running,
            checkpoints: counter(r, "weir_checkpoints_total", "Checkpoints completed (state and manifest written)", &["pipeline"]),
            checkpoint_failures: counter(r, "weir_checkpoint_failures_total", "Checkpoints that could not be written (the previous one stands)", &["pipeline"]),
            checkpoint_restores: counter(r, "weir_checkpoint_restores_total", "Runs that resumed from a checkpoint", &["pipeline"]),
            checkpoint_last_id: int_gauge(r, "weir_checkpoint_last_id", "Id of the last completed checkpoint", &["pipeline"]),
            checkpoint_last_time: gauge(r, "weir_checkpoint_last_completed_seconds", "When the last checkpoint completed, Unix seconds", &["pipeline"]),
            checkpoint_since_last: gauge(r, "weir_checkpoint_since_last_seconds", "Seconds since the last checkpoint completed (or since the run started)", &["pipeline"]),
            checkpoint_bytes: gauge(r, "weir_checkpoint_bytes", "Size of the last completed checkpoint's state", &["pipeline"]),
            checkpoint_duration: histogram(r, "weir_checkpoint_duration_seconds", "From asking for a checkpoint to its manifest being written", &["pipeline"], LATENCY_BUCKETS),
            refreshers: Mutex::new(Vec::new()),
            registry,
        }
    }

    fn refresh(&self) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let live: Vec<Arc<Scraped>> = {
            let mut refreshers = lock(&self.refreshers);
            refreshers.retain(|r| r.strong_count() > 0);
            refreshers.iter().filter_map(Weak::upgrade).collect()
        };
        for r in live {
            r.refresh(self);
        }
    }

    /// Everything, in Prometheus' text format.
    pub fn encode(&self) -> String {
        self.refresh();
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            out = format!("# weir: encoding the metrics failed: {e}\n");
        }
        out
    }

    /// The values of family `name` for `pipeline` (gauges and counters;
    /// histograms give their sample count), one per label set.
    pub fn values(&self, name: &str, pipeline: &str) -> Vec<f64> {
        self.refresh();
        let mut out = Vec::new();
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            let kind = family.get_field_type();
            for metric in family.get_metric() {
                if !metric.get_label().iter().any(|l| l.name() == "pipeline" && l.value() == pipeline) {
                    continue;
                }
                out.push(match kind {
                    MetricType::COUNTER => metric.get_counter().get_value(),
                    MetricType::GAUGE => metric.get_gauge().get_value(),
                    _ => metric.get_histogram().get_sample_count() as f64,
                });
            }
        }
        out
    }

    /// Records a pipeline's source table has read so far.
    pub fn source_records_total(&self, pipeline: &str, table: &str) -> u64 {
        self.refresh();
        self.source_records.with_label_values(&[pipeline, table]).get()
    }

    /// Rows a pipeline has handed to a sink so far.
    pub fn sink_records_total(&self, pipeline: &str, sink: &str) -> u64 {
        self.refresh();
        self.sink_records.with_label_values(&[pipeline, sink]).get()
    }
}

/// The process's metrics.
///
/// ```
/// let text = weir_engine::metrics::metrics().encode();
/// assert!(text.contains("weir_build_info"));
/// ```
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}


/// The labelled metrics of one run.
pub(crate) struct RunMetrics {
    pub(crate) pipeline: String,
    pub(crate) failures: Vec<IntCounter>,
    pub(crate) window_latency: Histogram,
    /// Copied in at scrape time; registered weakly, kept alive by the run.
    scraped: Arc<Scraped>,
}

/// The counts a run keeps for its report (rows read, late, written),
/// each with the process counter it is copied into when scraped, so that
/// the hot path counts once.
pub(crate) struct RunCounts {
    pub(crate) read: Vec<(String, Arc<AtomicU64>)>,
    pub(crate) late: Vec<(String, Arc<AtomicU64>)>,
    pub(crate) written: Vec<(String, Arc<AtomicU64>)>,
}

/// A run's count and the labelled counter it is copied into.
struct Copied {
    counter: IntCounter,
    count: Arc<AtomicU64>,
    copied: AtomicU64,
}

/// What the run's refresher reads: its counts, malformed-record counts
/// and models.
#[derive(Default)]
pub(crate) struct Scraped {
    pipeline: String,
    counts: Vec<Copied>,
    bad: Vec<(String, Arc<BadRecords>)>,
    models: Mutex<Vec<(String, SharedModel)>>,
    /// Per table: malformed and dead-lettered records copied so far.
    bad_seen: Mutex<HashMap<String, (u64, u64)>>,
    /// Per model: the totals copied so far.
    seen: Mutex<HashMap<String, ModelSeen>>,
    /// The latest watermark of each source partition (epoch ms).
    watermarks: Mutex<BTreeMap<(String, String), i64>>,
}

#[derive(Default)]
struct ModelSeen {
    learned: u64,
    scored: u64,
}

impl RunMetrics {
    pub(crate) fn new(pipeline: &str, counts: &RunCounts, bad: Vec<(String, Arc<BadRecords>)>) -> Self {
        let m = metrics();
        let copied = |family: &IntCounterVec, counts: &[(String, Arc<AtomicU64>)]| -> Vec<Copied> {
            counts
                .iter()
                .map(|(name, count)| Copied { counter: family.with_label_values(&[pipeline, name]), count: Arc::clone(count), copied: AtomicU64::new(0) })
                .collect()
        };
        let mut all = copied(&m.source_records, &counts.read);
        all.extend(copied(&m.source_late, &counts.late));
        all.extend(copied(&m.sink_records, &counts.written));
        let scraped = Arc::new(Scraped { pipeline: pipeline.to_string(), counts: all, bad, ..Scraped::default() });
        lock(&m.refreshers).push(Arc::downgrade(&scraped));
        Self {
            pipeline: pipeline.to_string(),
            failures: counts.written.iter().map(|(s, _)| m.sink_failures.with_label_values(&[pipeline, s])).collect(),
            window_latency: m.window_latency.with_label_values(&[pipeline]),
            scraped,
        }
    }

    /// Sets a source partition's consumer lag in messages.
    pub(crate) fn lag(&self, table: &str, partition: &str, messages: i64) {
        metrics().source_lag.with_label_values(&[&self.pipeline, table, partition]).set(messages);
    }

    /// Copies the final state in: after the run, nothing refreshes it.
    pub(crate) fn finish(&self) {
        self.scraped.refresh(metrics());
    }

    /// Adds a worker's model instance, for the model gauges.
    pub(crate) fn model(&self, name: &str, model: SharedModel) {
        lock(&self.scraped.models).push((name.to_string(), model));
    }

    /// Sets a source partition's watermark (epoch ms) and idle state.
    pub(crate) fn watermark(&self, table: &str, partition: &str, watermark_ms: i64, idle: bool) {
        let m = metrics();
        if watermark_ms > 0 {
            m.source_watermark.with_label_values(&[&self.pipeline, table, partition]).set(watermark_ms as f64 / 1000.0);
            lock(&self.scraped.watermarks).insert((table.to_string(), partition.to_string()), watermark_ms);
        }
        m.source_idle.with_label_values(&[&self.pipeline, table, partition]).set(i64::from(idle));
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Scraped {
    /// Copies the run's counts and model state into the registry.
    fn refresh(&self, m: &Metrics) {
        let pipeline = self.pipeline.as_str();
        for c in &self.counts {
            let now = c.count.load(Ordering::Relaxed);
            let before = c.copied.swap(now, Ordering::Relaxed);
            c.counter.inc_by(now.saturating_sub(before));
        }
        {
            // Counters of this run only grow: add what is new since the
            // last scrape (another run may share the label values).
            let mut seen = lock(&self.bad_seen);
            for (table, bad) in &self.bad {
                let (malformed, dead) = seen.entry(table.clone()).or_default();
                let (now_malformed, now_dead) = (bad.count(), bad.dead_lettered());
                m.source_malformed.with_label_values(&[pipeline, table]).inc_by(now_malformed.saturating_sub(*malformed));
                m.source_dead_lettered.with_label_values(&[pipeline, table]).inc_by(now_dead.saturating_sub(*dead));
                (*malformed, *dead) = (now_malformed.max(*malformed), now_dead.max(*dead));
            }
        }
        let now = now_ms();
        for ((table, partition), w) in lock(&self.watermarks).iter() {
            m.source_watermark_lag.with_label_values(&[pipeline, table, partition]).set((now - w) as f64 / 1000.0);
        }
        // Sum each model over its workers.
        let mut totals: BTreeMap<String, (Prequential, Prequential, u64, usize, String)> = BTreeMap::new();
        for (name, model) in lock(&self.models).iter() {
            let mut state = lock(model);
            for (learning, seconds) in state.take_kernel_times() {
                let call = if learning { "learn" } else { "score" };
                m.model_kernel_seconds.with_label_values(&[pipeline, name.as_str(), call]).observe(seconds);
            }
            let t = totals.entry(name.clone()).or_default();
            t.0.merge(&state.metrics);
            t.1.merge(&state.recent.sum());
            t.2 += state.rows_scored;
            t.3 += state.keys();
            if t.4.is_empty() {
                t.4 = state.device.clone();
            }
        }
        let mut seen = lock(&self.seen);
        for (name, (metrics, recent, scored, keys, device)) in totals {
            let s = seen.entry(name.clone()).or_default();
            let labels = [pipeline, name.as_str()];
            m.model_learned.with_label_values(&labels).inc_by(metrics.rows.saturating_sub(s.learned));
            m.model_scored.with_label_values(&labels).inc_by(scored.saturating_sub(s.scored));
            s.learned = s.learned.max(metrics.rows);
            s.scored = s.scored.max(scored);
            m.model_keys.with_label_values(&labels).set(keys as i64);
            let device = device.split_whitespace().next().unwrap_or("cpu").to_string();
            m.model_device.with_label_values(&[pipeline, name.as_str(), device.as_str()]).set(1);
            // The last minute of wall-clock time, from each model's buckets.
            if let (Some(mae), n) = (recent.mae(), recent.rows) {
                if recent.log_loss_sum > 0.0 {
                    m.model_accuracy.with_label_values(&labels).set(recent.correct as f64 / n as f64);
                    m.model_log_loss.with_label_values(&labels).set(recent.log_loss_sum / n as f64);
                }
                m.model_mae.with_label_values(&labels).set(mae);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_registers_and_encodes() {
        let read = Arc::new(AtomicU64::new(3));
        let counts = RunCounts { read: vec![("traffic".into(), Arc::clone(&read))], late: Vec::new(), written: Vec::new() };
        let run = RunMetrics::new("t", &counts, Vec::new());
        run.watermark("traffic", "traffic/0", 1_767_225_600_000, false);
        let text = metrics().encode();
        assert!(text.contains("weir_source_records_total{pipeline=\"t\",table=\"traffic\"} 3"), "{text}");
        assert!(text.contains("weir_source_watermark_seconds{partition=\"traffic/0\",pipeline=\"t\",table=\"traffic\"} 1767225600"), "{text}");
        assert!(text.contains("weir_source_watermark_lag_seconds"), "{text}");
        assert!(text.contains("weir_uptime_seconds"), "{text}");
    }
}
