//! `monitor`: `CREATE MONITOR`, a drift detector per key and column.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime;
use weir_operators::drift::{DriftMonitor, MonitorSpec, ReferenceSpec, WindowedMonitor};
use weir_operators::Operator;

use super::node::{Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};
use crate::EngineError;

/// Watches columns of its input, exchanged by the key; produces alert rows.
#[derive(Debug, Clone)]
pub(crate) struct Monitor {
    /// The monitor's name.
    pub monitor: String,
    /// The detector or windowed statistic.
    pub spec: MonitorSpec,
    /// Index of the key column (`partition_by`).
    pub key: Option<usize>,
    /// Indices and names of the columns watched.
    pub columns: Vec<(usize, String)>,
    /// The event-time column, for the alerts' `event_time`.
    pub time: Option<usize>,
    /// A point detector's rows wait for the watermark and go on in order
    /// of `time` (it comes from tables with a watermark).
    pub ordered: bool,
    /// The output schema (`weir_operators::drift::alerts_schema`).
    pub schema: SchemaRef,
}

impl Monitor {
    /// How the values are compared, for the plan text.
    fn how(&self) -> String {
        let MonitorSpec::Windowed(w) = &self.spec else {
            return match self.ordered {
                true => "in event-time order per key, as the watermark passes each row".to_string(),
                false => "in arrival order per key".to_string(),
            };
        };
        let reference = match &w.reference {
            ReferenceSpec::Rows(n) => format!("first {n} values per key"),
            ReferenceSpec::Range { start_ms, end_ms } => {
                let at = |ms: i64| timestamp_ms_to_datetime(ms).map_or(format!("{ms} ms"), |t| t.to_string());
                format!("values from {} to {}", at(*start_ms), at(*end_ms))
            }
            ReferenceSpec::File(f) => {
                let n: usize = f.values.values().map(Vec::len).sum();
                format!("{n} values of {}{}", f.path, if f.per_key { " per key" } else { "" })
            }
        };
        let every = if w.slide_ms == w.window_ms { String::new() } else { format!(" every {} ms", w.slide_ms) };
        format!("{reference} as reference, then {} ms event-time windows{every}", w.window_ms)
    }

    /// The operator of worker `build`.
    fn operator(&self, build: &Build<'_, '_>) -> Result<Box<dyn Operator>, EngineError> {
        let (monitor, columns) = (self.monitor.clone(), self.columns.clone());
        match (&self.spec, self.time) {
            (MonitorSpec::Point(p), time) => {
                let op = DriftMonitor::new(monitor, p.clone(), self.key, columns, time);
                Ok(Box::new(if self.ordered { op.in_event_time_order() } else { op }))
            }
            (MonitorSpec::Windowed(w), Some(t)) => {
                let op = WindowedMonitor::new(monitor, w.clone(), self.key, columns, t);
                let opened = weir_kernels::histograms::open_histogrammer(w.device)
                    .map_err(|e| EngineError::Runtime(format!("monitor '{}': {e}", self.monitor)))?;
                if build.worker() == 0 {
                    tracing::info!(monitor = %self.monitor, device = %opened.choice, "monitor bins its windows");
                }
                Ok(Box::new(op.with_histogrammer(opened.histogrammer)))
            }
            (MonitorSpec::Windowed(_), None) => {
                Err(EngineError::Runtime(format!("monitor '{}' has no event-time column for its windows", self.monitor)))
            }
        }
    }
}

impl PlanOp for Monitor {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let watched: Vec<&str> = self.columns.iter().map(|(_, c)| c.as_str()).collect();
        format!("monitor {} ({}, {}): columns [{}]", self.monitor, self.spec.method(), self.how(), watched.join(", "))
    }

    fn exchange(&self, inputs: &[Node]) -> Exchange {
        super::model_key(inputs, self.key, "detector set")
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        build.operator(node, inputs, self.operator(build))
    }
}
