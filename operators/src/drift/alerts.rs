//! The alert stream's rows: one schema ([`alerts_schema`]) and one builder
//! ([`AlertRows`]) for every producer of alerts — point-detector monitors,
//! windowed feature-drift monitors and a model's own detector
//! (`ML_ALERTS`) — so that every alert stream has the same columns.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{OperatorError, Result};

/// The columns of every alert stream (a monitor, and `ML_ALERTS`):
/// `alert_time` (wall clock when the alert was made), `event_time` (of the
/// row that set it off, when the input has an event-time column; a
/// window's end), `monitor`, `model` (NULL for a monitor on a column),
/// `key` (as text; NULL without `partition_by`), `feature` (the column),
/// `method`, `statistic` and `threshold` (see
/// [`DriftDetector::statistic`](super::DriftDetector::statistic)), `state`
/// (`drift`, `warning`, `raised`, `cleared`), `row_index` (0-based
/// position of the value within its key's sequence: River's index), and
/// `window_start`, `window_end`, `n_reference`, `n_current` (for windowed
/// feature-drift monitors; NULL for point detectors).
pub fn alerts_schema() -> SchemaRef {
    static SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
        let ts = || DataType::Timestamp(TimeUnit::Millisecond, None);
        Arc::new(Schema::new(vec![
            Field::new("alert_time", ts(), false),
            Field::new("event_time", ts(), true),
            Field::new("monitor", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, true),
            Field::new("key", DataType::Utf8, true),
            Field::new("feature", DataType::Utf8, false),
            Field::new("method", DataType::Utf8, false),
            Field::new("statistic", DataType::Float64, true),
            Field::new("threshold", DataType::Float64, true),
            Field::new("state", DataType::Utf8, false),
            Field::new("row_index", DataType::Int64, false),
            Field::new("window_start", ts(), true),
            Field::new("window_end", ts(), true),
            Field::new("n_reference", DataType::Int64, true),
            Field::new("n_current", DataType::Int64, true),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// The window an alert measured: start and end (ms), values in the
/// reference and in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertWindow {
    /// Window start, ms.
    pub start: i64,
    /// Window end (exclusive), ms.
    pub end: i64,
    /// Values in the reference.
    pub n_reference: i64,
    /// Values in the window.
    pub n_current: i64,
}

/// One alert, before it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time of the row that set it off (a window's end).
    pub event_time: Option<i64>,
    /// The key as text.
    pub key: Option<String>,
    /// The watched column (`error` for a model's detector).
    pub feature: String,
    /// The detector's or window's statistic.
    pub statistic: f64,
    /// What it was compared with.
    pub threshold: f64,
    /// `drift`, `warning`, `raised` or `cleared`.
    pub state: &'static str,
    /// 0-based position within the key's sequence.
    pub row_index: i64,
    /// The window measured, for windowed monitors.
    pub window: Option<AlertWindow>,
}

/// Alert rows of one producer, collected then turned into one batch.
///
/// ```
/// use weir_operators::drift::{Alert, AlertRows};
/// let mut rows = AlertRows::default();
/// rows.push(Alert { event_time: Some(5), key: None, feature: "speed".into(), statistic: 1.0,
///                   threshold: 0.5, state: "drift", row_index: 41, window: None });
/// let batch = rows.batch("speed_drift", None, "adwin").unwrap().unwrap();
/// assert_eq!(batch.num_rows(), 1);
/// assert!(AlertRows::default().batch("m", None, "adwin").unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct AlertRows {
    alerts: Vec<Alert>,
}

impl AlertRows {
    /// Adds an alert.
    pub fn push(&mut self, alert: Alert) {
        self.alerts.push(alert);
    }

    /// Whether no alert was added.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// The alerts as one [`alerts_schema`] batch from `monitor` (and
    /// `model`, for a model's detector) running `method`; `None` when there
    /// are none. Empties the builder.
    pub fn batch(&mut self, monitor: &str, model: Option<&str>, method: &str) -> Result<Option<RecordBatch>> {
        if self.alerts.is_empty() {
            return Ok(None);
        }
        let alerts = std::mem::take(&mut self.alerts);
        let n = alerts.len();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let window = |f: fn(&AlertWindow) -> i64| alerts.iter().map(|a| a.window.as_ref().map(f)).collect::<Vec<_>>();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![now; n])),
            Arc::new(alerts.iter().map(|a| a.event_time).collect::<TimestampMillisecondArray>()),
            Arc::new(StringArray::from(vec![monitor; n])),
            Arc::new(StringArray::from(vec![model; n])),
            Arc::new(alerts.iter().map(|a| a.key.as_deref()).collect::<StringArray>()),
            Arc::new(alerts.iter().map(|a| Some(a.feature.as_str())).collect::<StringArray>()),
            Arc::new(StringArray::from(vec![method; n])),
            Arc::new(alerts.iter().map(|a| Some(a.statistic)).collect::<Float64Array>()),
            Arc::new(alerts.iter().map(|a| Some(a.threshold)).collect::<Float64Array>()),
            Arc::new(alerts.iter().map(|a| Some(a.state)).collect::<StringArray>()),
            Arc::new(alerts.iter().map(|a| Some(a.row_index)).collect::<Int64Array>()),
            Arc::new(TimestampMillisecondArray::from(window(|w| w.start))),
            Arc::new(TimestampMillisecondArray::from(window(|w| w.end))),
            Arc::new(Int64Array::from(window(|w| w.n_reference))),
            Arc::new(Int64Array::from(window(|w| w.n_current))),
        ];
        RecordBatch::try_new(alerts_schema(), columns)
            .map(Some)
            .map_err(|source| OperatorError::Arrow { operator: "alerts".into(), source })
    }
}
