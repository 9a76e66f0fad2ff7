//! When each reader's watermark reached each value, so that a window's
//! emission latency can be measured from the moment the watermark passed
//! its end, the way Nexmark-style benchmarks and the Grafana latency panel
//! want it.
//!
//! Every reader (a table's split on one worker) appends `(watermark,
//! instant)` whenever its watermark advances, and `u64::MAX` when it ends.
//! The watermark of an operator passed `t` when the last of its readers
//! passed `t`. Histories are trimmed to their newest entries, which is
//! all that windows still open can ask about.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept per reader.
const HISTORY: usize = 4096;

/// When each watermark was reached, per reader (table and worker).
type History = HashMap<(String, usize), Vec<(u64, Instant)>>;

#[derive(Default)]
pub(crate) struct WatermarkClock {
    readers: Mutex<History>,
    /// Emission latencies of windows, in microseconds.
    latencies: Mutex<Vec<u64>>,
}

impl WatermarkClock {
    /// Records that `table`'s reader on `worker` reached `watermark` now.
    pub(crate) fn advance(&self, table: &str, worker: usize, watermark: u64) {
        let now = Instant::now();
        let mut readers = match self.readers.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let history = readers.entry((table.to_string(), worker)).or_default();
        if history.last().is_some_and(|(w, _)| *w >= watermark) {
            return;
        }
        if history.len() >= HISTORY {
            history.drain(..HISTORY / 2);
        }
        history.push((watermark, now));
    }

    /// When every reader of `tables` had reached `watermark`, if they all
    /// have.
    pub(crate) fn reached(&self, tables: &[String], watermark: u64) -> Option<Instant> {
        let readers = match self.readers.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut latest: Option<Instant> = None;
        for ((table, _), history) in readers.iter() {
            if !tables.contains(table) {
                continue;
            }
            let at = history.iter().find(|(w, _)| *w >= watermark).map(|(_, t)| *t)?;
            latest = Some(latest.map_or(at, |l| l.max(at)));
        }
        latest
    }

    /// Records a window emitted `latency` after the watermark passed its end.
    pub(crate) fn record(&self, latency: Duration) {
        let mut latencies = match self.latencies.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        latencies.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Every latency recorded, sorted.
    pub(crate) fn latencies(&self) -> Vec<Duration> {
        let mut all: Vec<u64> = match self.latencies.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        all.sort_unstable();
        all.into_iter().map(Duration::from_micros).collect()
    }
}
