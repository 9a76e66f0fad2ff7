//! How far the pipeline's results have been handed to its sinks, so that
//! sources commit their positions (Kafka offsets) only past rows whose
//! results are safe: at-least-once across a crash, with nothing lost.
//!
//! Two things can still hold a row a source has read:
//! - the dataflow, until the row's results reach the sinks. Each sink
//!   operator periodically waits for its writer to deliver everything
//!   (`Sink::sync`) and then publishes its input frontier: every row the
//!   sources emitted at a time below the minimum of these *synced
//!   frontiers* has passed all the way through;
//! - a stateful operator (an open window, rows waiting for the watermark).
//!   Each keyed operator publishes [`Retention`]: the earliest event time
//!   it still holds. When that rises because the operator emitted results,
//!   the old bound stays in force until the sinks have synced past the
//!   time those results were emitted at, so the row is never "done" while
//!   its window's result is still in flight.
//!
//! A source commits a partition's position once the rows before it were
//! emitted below the synced frontier and are earlier than every bound. A
//! lower bound than necessary only delays commits. The final commit of a
//! run (everything read) happens after every sink has finished.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use weir_connectors::Source;

use crate::lock;

/// Outputs remembered per operator before old ones are merged.
const RELEASES: usize = 64;

/// What every sink and keyed operator of a run has published.
pub(crate) struct Progress {
    /// Synced frontier of each sink operator, by `sink * workers + worker`.
    synced: Vec<AtomicU64>,
    workers: usize,
    retentions: Mutex<Vec<Arc<Retention>>>,
    /// Readers that stopped, with everything they read, for the final commit.
    finished: Mutex<Vec<Finished>>,
}

/// A stopped reader: its table, the reader and the positions it read.
type Finished = (String, Box<dyn Source>, Vec<(usize, i64)>);

impl Progress {
    pub(crate) fn new(sinks: usize, workers: usize) -> Self {
        Self {
            synced: (0..sinks * workers).map(|_| AtomicU64::new(0)).collect(),
            workers,
            retentions: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
        }
    }

    /// Sink `sink` on `worker` has delivered every row it received at times
    /// below `frontier`.
    pub(crate) fn synced(&self, sink: usize, worker: usize, frontier: u64) {
        if let Some(s) = self.synced.get(sink * self.workers + worker) {
            s.fetch_max(frontier, Ordering::SeqCst);
        }
    }

    /// The minimum synced frontier over all sinks.
    pub(crate) fn synced_frontier(&self) -> u64 {
        self.synced.iter().map(|s| s.load(Ordering::SeqCst)).min().unwrap_or(u64::MAX)
    }

    /// Registers a keyed operator's retention.
    pub(crate) fn retention(&self) -> Arc<Retention> {
        let r = Arc::new(Retention::default());
        lock(&self.retentions).push(Arc::clone(&r));
        r
    }

    /// The earliest event time any operator may still hold, given the
    /// sinks' synced frontier `synced`.
    pub(crate) fn retained(&self, synced: u64) -> i64 {
        lock(&self.retentions).iter().map(|r| r.bound(synced)).min().unwrap_or(i64::MAX)
    }

    /// Keeps a stopped reader for the final commit.
    pub(crate) fn finish(&self, table: &str, reader: Box<dyn Source>, positions: Vec<(usize, i64)>) {
        lock(&self.finished).push((table.to_string(), reader, positions));
    }

    /// Commits everything the stopped readers read: every sink has
    /// finished, so all of it has been handed over.
    pub(crate) fn commit_final(&self) -> Vec<(String, weir_connectors::ConnectorError)> {
        let mut errors = Vec::new();
        for (table, reader, positions) in lock(&self.finished).iter_mut() {
            if let Err(e) = reader.commit(positions, true) {
                errors.push((table.clone(), e));
            }
        }
        errors
    }
}


/// The earliest event time one keyed operator holds (see the module docs).
#[derive(Default)]
pub(crate) struct Retention {
    state: Mutex<RetentionState>,
}

#[derive(Default)]
struct RetentionState {
    /// What the operator holds now (`i64::MAX`: nothing). Starts at
    /// `i64::MIN`: an operator that has not run yet may be about to hold
    /// anything.
    current: Option<i64>,
    /// `(time results were emitted at, the bound before they were)`.
    released: VecDeque<(u64, i64)>,
}

impl Retention {
    /// After a call: the operator now holds `now` (its
    /// [`weir_operators::Operator::retained`]) and emitted results at time
    /// `emitted`, if it emitted any.
    pub(crate) fn update(&self, now: Option<i64>, emitted: Option<u64>) {
        let now = now.unwrap_or(i64::MAX);
        let mut s = lock(&self.state);
        let before = s.current.unwrap_or(i64::MIN);
        if now > before
            && let Some(at) = emitted
        {
            match s.released.pop_back() {
                // Full: merge into the newest, keeping the later time and
                // the lower bound (which only delays commits).
                Some((t, b)) if s.released.len() + 1 >= RELEASES => s.released.push_back((at.max(t), before.min(b))),
                Some(last) => {
                    s.released.push_back(last);
                    s.released.push_back((at, before));
                }
                None => s.released.push_back((at, before)),
            }
        }
        s.current = Some(now);
    }

    /// The bound in force once the sinks have synced below `synced`.
    fn bound(&self, synced: u64) -> i64 {
        let mut s = lock(&self.state);
        s.released.retain(|(at, _)| *at >= synced);
        let released = s.released.iter().map(|(_, b)| *b).min().unwrap_or(i64::MAX);
        s.current.unwrap_or(i64::MIN).min(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_rows_stay_held_until_the_sinks_sync_past_their_results() {
        let r = Retention::default();
        assert_eq!(r.bound(0), i64::MIN, "not run yet: anything may be held");
        r.update(Some(100), None);
        assert_eq!(r.bound(0), 100);
        // The window holding 100.. closed; its result went out at time 50.
        r.update(Some(200), Some(50));
        assert_eq!(r.bound(10), 100);
        assert_eq!(r.bound(50), 100);
        assert_eq!(r.bound(51), 200);
        // Rising without output: nothing in flight.
        r.update(None, None);
        assert_eq!(r.bound(51), i64::MAX);
    }

    #[test]
    fn the_synced_frontier_is_the_minimum_over_sinks_and_workers() {
        let p = Progress::new(2, 2);
        assert_eq!(p.synced_frontier(), 0);
        p.synced(0, 0, 10);
        p.synced(0, 1, 20);
        p.synced(1, 0, 30);
        assert_eq!(p.synced_frontier(), 0);
        p.synced(1, 1, 5);
        assert_eq!(p.synced_frontier(), 5);
        p.synced(1, 1, 3);
        assert_eq!(p.synced_frontier(), 5, "frontiers never go back");
    }
}
