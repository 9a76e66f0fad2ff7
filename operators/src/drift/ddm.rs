//! DDM, the Drift Detection Method (Gama et al., 2004), on a stream of
//! 0/1 errors: it tracks the error rate `p` and its deviation
//! `s = sqrt(p(1 − p)/n)`, remembers where `p + s` was lowest, and warns or
//! fires when `p + s` rises a multiple of that `s` above it (River's
//! `drift.binary.DDM`).

use super::{DriftDetector, RunningMean, State};

/// DDM with River's parameters: `warm_start` 30, `warning_threshold` 2,
/// `drift_threshold` 3.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ddm {
    /// Values seen before a detection is possible.
    pub warm_start: u64,
    /// Multiple of the deviation above the minimum that warns.
    pub warning_threshold: f64,
    /// Multiple that signals drift.
    pub drift_threshold: f64,
    p: RunningMean,
    p_min: f64,
    s_min: f64,
    ps_min: f64,
    state: State,
}

impl Default for Ddm {
    fn default() -> Self {
        Self::new(30, 2.0, 3.0)
    }
}

impl Ddm {
    /// A detector with the given parameters.
    pub fn new(warm_start: u64, warning_threshold: f64, drift_threshold: f64) -> Self {
        Self {
            warm_start,
            warning_threshold,
            drift_threshold,
            p: RunningMean::default(),
            p_min: f64::NAN,
            s_min: f64::NAN,
            ps_min: f64::INFINITY,
            state: State::Stable,
        }
    }
}

impl DriftDetector for Ddm {
    super::saved_whole!("ddm");

    fn update(&mut self, x: f64) -> State {
        if self.state == State::Drift {
            *self = Self::new(self.warm_start, self.warning_threshold, self.drift_threshold);
        }
        self.p.update(x);
        let (p, n) = (self.p.mean, self.p.n);
        let s = (p * (1.0 - p) / n).sqrt();
        if n > self.warm_start as f64 {
            if p + s <= self.ps_min {
                self.p_min = p;
                self.s_min = s;
                self.ps_min = self.p_min + self.s_min;
            }
            self.state = if p + s > self.p_min + self.drift_threshold * self.s_min {
                State::Drift
            } else if p + s > self.p_min + self.warning_threshold * self.s_min {
                State::Warning
            } else {
                State::Stable
            };
        }
        self.state
    }

    fn statistic(&self) -> f64 {
        let (p, n) = (self.p.mean, self.p.n);
        if n > 0.0 { p + (p * (1.0 - p) / n).sqrt() } else { 0.0 }
    }

    fn threshold(&self) -> f64 {
        self.p_min + self.drift_threshold * self.s_min
    }
}
