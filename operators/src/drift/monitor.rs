//! `CREATE MONITOR name ON t (columns) WITH ('method' = ...)`: a point
//! drift detector per key and column, whose detections are a stream of
//! alert rows ([`alerts_schema`]).
//!
//! Rows reach the operator through a keyed exchange on the monitor's
//! `partition_by` column (all rows to one worker without one), so each
//! key's detectors live on one worker and see that key's values in the
//! order they arrive there. A NULL value is not fed to its detector; a NULL
//! key is a key of its own.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};

use super::{Adwin, Alert, AlertRows, Ddm, DriftDetector, Kswin, Mode, PageHinkley, State};
use crate::error::{OperatorError, Result};
use crate::operator::Operator;

/// The key column as text and the watched columns as `Float64`, as both
/// kinds of monitor read a batch.
pub(super) fn watched(batch: &RecordBatch, key: Option<usize>, columns: &[(usize, String)]) -> Result<(Option<ArrayRef>, Vec<ArrayRef>)> {
    let arrow = |source| OperatorError::Arrow { operator: "monitor".into(), source };
    let keys = key.map(|k| cast(batch.column(k), &DataType::Utf8).map_err(arrow)).transpose()?;
    let values = columns.iter().map(|(i, _)| cast(batch.column(*i), &DataType::Float64).map_err(arrow)).collect::<Result<Vec<_>>>()?;
    Ok((keys, values))
}

/// A point detector and its parameters (River's names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorSpec {
    /// `drift.ADWIN(delta, clock, max_buckets, min_window_length, grace_period)`.
    Adwin {
        /// Confidence of the change test.
        delta: f64,
        /// Values between change tests.
        clock: u64,
        /// Buckets per row before two merge.
        max_buckets: usize,
        /// Shortest sub-window a cut may leave.
        min_window_length: u64,
        /// Values before the first change test.
        grace_period: u64,
    },
    /// `drift.PageHinkley(min_instances, delta, threshold, alpha, mode)`.
    PageHinkley {
        /// Values needed before a detection.
        min_instances: u64,
        /// Tolerated deviation.
        delta: f64,
        /// Detection threshold.
        threshold: f64,
        /// Forgetting factor.
        alpha: f64,
        /// Which direction counts.
        mode: Mode,
    },
    /// `drift.binary.DDM(warm_start, warning_threshold, drift_threshold)`.
    Ddm {
        /// Values before a detection is possible.
        warm_start: u64,
        /// Deviations above the minimum that warn.
        warning_threshold: f64,
        /// Deviations above the minimum that signal drift.
        drift_threshold: f64,
    },
    /// `drift.KSWIN(alpha, window_size, stat_size, seed)`.
    Kswin {
        /// P-value at or below which drift is signalled.
        alpha: f64,
        /// Values in the sliding window.
        window_size: usize,
        /// Values in each of the two samples compared.
        stat_size: usize,
        /// Seed of the sampling (Python's `random.Random(seed)`).
        seed: u64,
    },
}

impl DetectorSpec {
    /// The `'method'` name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Adwin { .. } => "adwin",
            Self::PageHinkley { .. } => "page_hinkley",
            Self::Ddm { .. } => "ddm",
            Self::Kswin { .. } => "kswin",
        }
    }

    /// A fresh detector.
    pub fn build(&self) -> Box<dyn DriftDetector + Send> {
        match *self {
            Self::Adwin { delta, clock, max_buckets, min_window_length, grace_period } => {
                Box::new(Adwin::new(delta, clock, max_buckets, min_window_length, grace_period))
            }
            Self::PageHinkley { min_instances, delta, threshold, alpha, mode } => {
                Box::new(PageHinkley::new(min_instances, delta, threshold, alpha, mode))
            }
            Self::Ddm { warm_start, warning_threshold, drift_threshold } => {
                Box::new(Ddm::new(warm_start, warning_threshold, drift_threshold))
            }
            Self::Kswin { alpha, window_size, stat_size, seed } => Box::new(Kswin::new(alpha, window_size, stat_size, seed)),
        }
    }
}

/// One column's detector within a key, and how many values it has seen.
struct Watch {
    detector: Box<dyn DriftDetector + Send>,
    seen: u64,
    warned: bool,
}


/// The operator behind `CREATE MONITOR`: feeds each key's values of each
/// column to its own detector, in arrival order or (with
/// [`DriftMonitor::in_event_time_order`]) in event-time order, and emits an
/// alert row at every detection (`drift`), and when a detector with a
/// warning zone enters it (`warning`, once until it leaves).
pub struct DriftMonitor {
    name: String,
    spec: DetectorSpec,
    key: Option<usize>,
    columns: Vec<(usize, String)>,
    time: Option<usize>,
    keys: HashMap<Option<String>, Vec<Watch>>,
    /// Whether rows wait for the watermark and go on in event-time order.
    ordered: bool,
    /// Rows waiting for the watermark.
    pending: crate::pending::Pending,
    /// The last watermark heard.
    watermark: i64,
}

impl std::fmt::Debug for DriftMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftMonitor").field("name", &self.name).field("spec", &self.spec).field("keys", &self.keys.len()).finish()
    }
}

impl DriftMonitor {
    /// A monitor named `name` running `spec` on the `columns` (index and
    /// name) of its input, per value of column `key`, taking event times
    /// from column `time`.
    pub fn new(name: impl Into<String>, spec: DetectorSpec, key: Option<usize>, columns: Vec<(usize, String)>, time: Option<usize>) -> Self {
        Self { name: name.into(), spec, key, columns, time, keys: HashMap::new(), ordered: false, pending: Default::default(), watermark: i64::MIN }
    }

    /// Feeds the detectors in event-time order (of the time column given
    /// to [`DriftMonitor::new`]): rows wait until the watermark passes
    /// them, then go on sorted by time, ties by key and watched values, so
    /// the alerts are the same for any number of workers and after a
    /// restore (in arrival order, rows of one key from several readers
    /// interleave differently on every run).
    pub fn in_event_time_order(mut self) -> Self {
        self.ordered = self.time.is_some();
        self
    }

    /// Feeds the held rows at or before `watermark` (all with `None`).
    fn release(&mut self, watermark: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(time) = self.time.filter(|_| self.ordered) else { return Ok(()) };
        let mut order = vec![time];
        order.extend(self.key);
        order.extend(self.columns.iter().map(|(c, _)| *c));
        match self.pending.take_ready(&order, watermark, "monitor")? {
            Some(rows) => self.observe(rows, out),
            None => Ok(()),
        }
    }

    fn arrow(source: datafusion::arrow::error::ArrowError) -> OperatorError {
        OperatorError::Arrow { operator: "monitor".into(), source }
    }
}

/// The encoding of [`DriftMonitor`]'s snapshots: the keys' detectors, the
/// watermark and the rows waiting for it.
const SNAPSHOT_VERSION: u32 = 2;

/// One key's watches in a snapshot: each column's detector state, values
/// seen and whether it is in its warning zone.
type SavedKey = (Option<String>, Vec<(Vec<u8>, u64, bool)>);

impl Operator for DriftMonitor {
    fn name(&self) -> &str {
        "monitor"
    }

    /// Every key's detectors, in key order.
    fn snapshot(&mut self) -> Result<Option<crate::StateSnapshot>> {
        let mut keys: Vec<SavedKey> = Vec::with_capacity(self.keys.len());
        for (key, watches) in &self.keys {
            let saved = watches.iter().map(|w| Ok((w.detector.save()?, w.seen, w.warned))).collect::<Result<Vec<_>>>()?;
            keys.push((key.clone(), saved));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bytes = Vec::new();
        crate::codec::write_bytes(&mut bytes, &crate::codec::encode("monitor", &keys)?);
        crate::codec::write_i64(&mut bytes, self.watermark);
        self.pending.write(&mut bytes, "monitor")?;
        Ok(Some(crate::StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: crate::StateSnapshot) -> Result<()> {
        let mut reader = crate::codec::Reader::new("monitor", &snapshot, SNAPSHOT_VERSION)?;
        let keys: Vec<SavedKey> = crate::codec::decode("monitor", reader.bytes()?)?;
        self.watermark = reader.i64()?;
        self.pending = crate::pending::Pending::read(&mut reader, self.time.filter(|_| self.ordered), "monitor")?;
        self.keys.clear();
        for (key, saved) in keys {
            if saved.len() != self.columns.len() {
                return Err(reader.bad(format!("{} watched columns, the monitor has {}", saved.len(), self.columns.len())));
            }
            let mut watches = Vec::with_capacity(saved.len());
            for (bytes, seen, warned) in saved {
                let mut detector = self.spec.build();
                detector.load(&bytes)?;
                watches.push(Watch { detector, seen, warned });
            }
            self.keys.insert(key, watches);
        }
        Ok(())
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self.time.filter(|_| self.ordered) {
            Some(time) => self.pending.push(batch, time, "monitor"),
            None => self.observe(batch, out),
        }
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        self.release(Some(watermark), out)
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.release(None, out)
    }

    fn retained(&self) -> Option<i64> {
        // Rows wait for the watermark to pass them (they arrived ahead of it).
        (!self.pending.is_empty()).then(|| self.watermark.saturating_add(1))
    }
}

impl DriftMonitor {
    /// Feeds every row of `batch` to its key's detectors, in its order.
    fn observe(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let (keys, values) = watched(&batch, self.key, &self.columns)?;
        let keys = keys.as_ref().map(|k| k.as_string::<i32>());
        let times = match self.time {
            Some(t) => Some(cast(batch.column(t), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(Self::arrow)?),
            None => None,
        };
        let times = times.as_ref().map(|t| t.as_primitive::<TimestampMillisecondType>());
        let mut alerts = AlertRows::default();
        for r in 0..batch.num_rows() {
            let key = keys.and_then(|k| k.is_valid(r).then(|| k.value(r).to_string()));
            let spec = &self.spec;
            let watches = self.keys.entry(key.clone()).or_insert_with(|| {
                (0..values.len()).map(|_| Watch { detector: spec.build(), seen: 0, warned: false }).collect()
            });
            for (c, (column, watch)) in values.iter().zip(watches.iter_mut()).enumerate() {
                let column = column.as_primitive::<Float64Type>();
                if !column.is_valid(r) {
                    continue;
                }
                let index = watch.seen;
                watch.seen += 1;
                let state = watch.detector.update(column.value(r));
                let label = match state {
                    State::Drift => {
                        watch.warned = false;
                        "drift"
                    }
                    State::Warning if !watch.warned => {
                        watch.warned = true;
                        "warning"
                    }
                    State::Warning => continue,
                    State::Stable => {
                        watch.warned = false;
                        continue;
                    }
                };
                alerts.push(Alert {
                    event_time: times.and_then(|t| t.is_valid(r).then(|| t.value(r))),
                    key: key.clone(),
                    feature: self.columns[c].1.clone(),
                    statistic: watch.detector.statistic(),
                    threshold: watch.detector.threshold(),
                    state: label,
                    row_index: index as i64,
                    window: None,
                });
            }
        }
        out.extend(alerts.batch(&self.name, None, self.spec.method())?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{Field, Schema};

    #[test]
    fn every_detector_restores_as_if_uninterrupted() {
        use crate::replay::{assert_restores, Step};
        // Two keys; key 0's errors jump from rare to frequent at row 600.
        let n = 1200usize;
        let key: Int64Array = (0..n).map(|i| Some((i % 2) as i64)).collect();
        let x: Float64Array = (0..n).map(|i| Some(f64::from(u8::from((i * 7919) % 13 < if i >= 600 && i % 2 == 0 { 9 } else { 1 })))).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false), Field::new("x", DataType::Float64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(key), Arc::new(x)]).expect("batch");
        let steps: Vec<Step> = (0..n).step_by(100).map(|s| Step::Rows(0, batch.slice(s, 100))).collect();
        let specs = [
            DetectorSpec::Adwin { delta: 0.002, clock: 32, max_buckets: 5, min_window_length: 5, grace_period: 10 },
            DetectorSpec::PageHinkley { min_instances: 30, delta: 0.005, threshold: 5.0, alpha: 1.0 - 0.0001, mode: Mode::Both },
            DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 },
            DetectorSpec::Kswin { alpha: 0.005, window_size: 100, stat_size: 30, seed: 42 },
        ];
        for spec in specs {
            let make = || -> Box<dyn Operator> { Box::new(DriftMonitor::new("m", spec.clone(), Some(0), vec![(1, "x".into())], None)) };
            assert_restores(&make, &steps);
        }
    }

    /// Two keys' values with a shift halfway and event times with ties, in
    /// an arrival order `skew` disorders by up to 4 s, as batches of
    /// `size` rows each followed by a watermark 5 s behind.
    fn timed_steps(size: usize, skew: usize) -> Vec<crate::replay::Step> {
        use datafusion::arrow::array::TimestampMillisecondArray;
        let n = 1200usize;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (i / 2) * 1_000 + (i * skew % 5) * 1_000);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("ts", DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None), false),
        ]));
        let mut steps = Vec::new();
        for chunk in order.chunks(size) {
            let key: Int64Array = chunk.iter().map(|&i| Some((i % 2) as i64)).collect();
            let x: Float64Array = chunk.iter().map(|&i| Some(f64::from(u8::from((i * 7919) % 13 < if i >= 600 { 9 } else { 1 })))).collect();
            let ts: TimestampMillisecondArray = chunk.iter().map(|&i| Some((i / 2) as i64 * 1_000)).collect();
            let newest = chunk.iter().map(|&i| (i / 2) as i64 * 1_000).max().unwrap_or(0);
            steps.push(crate::replay::Step::Rows(0, RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(key), Arc::new(x), Arc::new(ts)]).expect("batch")));
            steps.push(crate::replay::Step::Watermark(newest - 5_000));
        }
        steps
    }

    #[test]
    fn in_event_time_order_alerts_do_not_depend_on_arrival_and_restore() {
        use crate::replay::{assert_restores, run};
        let spec = DetectorSpec::Adwin { delta: 0.002, clock: 32, max_buckets: 5, min_window_length: 5, grace_period: 10 };
        let make = || -> Box<dyn Operator> { Box::new(DriftMonitor::new("m", spec.clone(), Some(0), vec![(1, "x".into())], Some(2)).in_event_time_order()) };
        let sorted = run(&make, &timed_steps(1200, 0), None);
        assert!(sorted.iter().any(|r| r.contains("drift")), "the shift is detected: {sorted:?}");
        for (size, skew) in [(1, 3), (37, 7), (100, 11)] {
            assert_eq!(run(&make, &timed_steps(size, skew), None), sorted, "batches of {size}, skew {skew}");
        }
        assert_restores(&make, &timed_steps(100, 7));
    }

    #[test]
    fn alerts_carry_rivers_indices_per_key_and_column() {
        let n = 3000usize;
        // Key 0's values shift at 1000, key 1's never; the second column
        // is NULL on every third row, so its indices count only values.
        let key: Int64Array = (0..n).map(|i| Some((i % 2) as i64)).collect();
        let x: Float64Array = (0..n).map(|i| Some(if i % 2 == 0 && i / 2 >= 1000 { 5.0 } else { 0.0 })).collect();
        let y: Float64Array = (0..n).map(|i| (i % 3 != 0).then_some(if i >= 1500 { 3.0 } else { 0.0 })).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(key), Arc::new(x.clone()), Arc::new(y.clone())]).expect("batch");
        let spec = DetectorSpec::PageHinkley { min_instances: 30, delta: 0.005, threshold: 50.0, alpha: 1.0 - 0.0001, mode: Mode::Both };
        let mut monitor = DriftMonitor::new("m", spec.clone(), Some(0), vec![(1, "x".into()), (2, "y".into())], None);
        let mut out = Vec::new();
        // In two batches: detectors carry over.
        monitor.process(batch.slice(0, 1234), &mut out).expect("process");
        monitor.process(batch.slice(1234, n - 1234), &mut out).expect("process");
        let mut got: Vec<(String, String, i64)> = Vec::new();
        for b in &out {
            let (k, f, i) = (b.column(4).as_string::<i32>(), b.column(5).as_string::<i32>(), b.column(10).as_primitive::<datafusion::arrow::datatypes::Int64Type>());
            for r in 0..b.num_rows() {
                got.push((k.value(r).to_string(), f.value(r).to_string(), i.value(r)));
            }
        }
        // The oracle: one detector per (key, column) over that sequence.
        let mut want = Vec::new();
        for k in 0..2 {
            for (name, column) in [("x", &x), ("y", &y)] {
                let mut d = spec.build();
                let values = (0..n).filter(|i| i % 2 == k && column.is_valid(*i)).map(|i| column.value(i));
                for (index, v) in values.enumerate() {
                    if d.update(v) == State::Drift {
                        want.push((k.to_string(), name.to_string(), index as i64));
                    }
                }
            }
        }
        got.sort();
        want.sort();
        assert!(!want.is_empty(), "the shifts must be detected");
        assert_eq!(got, want);
    }
}
