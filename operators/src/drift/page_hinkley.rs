//! Page-Hinkley: a CUSUM test on the deviations of each value from the
//! running mean, with a forgetting factor (River's `drift.PageHinkley`).

use super::{DriftDetector, RunningMean, State};

/// Which changes of the mean Page-Hinkley reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Increases only.
    Up,
    /// Decreases only.
    Down,
    /// Both (River's default).
    Both,
}

/// Page-Hinkley with River's parameters: `min_instances` 30, `delta` 0.005,
/// `threshold` 50, `alpha` 1 − 0.0001, `mode` both.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PageHinkley {
    /// Values needed before a detection.
    pub min_instances: u64,
    /// Tolerated deviation.
    pub delta: f64,
    /// Detection threshold (lambda).
    pub threshold: f64,
    /// Forgetting factor of the cumulative sums.
    pub alpha: f64,
    /// Which direction counts.
    pub mode: Mode,
    mean: RunningMean,
    sum_increase: f64,
    sum_decrease: f64,
    min_increase: f64,
    max_decrease: f64,
    drift: bool,
}

impl Default for PageHinkley {
    fn default() -> Self {
        Self::new(30, 0.005, 50.0, 1.0 - 0.0001, Mode::Both)
    }
}

impl PageHinkley {
    /// A detector with the given parameters.
    pub fn new(min_instances: u64, delta: f64, threshold: f64, alpha: f64, mode: Mode) -> Self {
        Self {
            min_instances,
            delta,
            threshold,
            alpha,
            mode,
            mean: RunningMean::default(),
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: f64::INFINITY,
            max_decrease: -1.0,
            drift: false,
        }
    }

    fn reset(&mut self) {
        *self = Self::new(self.min_instances, self.delta, self.threshold, self.alpha, self.mode);
    }
}

impl DriftDetector for PageHinkley {
    super::saved_whole!("pagehinkley");

    fn update(&mut self, x: f64) -> State {
        if self.drift {
            self.reset();
        }
        self.mean.update(x);
        let deviation = x - self.mean.mean;
        self.sum_increase = self.alpha * self.sum_increase + deviation - self.delta;
        self.sum_decrease = self.alpha * self.sum_decrease + deviation + self.delta;
        self.min_increase = self.min_increase.min(self.sum_increase);
        self.max_decrease = self.max_decrease.max(self.sum_decrease);
        if self.mean.n >= self.min_instances as f64 {
            let up = self.sum_increase - self.min_increase > self.threshold;
            let down = self.max_decrease - self.sum_decrease > self.threshold;
            self.drift = match self.mode {
                Mode::Up => up,
                Mode::Down => down,
                Mode::Both => up || down,
            };
        }
        if self.drift { State::Drift } else { State::Stable }
    }

    fn statistic(&self) -> f64 {
        let up = self.sum_increase - self.min_increase;
        let down = self.max_decrease - self.sum_decrease;
        match self.mode {
            Mode::Up => up,
            Mode::Down => down,
            Mode::Both => up.max(down),
        }
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }
}
