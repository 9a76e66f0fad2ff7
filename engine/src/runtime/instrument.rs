//! Per-operator Prometheus metrics (rows and batches in and out, time per
//! batch, rows held as state), and drift alerts read off the alert streams
//! as they pass.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use prometheus::{Histogram, IntCounter, IntGauge};

use super::shared::Shared;
use crate::metrics::metrics;

/// The labelled metrics of one operator on one worker.
pub(super) struct OpMetrics {
    records_in: IntCounter,
    records_out: IntCounter,
    batches_in: IntCounter,
    batches_out: IntCounter,
    seconds: Histogram,
    /// The operator emits drift alerts (a monitor, or a model's detector).
    alerts: Option<String>,
    /// `sink/name`, and the rows it held at the last count.
    operator: String,
    state: IntGauge,
    held: u64,
}

/// The rows each stateful operator holds, summed over workers, and the
/// most it held at once: the state a run needed (`RunReport::state_peaks`).
#[derive(Debug, Default)]
pub(crate) struct StateRows(Mutex<BTreeMap<String, (u64, u64)>>);

impl StateRows {
    fn change(&self, operator: &str, from: u64, to: u64) {
        let mut all = match self.0.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (now, peak) = all.entry(operator.to_string()).or_default();
        *now = (*now + to).saturating_sub(from);
        *peak = (*peak).max(*now);
    }

    /// Each operator's peak.
    pub(crate) fn peaks(&self) -> BTreeMap<String, u64> {
        let all = match self.0.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        all.iter().map(|(k, (_, peak))| (k.clone(), *peak)).collect()
    }
}

impl OpMetrics {
    /// Metrics for operator `name` of the INSERT into sink `sink`, labelled
    /// `sink/name`.
    pub(super) fn new(shared: &Shared, sink: usize, name: &str, worker: usize) -> Self {
        let m = metrics();
        let pipeline = shared.metrics.pipeline.as_str();
        let operator = format!("{}/{name}", shared.sink_name(sink));
        let worker = worker.to_string();
        let labels = [pipeline, operator.as_str(), worker.as_str()];
        Self {
            records_in: m.operator_records_in.with_label_values(&labels),
            records_out: m.operator_records_out.with_label_values(&labels),
            batches_in: m.operator_batches_in.with_label_values(&labels),
            batches_out: m.operator_batches_out.with_label_values(&labels),
            seconds: m.operator_seconds.with_label_values(&[pipeline, operator.as_str()]),
            alerts: matches!(name, "monitor" | "train").then(|| pipeline.to_string()),
            state: m.operator_state_rows.with_label_values(&labels),
            operator,
            held: 0,
        }
    }

    /// The rows the operator holds now (`Operator::held_rows`).
    pub(super) fn held(&mut self, rows: Option<u64>, shared: &Shared) {
        let Some(rows) = rows else { return };
        if rows != self.held {
            shared.state_rows.change(&self.operator, self.held, rows);
            self.held = rows;
            self.state.set(i64::try_from(rows).unwrap_or(i64::MAX));
        } else if rows == 0 {
            // Present in the report even when it never held a row.
            shared.state_rows.change(&self.operator, 0, 0);
        }
    }

    /// One batch in, processed since `started`.
    pub(super) fn batch_in(&self, rows: usize, started: Instant) {
        self.records_in.inc_by(rows as u64);
        self.batches_in.inc();
        self.seconds.observe(started.elapsed().as_secs_f64());
    }

    /// Batches out; drift alerts among them are counted.
    pub(super) fn out(&self, out: &[RecordBatch]) {
        for b in out {
            self.records_out.inc_by(b.num_rows() as u64);
            self.batches_out.inc();
        }
        if let Some(pipeline) = &self.alerts {
            record_alerts(pipeline, out);
        }
    }
}

/// Counts each alert row by monitor and state, and keeps each feature's
/// latest statistic.
fn record_alerts(pipeline: &str, out: &[RecordBatch]) {
    let m = metrics();
    for b in out {
        let schema = b.schema();
        let column = |name: &str| schema.index_of(name).ok().map(|i| b.column(i));
        let (Some(monitor), Some(feature), Some(state), Some(statistic)) =
            (column("monitor"), column("feature"), column("state"), column("statistic"))
        else {
            continue;
        };
        if monitor.data_type() != &DataType::Utf8 || statistic.data_type() != &DataType::Float64 {
            continue;
        }
        let (monitor, feature, state) = (monitor.as_string::<i32>(), feature.as_string::<i32>(), state.as_string::<i32>());
        let statistic = statistic.as_primitive::<Float64Type>();
        let threshold = column("threshold").filter(|t| t.data_type() == &DataType::Float64).map(|t| t.as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            m.monitor_alerts.with_label_values(&[pipeline, monitor.value(i), state.value(i)]).inc();
            let labels = [pipeline, monitor.value(i), feature.value(i)];
            if statistic.is_valid(i) {
                m.monitor_statistic.with_label_values(&labels).set(statistic.value(i));
            }
            if let Some(t) = threshold.filter(|t| t.is_valid(i)) {
                m.monitor_threshold.with_label_values(&labels).set(t.value(i));
            }
        }
    }
}
