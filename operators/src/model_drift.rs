//! A model's own concept-drift detector (`'drift.detector'`) and what the
//! model does when it fires (`'on_drift'`).
//!
//! Every row a model learns is first scored (test-then-train); its
//! prequential error — 0 or 1 for a classifier (River's convention for
//! DDM), the absolute error for a regressor — goes to a detector of the
//! row's key. Detections are alert rows (`ML_ALERTS(MODEL m)`), and the
//! key's model adapts:
//!
//! - `none`: it keeps learning as before (the alerts are the only effect);
//! - `reset`: it is replaced by a fresh model;
//! - `background`: when the detector enters its warning zone (DDM has
//!   one), a second model of that key starts learning alongside from the
//!   next row (afresh at each new warning); when drift is confirmed it
//!   replaces the key's model, which is then already trained on the new
//!   regime (the Adaptive Random Forest idea). With a detector that has no warning zone (ADWIN,
//!   Page-Hinkley), `background` resets as `reset` does.
//!
//! An adapting model learns its rows in chunks of 64 (in order), and
//! adaptation takes effect at the end of the chunk in which the detector
//! fires; a background model has learned every row of its key since the
//! warning, that chunk's included. Detector and background state is in
//! checkpoints ([`SavedDrift`]) but not in `'snapshot.path'` files: after
//! a warm start from a file, detectors start afresh.

use weir_kernels::{BankState, CpuBank, KernelError, ModelBank, ModelSpec, Task};

use crate::drift::{Alert, AlertRows, DetectorSpec, DriftDetector, State};

/// What a model does when its detector confirms drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDrift {
    /// Nothing but the alert.
    #[default]
    None,
    /// A fresh model for the key.
    Reset,
    /// The key's background model (started at the warning) swapped in.
    Background,
}

impl OnDrift {
    /// The `'on_drift'` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Reset => "reset",
            Self::Background => "background",
        }
    }
}

/// `'drift.detector'` and `'on_drift'` of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDriftSpec {
    /// The detector run on each key's prequential errors.
    pub detector: DetectorSpec,
    /// What happens at a detection.
    pub on_drift: OnDrift,
}

/// The error of one prediction, as the detector sees it: 1 for a wrong
/// class and 0 for a right one; the absolute error for a regressor.
pub(crate) fn mistake(task: Task, outputs: &[f32], label: f32) -> f64 {
    match task {
        Task::Regression => (f64::from(outputs[0]) - f64::from(label)).abs(),
        Task::Binary => f64::from(u8::from((outputs[0] > 0.5) != (label > 0.5))),
        Task::Multiclass { .. } => f64::from(u8::from(crate::model::argmax(outputs) as f32 != label)),
    }
}

/// One key's detector and adaptation state.
struct KeyDrift {
    detector: Box<dyn DriftDetector + Send>,
    /// Errors fed so far (the next row's index).
    seen: u64,
    /// Inside the warning zone (a `warning` alert was emitted).
    warned: bool,
    /// The key's background model is learning.
    background: bool,
}

/// The detectors, background models and pending alerts of one model on
/// one worker.
pub(crate) struct ModelDrift {
    spec: ModelDriftSpec,
    model_spec: ModelSpec,
    keys: Vec<KeyDrift>,
    /// Background models, one slot per key (on the CPU: a key's background
    /// learns only between a warning and a drift).
    background: Option<CpuBank>,
    fresh: BankState,
    /// Alerts not yet emitted.
    pub(crate) alerts: AlertRows,
    bg_keys: Vec<u32>,
    bg_rows: Vec<f32>,
    bg_labels: Vec<f32>,
    bg_out: Vec<f32>,
}

impl std::fmt::Debug for ModelDrift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelDrift").field("spec", &self.spec).field("keys", &self.keys.len()).finish()
    }
}

/// What the rows of one batch did to the detectors.
#[derive(Default)]
struct Events {
    /// Keys whose background starts (warning onset), in order.
    started: Vec<u32>,
    /// Keys with a confirmed drift, in order.
    drifted: Vec<u32>,
}

/// A model's drift state in a checkpoint: each key's detector (as
/// [`DriftDetector::save`] wrote it), values seen, warning and background
/// flags, and the background models.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedDrift {
    keys: Vec<(Vec<u8>, u64, bool, bool)>,
    background: Option<crate::model::SavedBank>,
}

impl ModelDrift {
    /// Everything the detectors and background models hold (the pending
    /// alerts are always empty between two operator calls).
    pub(crate) fn save(&mut self) -> crate::Result<SavedDrift> {
        let keys = self.keys.iter().map(|k| Ok((k.detector.save()?, k.seen, k.warned, k.background))).collect::<crate::Result<Vec<_>>>()?;
        let background = match &mut self.background {
            Some(b) => Some(b.state().map_err(|source| crate::OperatorError::Snapshot { operator: "train".into(), reason: source.to_string() })?.into()),
            None => None,
        };
        Ok(SavedDrift { keys, background })
    }

    /// Puts back what [`ModelDrift::save`] saved.
    pub(crate) fn load(&mut self, saved: SavedDrift) -> crate::Result<()> {
        let bad = |reason: String| crate::OperatorError::Snapshot { operator: "train".into(), reason };
        self.keys.clear();
        for (bytes, seen, warned, background) in saved.keys {
            let mut detector = self.spec.detector.build();
            detector.load(&bytes)?;
            self.keys.push(KeyDrift { detector, seen, warned, background });
        }
        self.background = match saved.background {
            Some(b) => Some(CpuBank::from_state(self.model_spec, b.into()).map_err(|e| bad(format!("background models: {e}")))?),
            None => None,
        };
        Ok(())
    }

    pub(crate) fn new(spec: ModelDriftSpec, model_spec: ModelSpec) -> Self {
        Self {
            fresh: BankState::new(&model_spec, 1),
            spec,
            model_spec,
            keys: Vec::new(),
            background: None,
            alerts: AlertRows::default(),
            bg_keys: Vec::new(),
            bg_rows: Vec::new(),
            bg_labels: Vec::new(),
            bg_out: Vec::new(),
        }
    }

    /// Whether detections change the model (`on_drift` other than `none`).
    pub(crate) fn adapts(&self) -> bool {
        self.spec.on_drift != OnDrift::None
    }

    /// The detector's method name, for the alert rows.
    pub(crate) fn method(&self) -> &'static str {
        self.spec.detector.method()
    }

    /// Feeds the batch the bank just learned (rows in order: `keys`,
    /// `rows`, `labels` and the test-then-train `outputs`) to the
    /// detectors, records alerts (`names[k]` is key `k` as text, `times[i]`
    /// row `i`'s event time) and adapts the bank.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe(
        &mut self,
        bank: &mut dyn ModelBank,
        keys: &[u32],
        rows: &[f32],
        labels: &[f32],
        outputs: &[f32],
        names: &[Option<String>],
        times: &[Option<i64>],
    ) -> Result<(), KernelError> {
        let (task, f) = (self.model_spec.task, self.model_spec.n_features);
        let o = task.n_outputs();
        let spec = &self.spec.detector;
        while self.keys.len() < bank.n_keys() {
            self.keys.push(KeyDrift { detector: spec.build(), seen: 0, warned: false, background: false });
        }
        let mut events = Events::default();
        self.bg_keys.clear();
        self.bg_rows.clear();
        self.bg_labels.clear();
        for (i, &k) in keys.iter().enumerate() {
            let Some(kd) = self.keys.get_mut(k as usize) else { continue };
            if kd.background {
                self.bg_keys.push(k);
                self.bg_rows.extend_from_slice(&rows[i * f..(i + 1) * f]);
                self.bg_labels.push(labels[i]);
            }
            let index = kd.seen;
            kd.seen += 1;
            let state = kd.detector.update(mistake(task, &outputs[i * o..(i + 1) * o], labels[i]));
            let label = match state {
                State::Drift => {
                    kd.warned = false;
                    events.drifted.push(k);
                    "drift"
                }
                State::Warning if !kd.warned => {
                    kd.warned = true;
                    if self.spec.on_drift == OnDrift::Background {
                        // A new warning starts the background afresh: one
                        // left from an earlier warning learned the old regime.
                        if kd.background {
                            let stale: Vec<bool> = self.bg_keys.iter().map(|&b| b == k).collect();
                            let mut at = 0;
                            self.bg_rows.retain(|_| {
                                at += 1;
                                !stale[(at - 1) / f]
                            });
                            let mut j = 0;
                            self.bg_labels.retain(|_| {
                                j += 1;
                                !stale[j - 1]
                            });
                            self.bg_keys.retain(|&b| b != k);
                        }
                        kd.background = true;
                        if !events.started.contains(&k) {
                            events.started.push(k);
                        }
                    }
                    "warning"
                }
                State::Warning => continue,
                State::Stable => {
                    kd.warned = false;
                    continue;
                }
            };
            self.alerts.push(Alert {
                event_time: times.get(i).copied().flatten(),
                key: names.get(k as usize).cloned().flatten(),
                feature: "error".into(),
                statistic: kd.detector.statistic(),
                threshold: kd.detector.threshold(),
                state: label,
                row_index: index as i64,
                window: None,
            });
        }
        self.adapt(bank, events)
    }

    /// Starts, trains and swaps background models, and resets keys, as the
    /// batch's events ask.
    fn adapt(&mut self, bank: &mut dyn ModelBank, events: Events) -> Result<(), KernelError> {
        if self.spec.on_drift == OnDrift::Background && (!events.started.is_empty() || !self.bg_keys.is_empty()) {
            let background = match &mut self.background {
                Some(b) => b,
                None => self.background.insert(CpuBank::new(self.model_spec, 0)?),
            };
            background.ensure_keys(bank.n_keys())?;
            for &k in &events.started {
                background.replace_key(k, &self.fresh)?;
            }
            if !self.bg_keys.is_empty() {
                self.bg_out.resize(self.bg_keys.len() * self.model_spec.task.n_outputs(), 0.0);
                background.learn(&self.bg_keys, &self.bg_rows, &self.bg_labels, &mut self.bg_out)?;
            }
        }
        for &k in &events.drifted {
            let Some(kd) = self.keys.get_mut(k as usize) else { continue };
            match self.spec.on_drift {
                OnDrift::None => {}
                OnDrift::Background if kd.background => {
                    if let Some(background) = &mut self.background {
                        let model = background.key_state(k)?;
                        bank.replace_key(k, &model)?;
                    }
                }
                OnDrift::Reset | OnDrift::Background => bank.replace_key(k, &self.fresh)?,
            }
            kd.background = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_kernels::Optimizer;

    /// One key, one feature: the label is x > 0 for `flip` rows, then
    /// x < 0 (an abrupt concept drift). Returns the accuracy over the
    /// `window` rows after the flip, and the alerts' states.
    fn run(on_drift: OnDrift, flip: usize, window: usize) -> (f64, Vec<&'static str>) {
        let model_spec = ModelSpec { optimizer: Optimizer::Sgd { lr: 0.05 }, ..ModelSpec::river_defaults(Task::Binary, 1) };
        let mut bank = CpuBank::new(model_spec, 1).expect("bank");
        let spec = ModelDriftSpec { detector: DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 }, on_drift };
        let mut drift = ModelDrift::new(spec, model_spec);
        let mut s = 0x1234_5678_9ABC_DEF1u64;
        let mut correct = 0usize;
        for batch in 0..(flip + window) / 50 {
            let xs: Vec<f32> = (0..50)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
                })
                .collect();
            let labels: Vec<f32> = xs.iter().enumerate().map(|(j, &x)| f32::from(u8::from((x > 0.0) == (batch * 50 + j < flip)))).collect();
            let keys = vec![0u32; 50];
            let mut out = vec![0.0; 50];
            bank.learn(&keys, &xs, &labels, &mut out).expect("learn");
            if batch * 50 >= flip {
                correct += out.iter().zip(&labels).filter(|&(&p, &y)| (p > 0.5) == (y > 0.5)).count();
            }
            drift.observe(&mut bank, &keys, &xs, &labels, &out, &[None], &[]).expect("observe");
        }
        let alerts = drift.alerts.batch("m", Some("m"), "ddm").expect("batch");
        let states = alerts
            .map(|b| {
                use datafusion::arrow::array::AsArray;
                let states = b.column(9).as_string::<i32>();
                (0..b.num_rows()).map(|i| if states.value(i) == "drift" { "drift" } else { "warning" }).collect()
            })
            .unwrap_or_default();
        (correct as f64 / window as f64, states)
    }

    #[test]
    fn adapting_recovers_from_an_abrupt_drift_faster_than_not() {
        let (none, alerts) = run(OnDrift::None, 2000, 1000);
        let (reset, _) = run(OnDrift::Reset, 2000, 1000);
        let (background, bg_alerts) = run(OnDrift::Background, 2000, 1000);
        assert!(alerts.contains(&"drift") && alerts.contains(&"warning"), "{alerts:?}");
        assert!(bg_alerts.contains(&"drift"), "{bg_alerts:?}");
        assert!(reset > none + 0.1, "reset {reset} vs none {none}");
        assert!(background > none + 0.1, "background {background} vs none {none}");
    }
}
