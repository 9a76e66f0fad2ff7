//! Concept-drift detectors over a stream of numbers (a model's prequential
//! error, or any numeric column): ADWIN, Page-Hinkley, DDM and KSWIN.
//!
//! Each follows River's definition, parameter names and defaults, so that
//! a detector fed the same sequence fires at the same 0-based indices as
//! River's does when `drift_detected` is checked after each `update`; the
//! tests replay fixture sequences recorded from River 0.26.1
//! (`scripts/drift_fixtures.py`) and require exactly River's indices.
//!
//! ```
//! use weir_operators::drift::{DriftDetector, PageHinkley, State};
//! let mut ph = PageHinkley::default();
//! let fired: Vec<usize> = (0..2000)
//!     .filter(|&i| ph.update(if i < 1000 { 0.0 } else { 5.0 }) == State::Drift)
//!     .collect();
//! assert_eq!(fired.first(), Some(&1010)); // where River's PageHinkley fires too
//! ```

mod adwin;
mod alerts;
mod ddm;
mod kswin;
mod monitor;
mod page_hinkley;
mod windowed;

pub use adwin::Adwin;
pub use alerts::{Alert, AlertRows, AlertWindow, alerts_schema};
pub use ddm::Ddm;
pub use kswin::Kswin;
pub use monitor::{DetectorSpec, DriftMonitor};
pub use page_hinkley::{Mode, PageHinkley};
pub use windowed::{MonitorSpec, ReferenceSpec, ReferenceValues, WindowMethod, WindowSpec, WindowedMonitor};

/// What a detector says after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Nothing unusual.
    Stable,
    /// Close to drift (only detectors with a warning zone say this).
    Warning,
    /// Drift: the detector starts afresh with the next value, as River's do.
    Drift,
}

/// A drift detector fed one value at a time.
pub trait DriftDetector {
    /// Adds one value and says whether the detector now sees drift.
    fn update(&mut self, x: f64) -> State;
    /// The detector's test statistic after the latest update: ADWIN's
    /// window mean, Page-Hinkley's cumulative deviation, DDM's `p + s`.
    fn statistic(&self) -> f64;
    /// What the statistic is compared with: ADWIN's `delta` (its test is a
    /// bound at that confidence), Page-Hinkley's `threshold`, DDM's
    /// `p_min + drift_threshold · s_min`.
    fn threshold(&self) -> f64;
    /// The detector's whole state, for a checkpoint.
    fn save(&self) -> crate::Result<Vec<u8>>;
    /// Takes back the state [`DriftDetector::save`] gave, exactly: the
    /// detector then fires where the saved one would have.
    fn load(&mut self, bytes: &[u8]) -> crate::Result<()>;
}

/// [`DriftDetector::save`] and [`DriftDetector::load`] for a detector
/// whose fields are its whole state.
macro_rules! saved_whole {
    ($name:literal) => {
        fn save(&self) -> crate::Result<Vec<u8>> {
            crate::codec::encode($name, self)
        }

        fn load(&mut self, bytes: &[u8]) -> crate::Result<()> {
            *self = crate::codec::decode($name, bytes)?;
            Ok(())
        }
    };
}
pub(crate) use saved_whole;

/// River's `stats.Mean` update, kept to its exact arithmetic (`mean +=
/// (1/n)(x - mean)`) so that thresholds are crossed at the same values.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunningMean {
    pub(crate) n: f64,
    pub(crate) mean: f64,
}

impl RunningMean {
    pub(crate) fn update(&mut self, x: f64) {
        self.n += 1.0;
        self.mean += (1.0 / self.n) * (x - self.mean);
    }
}
