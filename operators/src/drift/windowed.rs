//! `CREATE MONITOR ... WITH ('method' = 'psi' | 'jensen_shannon' | 'ks' |
//! 'wasserstein', 'reference.rows' = n, 'window' = '1 minute', ...)`:
//! feature drift of each watched column (per key) between a reference (the
//! first `n` values, those of an event-time range, or values read from a
//! file) and each tumbling or hopping event-time window after it.
//!
//! When the watermark passes, every window it closes (all keys and
//! columns) is measured together: PSI and Jensen-Shannon bin them in one
//! call to a [`Histogrammer`], which is one kernel launch on a GPU.
//!
//! A window is measured when the watermark passes its end. The monitor
//! emits `raised` when a window's statistic crosses the threshold and
//! `cleared` when a later window is back within it — one row per change,
//! not one per window while drift lasts. Values behind the watermark (their
//! window already measured) are left out.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use weir_kernels::DeviceRequest;
use weir_kernels::histograms::{CpuHistogrammer, Histogrammer, Histograms};
use weir_kernels::stats;

use super::{Alert, AlertRows, AlertWindow};
use crate::error::{OperatorError, Result};
use crate::operator::Operator;

/// A windowed feature-drift statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMethod {
    /// Population stability index over the reference's deciles; drift
    /// above the threshold.
    Psi,
    /// Jensen-Shannon distance (base 2) over the same bins; drift above
    /// the threshold.
    JensenShannon,
    /// Two-sample Kolmogorov-Smirnov; the statistic reported is the
    /// p-value, and drift is a p-value below the threshold.
    Ks,
    /// Wasserstein-1 distance; drift above the threshold.
    Wasserstein,
}

impl WindowMethod {
    /// The `'method'` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Psi => "psi",
            Self::JensenShannon => "jensen_shannon",
            Self::Ks => "ks",
            Self::Wasserstein => "wasserstein",
        }
    }

    /// Whether `statistic` is drift against `threshold`.
    fn drifted(self, statistic: f64, threshold: f64) -> bool {
        match self {
            Self::Ks => statistic < threshold,
            _ => statistic > threshold,
        }
    }
}

/// What a monitor runs: a point detector on each value, or a windowed
/// statistic against a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorSpec {
    /// ADWIN, Page-Hinkley or DDM.
    Point(super::DetectorSpec),
    /// PSI, Jensen-Shannon, Kolmogorov-Smirnov or Wasserstein-1 per window.
    Windowed(WindowSpec),
}

impl MonitorSpec {
    /// The `'method'` name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Point(p) => p.method(),
            Self::Windowed(w) => w.method.name(),
        }
    }
}

/// A reference read from a file: values by key (`None` for every key
/// when the file has no key column) and watched column (its position in
/// the monitor's column list).
#[derive(Clone, PartialEq, Default)]
pub struct ReferenceValues {
    /// The file, for plans and messages.
    pub path: String,
    /// Whether the values are per key (the file has the key column).
    pub per_key: bool,
    /// The values.
    pub values: HashMap<(Option<String>, usize), Vec<f32>>,
}

impl std::fmt::Debug for ReferenceValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.values.values().map(Vec::len).sum();
        write!(f, "ReferenceValues({}: {n} values, {} series)", self.path, self.values.len())
    }
}

/// Where a windowed monitor's reference comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferenceSpec {
    /// The first `n` values of each key and column.
    Rows(usize),
    /// The values whose event time is in `[start, end)` (milliseconds);
    /// complete once the watermark reaches `end`.
    Range {
        /// Inclusive start.
        start_ms: i64,
        /// Exclusive end.
        end_ms: i64,
    },
    /// Values read from a file when the pipeline was planned.
    File(std::sync::Arc<ReferenceValues>),
}

/// The settings of a windowed monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// The statistic.
    pub method: WindowMethod,
    /// The reference of each key and column.
    pub reference: ReferenceSpec,
    /// Window length, milliseconds.
    pub window_ms: i64,
    /// Milliseconds between window starts: `window_ms` for tumbling
    /// windows, less for hopping (sliding) ones.
    pub slide_ms: i64,
    /// Drift threshold (see [`WindowMethod`]).
    pub threshold: f64,
    /// Where PSI and Jensen-Shannon bin their windows.
    pub device: DeviceRequest,
}

/// The reference of one key and column, once full.
#[derive(serde::Serialize, serde::Deserialize)]
struct Reference {
    sorted: Vec<f32>,
    edges: Vec<f32>,
    counts: Vec<u64>,
}

impl Reference {
    /// Decile bins and counts of `values`, and the values sorted.
    fn new(mut sorted: Vec<f32>) -> std::result::Result<Self, weir_kernels::KernelError> {
        let edges = stats::quantile_edges(&sorted, 10)?;
        let mut counts = vec![0; edges.len() + 1];
        stats::histogram(&sorted, &edges, &mut counts)?;
        sorted.sort_by(f32::total_cmp);
        Ok(Self { sorted, edges, counts })
    }
}

/// One key and column: its reference, open windows and whether drift is raised.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Feature {
    filling: Vec<f32>,
    reference: Option<Reference>,
    /// Open windows by start: their values and the index of the last one.
    windows: BTreeMap<i64, (Vec<f32>, u64)>,
    seen: u64,
    raised: bool,
}

/// A window whose end the watermark passed, taken out of its feature.
struct Closed {
    id: (Option<String>, usize),
    start: i64,
    values: Vec<f32>,
    last: u64,
}

/// The operator behind a windowed `CREATE MONITOR`.
pub struct WindowedMonitor {
    name: String,
    spec: WindowSpec,
    key: Option<usize>,
    columns: Vec<(usize, String)>,
    time: usize,
    watermark: i64,
    features: HashMap<(Option<String>, usize), Feature>,
    histogrammer: Box<dyn Histogrammer>,
    windows: Histograms,
    counts: Vec<u64>,
}

impl std::fmt::Debug for WindowedMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedMonitor").field("name", &self.name).field("spec", &self.spec).finish()
    }
}

impl WindowedMonitor {
    /// A monitor named `name` measuring the `columns` (index and name) of
    /// its input per value of column `key`, in windows of column `time`.
    pub fn new(name: impl Into<String>, spec: WindowSpec, key: Option<usize>, columns: Vec<(usize, String)>, time: usize) -> Self {
        Self {
            name: name.into(),
            spec,
            key,
            columns,
            time,
            watermark: i64::MIN,
            features: HashMap::new(),
            histogrammer: Box::new(CpuHistogrammer),
            windows: Histograms::default(),
            counts: Vec::new(),
        }
    }

    /// Bins PSI and Jensen-Shannon windows with `histogrammer` (such as a
    /// GPU's, from [`open_histogrammer`](weir_kernels::histograms::open_histogrammer))
    /// instead of the CPU.
    pub fn with_histogrammer(mut self, histogrammer: Box<dyn Histogrammer>) -> Self {
        self.histogrammer = histogrammer;
        self
    }

    fn arrow(source: datafusion::arrow::error::ArrowError) -> OperatorError {
        OperatorError::Arrow { operator: "monitor".into(), source }
    }

    /// Every window that ends at or before `watermark`, by key, column and
    /// start; references whose time range ended are completed first, and
    /// the windows of a key and column left without a reference dropped.
    fn take_closed(&mut self, watermark: i64) -> Result<Vec<Closed>> {
        let w = self.spec.window_ms;
        let mut ids: Vec<(Option<String>, usize)> = self.features.keys().cloned().collect();
        ids.sort();
        let mut closed = Vec::new();
        for id in ids {
            let Some(feature) = self.features.get_mut(&id) else { continue };
            if let ReferenceSpec::Range { end_ms, .. } = self.spec.reference
                && feature.reference.is_none()
                && end_ms <= watermark
                && !feature.filling.is_empty()
            {
                let values = std::mem::take(&mut feature.filling);
                feature.reference = Some(Reference::new(values).map_err(|source| OperatorError::Monitor { monitor: self.name.clone(), source })?);
            }
            let measurable = feature.reference.is_some();
            while let Some((&start, _)) = feature.windows.first_key_value() {
                if start.saturating_add(w) > watermark {
                    break;
                }
                let Some((_, (values, last))) = feature.windows.pop_first() else { break };
                if measurable {
                    closed.push(Closed { id: id.clone(), start, values, last });
                }
            }
        }
        Ok(closed)
    }

    /// The statistic of each closed window against its reference: binned
    /// methods in one call to the histogrammer, the others one by one.
    fn measure(&mut self, closed: &mut [Closed]) -> Result<Vec<Option<f64>>> {
        let failed = |source| OperatorError::Monitor { monitor: self.name.clone(), source };
        let reference = |c: &Closed| self.features.get(&c.id).and_then(|f| f.reference.as_ref());
        match self.spec.method {
            WindowMethod::Psi | WindowMethod::JensenShannon => {
                self.windows.clear();
                for c in closed.iter() {
                    let edges = reference(c).map_or(&[][..], |r| &r.edges[..]);
                    self.windows.push(&c.values, edges).map_err(failed)?;
                }
                self.counts.resize(self.windows.n_bins(), 0);
                self.histogrammer.count(&self.windows, &mut self.counts).map_err(failed)?;
                let mut out = Vec::with_capacity(closed.len());
                for (g, c) in closed.iter().enumerate() {
                    let Some(r) = reference(c) else {
                        out.push(None);
                        continue;
                    };
                    let counts = &self.counts[self.windows.bins(g)];
                    out.push(Some(if self.spec.method == WindowMethod::Psi {
                        stats::psi(&r.counts, counts).map_err(failed)?
                    } else {
                        stats::jensen_shannon(&r.counts, counts).map_err(failed)?
                    }));
                }
                Ok(out)
            }
            WindowMethod::Ks | WindowMethod::Wasserstein => {
                let mut out = Vec::with_capacity(closed.len());
                for c in closed.iter_mut() {
                    let Some(r) = self.features.get(&c.id).and_then(|f| f.reference.as_ref()) else {
                        out.push(None);
                        continue;
                    };
                    c.values.sort_by(f32::total_cmp);
                    out.push(Some(if self.spec.method == WindowMethod::Ks {
                        stats::ks(&r.sorted, &c.values).map(|(_, p)| p).map_err(failed)?
                    } else {
                        stats::wasserstein_1(&r.sorted, &c.values).map_err(failed)?
                    }));
                }
                Ok(out)
            }
        }
    }

    /// Measures every window that ends at or before `watermark`.
    fn close(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        let w = self.spec.window_ms;
        let mut closed = self.take_closed(watermark)?;
        if closed.is_empty() {
            return Ok(());
        }
        let statistics = self.measure(&mut closed)?;
        let mut alerts = AlertRows::default();
        for (c, statistic) in closed.iter().zip(statistics) {
            let (Some(feature), Some(statistic)) = (self.features.get_mut(&c.id), statistic) else { continue };
            let drifted = self.spec.method.drifted(statistic, self.spec.threshold);
            if drifted == feature.raised {
                continue;
            }
            feature.raised = drifted;
            alerts.push(Alert {
                // The event time of a window's alert is its end.
                event_time: Some(c.start + w),
                key: c.id.0.clone(),
                feature: self.columns[c.id.1].1.clone(),
                statistic,
                threshold: self.spec.threshold,
                state: if drifted { "raised" } else { "cleared" },
                row_index: c.last as i64,
                window: Some(AlertWindow {
                    start: c.start,
                    end: c.start + w,
                    n_reference: feature.reference.as_ref().map_or(0, |r| r.sorted.len() as i64),
                    n_current: c.values.len() as i64,
                }),
            });
        }
        out.extend(alerts.batch(&self.name, None, self.spec.method.name())?);
        Ok(())
    }
}

/// The encoding of [`WindowedMonitor`]'s snapshots.
const SNAPSHOT_VERSION: u32 = 1;

/// A snapshot: the watermark heard, then every key and column's reference
/// and open windows, in key order.
type Saved = (i64, Vec<((Option<String>, usize), Feature)>);

impl Operator for WindowedMonitor {
    fn name(&self) -> &str {
        "monitor"
    }

    fn snapshot(&mut self) -> Result<Option<crate::StateSnapshot>> {
        let mut features: Vec<_> = self.features.iter().collect();
        features.sort_by(|a, b| a.0.cmp(b.0));
        let bytes = crate::codec::encode("monitor", &(self.watermark, features))?;
        Ok(Some(crate::StateSnapshot { version: SNAPSHOT_VERSION, bytes }))
    }

    fn restore(&mut self, snapshot: crate::StateSnapshot) -> Result<()> {
        crate::codec::Reader::new("monitor", &snapshot, SNAPSHOT_VERSION)?;
        let (watermark, features): Saved = crate::codec::decode("monitor", &snapshot.bytes)?;
        self.watermark = watermark;
        self.features = features.into_iter().collect();
        Ok(())
    }

    fn process(&mut self, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        let (keys, values) = super::monitor::watched(&batch, self.key, &self.columns)?;
        let keys = keys.as_ref().map(|k| k.as_string::<i32>());
        let times = cast(batch.column(self.time), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(Self::arrow)?;
        let times = times.as_primitive::<TimestampMillisecondType>();
        let (w, slide) = (self.spec.window_ms, self.spec.slide_ms.clamp(1, self.spec.window_ms.max(1)));
        for r in 0..batch.num_rows() {
            let key = keys.and_then(|k| k.is_valid(r).then(|| k.value(r).to_string()));
            let time = times.is_valid(r).then(|| times.value(r));
            for (c, column) in values.iter().enumerate() {
                let column = column.as_primitive::<Float64Type>();
                if !column.is_valid(r) || column.value(r).is_nan() {
                    continue;
                }
                let v = column.value(r) as f32;
                let feature = match self.features.entry((key.clone(), c)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let mut feature = Feature::default();
                        if let ReferenceSpec::File(file) = &self.spec.reference {
                            let id = (if file.per_key { key.clone() } else { None }, c);
                            if let Some(values) = file.values.get(&id).filter(|v| !v.is_empty()) {
                                let reference = Reference::new(values.clone()).map_err(|source| OperatorError::Monitor { monitor: self.name.clone(), source })?;
                                feature.reference = Some(reference);
                            }
                        }
                        e.insert(feature)
                    }
                };
                let index = feature.seen;
                feature.seen += 1;
                match self.spec.reference {
                    ReferenceSpec::Rows(n) if feature.reference.is_none() => {
                        feature.filling.push(v);
                        if feature.filling.len() >= n {
                            let values = std::mem::take(&mut feature.filling);
                            feature.reference = Some(Reference::new(values).map_err(|source| OperatorError::Monitor { monitor: self.name.clone(), source })?);
                        }
                        continue;
                    }
                    ReferenceSpec::Range { start_ms, end_ms } => match time {
                        Some(t) if t < end_ms => {
                            if t >= start_ms && feature.reference.is_none() && end_ms > self.watermark {
                                feature.filling.push(v);
                            }
                            continue;
                        }
                        _ => {}
                    },
                    ReferenceSpec::Rows(_) | ReferenceSpec::File(_) => {}
                }
                let Some(t) = time else { continue };
                // Every window holding t: the latest start at or before it,
                // then back by the slide while the window still reaches t.
                let mut start = t.div_euclid(slide) * slide;
                while start > t.saturating_sub(w) {
                    if start.saturating_add(w) > self.watermark {
                        let window = feature.windows.entry(start).or_insert_with(|| (Vec::new(), index));
                        window.0.push(v);
                        window.1 = index;
                    } // else behind the watermark: that window is measured
                    start -= slide;
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        self.close(self.watermark, out)
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.close(i64::MAX, out)
    }

    fn retained(&self) -> Option<i64> {
        if self.features.is_empty() {
            return None;
        }
        // A window closes once the watermark reaches its end, so the rows
        // of open windows are later than one window before the watermark;
        // a time-range reference holds its rows until the range ends.
        let open = self.watermark.saturating_add(1).saturating_sub(self.spec.window_ms);
        match self.spec.reference {
            ReferenceSpec::Range { start_ms, end_ms } if self.watermark < end_ms => Some(open.min(start_ms)),
            _ => Some(open),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::replay::{assert_restores, Step};

    #[test]
    fn every_method_restores_as_if_uninterrupted() {
        // Two keys, one row each per 100 ms; key 0's values shift at 60 s.
        let n = 1600usize;
        let key: Int64Array = (0..n).map(|i| Some((i % 2) as i64)).collect();
        let ts: TimestampMillisecondArray = (0..n).map(|i| Some((i / 2) as i64 * 100)).collect();
        let x: Float64Array = (0..n).map(|i| Some(((i * 7919) % 101) as f64 + if i >= 1200 && i % 2 == 0 { 60.0 } else { 0.0 })).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(key), Arc::new(ts), Arc::new(x)]).expect("batch");
        let mut steps = Vec::new();
        for s in (0..n).step_by(100) {
            steps.push(Step::Rows(0, batch.slice(s, 100)));
            steps.push(Step::Watermark(((s + 100) / 2) as i64 * 100));
        }
        let references = [ReferenceSpec::Rows(100), ReferenceSpec::Range { start_ms: 0, end_ms: 20_000 }];
        let methods = [WindowMethod::Psi, WindowMethod::JensenShannon, WindowMethod::Ks, WindowMethod::Wasserstein];
        for reference in &references {
            for method in methods {
                let spec = WindowSpec {
                    method,
                    reference: reference.clone(),
                    window_ms: 10_000,
                    slide_ms: 5_000,
                    threshold: if method == WindowMethod::Ks { 0.05 } else { 0.1 },
                    device: DeviceRequest::Cpu,
                };
                let make = || -> Box<dyn Operator> { Box::new(WindowedMonitor::new("m", spec.clone(), Some(0), vec![(2, "x".into())], 1)) };
                assert_restores(&make, &steps);
            }
        }
    }
}
