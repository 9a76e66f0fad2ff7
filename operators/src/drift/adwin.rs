//! ADWIN, ADaptive WINdowing (Bifet and Gavaldà, 2007): keeps a window of
//! recent values, compressed into an exponential histogram, and drops its
//! older part whenever two sub-windows' means differ by more than a bound
//! that holds with confidence `delta` (River's `drift.ADWIN`).
//!
//! The histogram has rows of buckets; a bucket in row `i` summarises `2^i`
//! values by their total and variance. New values enter row 0; when a row
//! holds `max_buckets + 1` buckets its two oldest merge into one bucket of
//! the next row. Every `clock` values (once the window is longer than
//! `grace_period`) each cut between buckets, oldest first, is tested, and
//! the oldest bucket is dropped for as long as some cut shows a change
//! (the cuts after each bucket, oldest first, up to the newest bucket).
//! The order of the float operations follows River's, so that cuts are
//! decided identically.

use std::collections::VecDeque;

use super::{DriftDetector, State};

const TWO_THIRDS: f64 = 2.0 / 3.0;

/// One row of the histogram: buckets of equal size, oldest first.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Row {
    totals: VecDeque<f64>,
    variances: VecDeque<f64>,
}

/// ADWIN with River's parameters: `delta` 0.002, `clock` 32,
/// `max_buckets` 5, `min_window_length` 5, `grace_period` 10.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Adwin {
    /// Confidence of the change test.
    pub delta: f64,
    /// Values between change tests.
    pub clock: u64,
    /// Buckets per row before two merge.
    pub max_buckets: usize,
    /// Shortest sub-window a cut may leave.
    pub min_window_length: f64,
    /// Values before the first change test.
    pub grace_period: f64,
    rows: Vec<Row>,
    width: f64,
    total: f64,
    variance: f64,
    tick: u64,
    drift: bool,
}

impl Default for Adwin {
    fn default() -> Self {
        Self::new(0.002, 32, 5, 5, 10)
    }
}

impl Adwin {
    /// A detector with the given parameters.
    pub fn new(delta: f64, clock: u64, max_buckets: usize, min_window_length: u64, grace_period: u64) -> Self {
        Self {
            delta,
            clock: clock.max(1),
            max_buckets: max_buckets.max(1),
            min_window_length: min_window_length as f64,
            grace_period: grace_period as f64,
            rows: vec![Row::default()],
            width: 0.0,
            total: 0.0,
            variance: 0.0,
            tick: 0,
            drift: false,
        }
    }

    /// Number of values in the window.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// The window's total variance (sum of squared deviations from its
    /// mean, as River's `variance`).
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// Mean of the window (0 when it is empty).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 { 0.0 } else { self.total / self.width }
    }

    fn bucket_size(row: usize) -> f64 {
        2f64.powi(row as i32)
    }

    fn insert(&mut self, value: f64) {
        self.rows[0].totals.push_back(value);
        self.rows[0].variances.push_back(0.0);
        self.width += 1.0;
        if self.width > 1.0 {
            let w = self.width;
            let d = value - self.total / (w - 1.0);
            self.variance += (w - 1.0) * d * d / w;
        }
        self.total += value;
        self.compress();
    }

    /// Merges the two oldest buckets of every full row into the next row.
    fn compress(&mut self) {
        let mut i = 0;
        while i < self.rows.len() && self.rows[i].totals.len() > self.max_buckets {
            if i + 1 == self.rows.len() {
                self.rows.push(Row::default());
            }
            let n = Self::bucket_size(i);
            let row = &mut self.rows[i];
            let (t1, t2) = (row.totals[0], row.totals[1]);
            let (v1, v2) = (row.variances[0], row.variances[1]);
            row.totals.drain(..2);
            row.variances.drain(..2);
            let (mu1, mu2) = (t1 / n, t2 / n);
            let merged_variance = v1 + v2 + n * n * (mu1 - mu2) * (mu1 - mu2) / (n + n);
            self.rows[i + 1].totals.push_back(t1 + t2);
            self.rows[i + 1].variances.push_back(merged_variance);
            i += 1;
        }
    }

    /// Drops the oldest bucket (of the last row).
    fn delete_oldest(&mut self) {
        let last = self.rows.len() - 1;
        let n = Self::bucket_size(last);
        let row = &mut self.rows[last];
        let (Some(u), Some(v)) = (row.totals.pop_front(), row.variances.pop_front()) else { return };
        let empty = row.totals.is_empty();
        self.width -= n;
        self.total -= u;
        let mu = u / n;
        let mu_window = self.total / self.width;
        self.variance -= v + n * self.width * (mu - mu_window) * (mu - mu_window) / (n + self.width);
        if empty && last > 0 {
            self.rows.pop();
        }
    }

    fn cut_shows_change(&self, n0: f64, n1: f64, delta_mean: f64) -> bool {
        let delta_prime = (2.0 * self.width.ln() / self.delta).ln();
        let m_recip = (1.0 / (n0 - self.min_window_length + 1.0)) + (1.0 / (n1 - self.min_window_length + 1.0));
        let variance_in_window = self.variance / self.width;
        let epsilon = (2.0 * m_recip * variance_in_window * delta_prime).sqrt() + TWO_THIRDS * delta_prime * m_recip;
        delta_mean.abs() > epsilon
    }

    /// Tests the cuts (every `clock` values) and shrinks the window while
    /// one shows a change; says whether any did.
    fn detect(&mut self) -> bool {
        self.tick += 1;
        if !self.tick.is_multiple_of(self.clock) || self.width <= self.grace_period {
            return false;
        }
        let mut changed = false;
        loop {
            let (mut n0, mut n1, mut u0, mut u1) = (0.0, self.width, 0.0, self.total);
            let mut cut = false;
            'rows: for i in (0..self.rows.len()).rev() {
                let size = Self::bucket_size(i);
                // Every bucket, oldest first, up to the newest of row 0.
                let len = self.rows[i].totals.len();
                for k in 0..len {
                    let t = self.rows[i].totals[k];
                    n0 += size;
                    n1 -= size;
                    u0 += t;
                    u1 -= t;
                    if i == 0 && k + 1 == len {
                        break 'rows;
                    }
                    let delta_mean = (u0 / n0) - (u1 / n1);
                    if n1 >= self.min_window_length && n0 >= self.min_window_length && self.cut_shows_change(n0, n1, delta_mean) {
                        cut = true;
                        break 'rows;
                    }
                }
            }
            if !cut {
                return changed;
            }
            changed = true;
            if self.width > 0.0 {
                self.delete_oldest();
            }
        }
    }
}

impl DriftDetector for Adwin {
    super::saved_whole!("adwin");

    fn update(&mut self, x: f64) -> State {
        if self.drift {
            *self = Self::new(self.delta, self.clock, self.max_buckets, self.min_window_length as u64, self.grace_period as u64);
        }
        self.insert(x);
        self.drift = self.detect();
        if self.drift { State::Drift } else { State::Stable }
    }

    fn statistic(&self) -> f64 {
        self.estimation()
    }

    fn threshold(&self) -> f64 {
        self.delta
    }
}
