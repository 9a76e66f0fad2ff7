//! `CREATE MONITOR ... WITH ('method' = 'psi' | 'jensen_shannon' | 'ks' |
//! 'wasserstein', 'reference.rows' = n, 'window' = '1 minute', ...)`:
//! feature drift of each watched column (per key) between a reference (the
//! first `n` values) and each tumbling event-time window after it.
//!
//! A window is measured when the watermark passes its end. The monitor
//! emits `raised` when a window's statistic crosses the threshold and
//! `cleared` when a later window is back within it — one row per change,
//! not one per window while drift lasts. Values behind the watermark (their
//! window already measured) are left out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use weir_kernels::stats;

use super::alerts_schema;
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

/// The settings of a windowed monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// The statistic.
    pub method: WindowMethod,
    /// Values per key and column in the reference.
    pub reference_rows: usize,
    /// Window length, milliseconds.
    pub window_ms: i64,
    /// Drift threshold (see [`WindowMethod`]).
    pub threshold: f64,
}

/// The reference of one key and column, once full.
struct Reference {
    sorted: Vec<f32>,
    edges: Vec<f32>,
    counts: Vec<u64>,
}

/// One key and column: its reference, open windows and whether drift is raised.
#[derive(Default)]
struct Feature {
    filling: Vec<f32>,
    reference: Option<Reference>,
    /// Open windows by start: their values and the index of the last one.
    windows: BTreeMap<i64, (Vec<f32>, u64)>,
    seen: u64,
    raised: bool,
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
}

impl std::fmt::Debug for WindowedMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedMonitor").field("name", &self.name).field("spec", &self.spec).finish()
    }
}

/// Alert rows under construction.
#[derive(Default)]
struct Rows {
    key: Vec<Option<String>>,
    feature: Vec<String>,
    statistic: Vec<f64>,
    state: Vec<&'static str>,
    row_index: Vec<i64>,
    start: Vec<i64>,
    n_reference: Vec<i64>,
    n_current: Vec<i64>,
}

impl WindowedMonitor {
    /// A monitor named `name` measuring the `columns` (index and name) of
    /// its input per value of column `key`, in windows of column `time`.
    pub fn new(name: impl Into<String>, spec: WindowSpec, key: Option<usize>, columns: Vec<(usize, String)>, time: usize) -> Self {
        Self { name: name.into(), spec, key, columns, time, watermark: i64::MIN, features: HashMap::new() }
    }

    fn arrow(source: datafusion::arrow::error::ArrowError) -> OperatorError {
        OperatorError::Arrow { operator: "monitor".into(), source }
    }

    fn measure(name: &str, spec: &WindowSpec, reference: &Reference, values: &mut [f32]) -> Result<f64> {
        let failed = |source| OperatorError::Monitor { monitor: name.to_string(), source };
        match spec.method {
            WindowMethod::Psi | WindowMethod::JensenShannon => {
                let mut counts = vec![0; reference.counts.len()];
                stats::histogram(values, &reference.edges, &mut counts).map_err(failed)?;
                if spec.method == WindowMethod::Psi {
                    stats::psi(&reference.counts, &counts).map_err(failed)
                } else {
                    stats::jensen_shannon(&reference.counts, &counts).map_err(failed)
                }
            }
            WindowMethod::Ks | WindowMethod::Wasserstein => {
                values.sort_by(f32::total_cmp);
                if spec.method == WindowMethod::Ks {
                    stats::ks(&reference.sorted, values).map(|(_, p)| p).map_err(failed)
                } else {
                    stats::wasserstein_1(&reference.sorted, values).map_err(failed)
                }
            }
        }
    }

    /// Measures every window that ends at or before `watermark`.
    fn close(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        let mut rows = Rows::default();
        let w = self.spec.window_ms;
        let mut keys: Vec<&(Option<String>, usize)> = self.features.keys().collect();
        keys.sort();
        let keys: Vec<(Option<String>, usize)> = keys.into_iter().cloned().collect();
        for id in keys {
            let Some(feature) = self.features.get_mut(&id) else { continue };
            let Some(reference) = &feature.reference else { continue };
            while let Some((&start, _)) = feature.windows.first_key_value() {
                if start.saturating_add(w) > watermark {
                    break;
                }
                let Some((_, (mut values, last))) = feature.windows.pop_first() else { break };
                let statistic = Self::measure(&self.name, &self.spec, reference, &mut values)?;
                let drifted = self.spec.method.drifted(statistic, self.spec.threshold);
                if drifted == feature.raised {
                    continue;
                }
                feature.raised = drifted;
                rows.key.push(id.0.clone());
                rows.feature.push(self.columns[id.1].1.clone());
                rows.statistic.push(statistic);
                rows.state.push(if drifted { "raised" } else { "cleared" });
                rows.row_index.push(last as i64);
                rows.start.push(start);
                rows.n_reference.push(reference.sorted.len() as i64);
                rows.n_current.push(values.len() as i64);
            }
        }
        if rows.state.is_empty() {
            return Ok(());
        }
        let n = rows.state.len();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let ends: Vec<i64> = rows.start.iter().map(|s| s + w).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![now; n])),
            // The event time of a window's alert is its end.
            Arc::new(TimestampMillisecondArray::from(ends.clone())),
            Arc::new(StringArray::from(vec![self.name.as_str(); n])),
            Arc::new(StringArray::new_null(n)),
            Arc::new(rows.key.iter().map(Option::as_deref).collect::<StringArray>()),
            Arc::new(StringArray::from(rows.feature)),
            Arc::new(StringArray::from(vec![self.spec.method.name(); n])),
            Arc::new(Float64Array::from(rows.statistic)),
            Arc::new(Float64Array::from(vec![self.spec.threshold; n])),
            Arc::new(StringArray::from(rows.state)),
            Arc::new(Int64Array::from(rows.row_index)),
            Arc::new(TimestampMillisecondArray::from(rows.start)),
            Arc::new(TimestampMillisecondArray::from(ends)),
            Arc::new(Int64Array::from(rows.n_reference)),
            Arc::new(Int64Array::from(rows.n_current)),
        ];
        out.push(RecordBatch::try_new(alerts_schema(), columns).map_err(Self::arrow)?);
        Ok(())
    }
}

impl Operator for WindowedMonitor {
    fn name(&self) -> &str {
        "monitor"
    }

    fn process(&mut self, batch: RecordBatch, _out: &mut Vec<RecordBatch>) -> Result<()> {
        let (keys, values) = super::monitor::watched(&batch, self.key, &self.columns)?;
        let keys = keys.as_ref().map(|k| k.as_string::<i32>());
        let times = cast(batch.column(self.time), &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(Self::arrow)?;
        let times = times.as_primitive::<TimestampMillisecondType>();
        let (w, n_ref) = (self.spec.window_ms, self.spec.reference_rows);
        for r in 0..batch.num_rows() {
            let key = keys.and_then(|k| k.is_valid(r).then(|| k.value(r).to_string()));
            for (c, column) in values.iter().enumerate() {
                let column = column.as_primitive::<Float64Type>();
                if !column.is_valid(r) || column.value(r).is_nan() {
                    continue;
                }
                let v = column.value(r) as f32;
                let feature = self.features.entry((key.clone(), c)).or_default();
                let index = feature.seen;
                feature.seen += 1;
                if feature.reference.is_none() {
                    feature.filling.push(v);
                    if feature.filling.len() >= n_ref {
                        let mut sorted = std::mem::take(&mut feature.filling);
                        let edges = stats::quantile_edges(&sorted, 10).map_err(|source| OperatorError::Monitor { monitor: self.name.clone(), source })?;
                        let mut counts = vec![0; edges.len() + 1];
                        stats::histogram(&sorted, &edges, &mut counts).map_err(|source| OperatorError::Monitor { monitor: self.name.clone(), source })?;
                        sorted.sort_by(f32::total_cmp);
                        feature.reference = Some(Reference { sorted, edges, counts });
                    }
                    continue;
                }
                if !times.is_valid(r) {
                    continue;
                }
                let start = times.value(r).div_euclid(w) * w;
                if start.saturating_add(w) <= self.watermark {
                    continue; // behind the watermark: its window is measured
                }
                let window = feature.windows.entry(start).or_insert_with(|| (Vec::new(), index));
                window.0.push(v);
                window.1 = index;
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
}
