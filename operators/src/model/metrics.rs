//! Prequential (test-then-train) metrics of a model: over every row, over
//! the last minute, and per key over all and recent rows (`ML_METRICS`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use weir_kernels::Task;



/// Prequential (test-then-train) metrics: every training row is scored
/// before it is learned, so these estimate accuracy on unseen data.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prequential {
    /// Rows learned.
    pub rows: u64,
    /// Rows left out because a key, label or feature was NULL.
    pub skipped: u64,
    /// Rows predicted correctly (classification).
    pub correct: u64,
    /// Sum of log losses (classification, probabilities clipped to 1e-15).
    pub log_loss_sum: f64,
    /// Sum of absolute errors (regression; for classification, of the
    /// probability given to the true class against 1).
    pub abs_error_sum: f64,
    /// Sum of squared errors.
    pub sq_error_sum: f64,
}

impl Prequential {
    /// Adds one row: the model's outputs before learning it (one value,
    /// or one probability per class) and its label.
    pub(super) fn add(&mut self, task: Task, outputs: &[f32], label: f32) {
        let y = f64::from(label);
        self.rows += 1;
        // The error: of the score (regression) or of the probability given
        // to the true class against 1 (classification).
        let (error, p_true, correct) = match task {
            Task::Regression => (f64::from(outputs[0]) - y, 1.0, false),
            Task::Binary => {
                let p = f64::from(outputs[0]);
                let p_true = if y > 0.5 { p } else { 1.0 - p };
                (1.0 - p_true, p_true, (p > 0.5) == (y > 0.5))
            }
            Task::Multiclass { .. } => {
                let p_true = outputs.get(label as usize).map_or(0.0, |&p| f64::from(p));
                (1.0 - p_true, p_true, argmax(outputs) as f64 == y)
            }
        };
        if task.is_classification() {
            self.correct += u64::from(correct);
            self.log_loss_sum -= p_true.clamp(1e-15, 1.0).ln();
        }
        self.abs_error_sum += error.abs();
        self.sq_error_sum += error * error;
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: &Prequential) {
        self.rows += other.rows;
        self.skipped += other.skipped;
        self.correct += other.correct;
        self.log_loss_sum += other.log_loss_sum;
        self.abs_error_sum += other.abs_error_sum;
        self.sq_error_sum += other.sq_error_sum;
    }

    pub(super) fn mean(&self, sum: f64) -> Option<f64> {
        (self.rows > 0).then(|| sum / self.rows as f64)
    }

    /// Fraction of rows predicted correctly.
    pub fn accuracy(&self) -> Option<f64> {
        self.mean(self.correct as f64)
    }

    /// Mean log loss.
    pub fn log_loss(&self) -> Option<f64> {
        self.mean(self.log_loss_sum)
    }

    /// Mean absolute error.
    pub fn mae(&self) -> Option<f64> {
        self.mean(self.abs_error_sum)
    }

    /// Root mean squared error.
    pub fn rmse(&self) -> Option<f64> {
        self.mean(self.sq_error_sum).map(f64::sqrt)
    }
}

/// Prequential metrics of the rows learned in the last 60 seconds of wall
/// clock time, in one-second buckets (what `weir_model_accuracy` and the
/// other gauges report; in a run younger than a minute, every row so far).
///
/// ```
/// use weir_operators::model::LastMinute;
/// let mut recent = LastMinute::default();
/// recent.add_at(100, weir_operators::Prequential { rows: 10, correct: 9, ..Default::default() });
/// recent.add_at(130, weir_operators::Prequential { rows: 10, correct: 5, ..Default::default() });
/// assert_eq!(recent.sum_at(150).accuracy(), Some(0.7));
/// assert_eq!(recent.sum_at(165).accuracy(), Some(0.5)); // second 100 is over a minute old
/// ```
#[derive(Debug, Clone, Default)]
pub struct LastMinute {
    /// `(second, metrics)`, oldest first, at most one per second.
    buckets: std::collections::VecDeque<(u64, Prequential)>,
}

impl LastMinute {
    /// The window's length in seconds.
    pub const SECONDS: u64 = 60;

    /// Adds rows learned now.
    pub fn add(&mut self, learned: Prequential) {
        self.add_at(now_second(), learned);
    }

    /// Adds rows learned at `second` (seconds since the epoch).
    pub fn add_at(&mut self, second: u64, learned: Prequential) {
        match self.buckets.back_mut() {
            Some((s, m)) if *s == second => m.merge(&learned),
            _ => self.buckets.push_back((second, learned)),
        }
        while self.buckets.front().is_some_and(|(s, _)| *s + Self::SECONDS <= second) {
            self.buckets.pop_front();
        }
    }

    /// The rows learned in the minute up to now.
    pub fn sum(&self) -> Prequential {
        self.sum_at(now_second())
    }

    /// The rows learned in the minute up to `second`.
    pub fn sum_at(&self, second: u64) -> Prequential {
        let mut total = Prequential::default();
        for (_, m) in self.buckets.iter().filter(|(s, _)| *s + Self::SECONDS > second) {
            total.merge(m);
        }
        total
    }
}

pub(super) fn now_second() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The class with the highest probability (the first of ties).
pub(crate) fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (c, &q) in p.iter().enumerate() {
        if q > p[best] {
            best = c;
        }
    }
    best
}

/// Rows over which the `recent_*` metrics are averaged (exponentially
/// weighted: a row's weight halves about every 700 rows).
pub const RECENT_ROWS: f64 = 1000.0;

/// Exponentially weighted means of the recent rows' errors.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Recent {
    pub(super) accuracy: Option<f64>,
    pub(super) log_loss: Option<f64>,
    pub(super) abs_error: Option<f64>,
    pub(super) sq_error: Option<f64>,
}

impl Recent {
    pub(super) fn add(&mut self, rows: u64, correct: f64, log_loss: f64, abs_error: f64, sq_error: f64) {
        // Plain means until the window fills, then exponential decay.
        let alpha = 1.0 / (rows as f64).min(RECENT_ROWS);
        let ew = |slot: &mut Option<f64>, x: f64| *slot = Some(slot.map_or(x, |m| m + alpha * (x - m)));
        ew(&mut self.accuracy, correct);
        ew(&mut self.log_loss, log_loss);
        ew(&mut self.abs_error, abs_error);
        ew(&mut self.sq_error, sq_error);
    }
}

/// One key's prequential metrics: over all rows and over recent ones.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct KeyMetrics {
    pub(super) total: Prequential,
    pub(super) recent: Recent,
    /// Marks the key as already listed in the current batch's output.
    pub(super) batch_mark: u64,
}

impl KeyMetrics {
    pub(super) fn add(&mut self, task: Task, outputs: &[f32], label: f32) {
        let before = self.total.clone();
        self.total.add(task, outputs, label);
        let d = |a: f64, b: f64| a - b;
        self.recent.add(
            self.total.rows,
            d(self.total.correct as f64, before.correct as f64),
            d(self.total.log_loss_sum, before.log_loss_sum),
            d(self.total.abs_error_sum, before.abs_error_sum),
            d(self.total.sq_error_sum, before.sq_error_sum),
        );
    }
}

/// The columns of `ML_METRICS(MODEL m)`: after each training batch, one row
/// per key it trained, with prequential metrics over all of that key's rows
/// and over its recent ones ([`RECENT_ROWS`], exponentially weighted).
/// Accuracy and log loss are NULL for regression.
pub fn metrics_schema() -> SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    static SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
        let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
        Arc::new(Schema::new(vec![
            f("model", DataType::Utf8, false),
            f("key", DataType::Utf8, true),
            f("rows", DataType::Int64, false),
            f("accuracy", DataType::Float64, true),
            f("log_loss", DataType::Float64, true),
            f("mae", DataType::Float64, true),
            f("rmse", DataType::Float64, true),
            f("recent_accuracy", DataType::Float64, true),
            f("recent_log_loss", DataType::Float64, true),
            f("recent_mae", DataType::Float64, true),
            f("recent_rmse", DataType::Float64, true),
        ]))
    });
    Arc::clone(&SCHEMA)
}
