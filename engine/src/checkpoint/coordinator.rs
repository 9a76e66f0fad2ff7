//! The checkpoint coordinator of one run: it asks the sources to start a
//! new epoch every interval, collects every participant's part of the
//! cut, writes complete checkpoints, removes old ones, and at start-up
//! finds the latest complete checkpoint and hands each participant its
//! part back.
//!
//! Participants are the sources (their positions and watermarks), the
//! keyed operators (their state) and the sinks that keep positions (a
//! file's length), on every worker. Each registers while the dataflow is
//! built, under an id that is the same in every run of the same pipeline
//! with the same number of workers, and a signature of what its state
//! depends on; restoring refuses a participant whose signature changed,
//! one with no state in the checkpoint, and state no participant claims.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::manifest::{self, Entry, Manifest, Part, Who, FORMAT};
use super::store::{Store, MANIFEST, STATE};
use super::CheckpointConfig;
use crate::{lock, EngineError, Result};

/// How often the coordinator looks at the clock and the stop flag.
const TICK: Duration = Duration::from_millis(20);

/// A checkpoint every participant has reported, ready to write.
struct Complete {
    id: u64,
    parts: BTreeMap<String, (Who, Part)>,
}

/// What the parts collected so far are.
#[derive(Default)]
struct Collect {
    participants: BTreeMap<String, Who>,
    /// Parts by checkpoint id, then participant.
    parts: BTreeMap<u64, BTreeMap<String, Part>>,
    /// The state a participant ended its input with: its part of every
    /// later checkpoint.
    finals: BTreeMap<String, Part>,
    /// The checkpoint in flight and when it was asked for.
    in_flight: Option<(u64, Instant)>,
}

/// The checkpoint coordinator (off when the pipeline does not checkpoint).
pub(crate) struct Checkpoints {
    config: Option<CheckpointConfig>,
    store: Option<Arc<Store>>,
    workers: usize,
    /// The `pipeline` label of the metrics.
    pipeline: String,
    /// The epoch sources must be in: checkpoint `n` cuts between epochs
    /// `n - 1` and `n`.
    requested: AtomicU64,
    /// The last checkpoint written.
    completed: AtomicU64,
    /// The epoch this run starts in (the restored checkpoint's, or after
    /// every checkpoint already in the directory).
    start: u64,
    /// The restored checkpoint's id and parts, until claimed.
    restored: Option<u64>,
    unclaimed: Mutex<BTreeMap<String, (Entry, Part)>>,
    built: AtomicUsize,
    ready: AtomicBool,
    collect: Mutex<Collect>,
    sender: Mutex<Option<Sender<Complete>>>,
    receiver: Mutex<Option<Receiver<Complete>>>,
    /// Raised when the run ends: the coordinator writes what is complete
    /// and stops.
    closing: AtomicBool,
    /// What publishes a sink's staged output when a checkpoint completes
    /// (exactly-once Kafka sinks), with the sink's table.
    publishers: Mutex<Vec<(String, weir_connectors::Publisher)>>,
    /// The first publisher's failure: the run fails with it.
    publish_failed: Mutex<Option<String>>,
    pub(crate) stats: Stats,
}

/// What the run's checkpoints did, for metrics and the report.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) written: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) last_bytes: AtomicU64,
}

fn error(what: impl std::fmt::Display) -> EngineError {
    EngineError::Checkpoint(what.to_string())
}

impl Checkpoints {
    /// No checkpoints.
    pub(crate) fn off() -> Self {
        Self::with(None, None, (1, String::new()), 0, None, BTreeMap::new())
    }

    fn with(
        config: Option<CheckpointConfig>,
        store: Option<Arc<Store>>,
        (workers, pipeline): (usize, String),
        start: u64,
        restored: Option<u64>,
        parts: BTreeMap<String, (Entry, Part)>,
    ) -> Self {
        let (sender, receiver) = channel();
        Self {
            config,
            store,
            workers,
            pipeline,
            requested: AtomicU64::new(start),
            completed: AtomicU64::new(start),
            start,
            restored,
            unclaimed: Mutex::new(parts),
            built: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            collect: Mutex::new(Collect::default()),
            sender: Mutex::new(Some(sender)),
            receiver: Mutex::new(Some(receiver)),
            closing: AtomicBool::new(false),
            publishers: Mutex::new(Vec::new()),
            publish_failed: Mutex::new(None),
            stats: Stats::default(),
        }
    }

    /// Opens the checkpoint directory and finds the checkpoint to resume
    /// from (the latest complete one that is not damaged), unless
    /// `config.fresh`. `notice` hears what a person should know.
    pub(crate) fn open(config: CheckpointConfig, (workers, pipeline): (usize, &str), notice: &dyn Fn(&str)) -> Result<Self> {
        let who = (workers, pipeline.to_string());
        let store = Arc::new(Store::open(&config.dir, &config.store)?);
        let ids = store.ids()?;
        let newest = ids.last().copied().unwrap_or(0);
        let restored = if config.fresh {
            None
        } else {
            manifest::newest(&store, &|id, why| {
                notice(&format!("warning: checkpoint {id} in {} is damaged ({why}); trying the one before", config.dir));
                tracing::warn!(checkpoint = id, dir = %config.dir, %why, "damaged checkpoint skipped");
            })?
        };
        let Some(r) = restored else {
            if config.fresh && !ids.is_empty() {
                notice(&format!("starting fresh (--fresh): the checkpoints in {} are not read", config.dir));
            }
            // New checkpoints are numbered after every folder there.
            return Ok(Self::with(Some(config), Some(store), who, newest, None, BTreeMap::new()));
        };
        if r.manifest.workers != workers {
            return Err(error(format!(
                "checkpoint {} in {} was taken with {} worker{}; run with -w {} to resume from it (state is not redistributed to another worker count yet), or pass --fresh",
                r.manifest.id,
                config.dir,
                r.manifest.workers,
                if r.manifest.workers == 1 { "" } else { "s" },
                r.manifest.workers
            )));
        }
        notice(&format!(
            "resuming from checkpoint {} in {} (taken {}, {} bytes of state)",
            r.manifest.id, config.dir, r.manifest.completed_at, r.manifest.bytes
        ));
        crate::metrics::metrics().checkpoint_restores.with_label_values(&[pipeline]).inc();
        let id = r.manifest.id;
        Ok(Self::with(Some(config), Some(store), who, newest.max(id), Some(id), r.parts))
    }

    /// Whether the run checkpoints.
    pub(crate) fn on(&self) -> bool {
        self.config.is_some()
    }

    /// The checkpoint directory, as configured.
    pub(crate) fn dir(&self) -> Option<&str> {
        self.config.as_ref().map(|c| c.dir.as_str())
    }

    /// Adds what publishes `table`'s staged output each time a checkpoint
    /// completes, after the checkpoint is written (two-phase commit, as
    /// Flink's exactly-once sinks do). Publishing runs on the coordinator's
    /// thread, before it asks for the next checkpoint, so no staged output
    /// is in flight at a cut.
    pub(crate) fn on_complete(&self, table: &str, publisher: weir_connectors::Publisher) {
        lock(&self.publishers).push((table.to_string(), publisher));
    }

    /// The error a publisher failed with, if one did.
    pub(crate) fn publish_failure(&self) -> Option<EngineError> {
        lock(&self.publish_failed).as_ref().map(error)
    }

    fn publish(&self, id: u64) {
        let publishers: Vec<(String, weir_connectors::Publisher)> = lock(&self.publishers).clone();
        for (table, publish) in publishers {
            if let Err(source) = publish(id) {
                tracing::warn!(checkpoint = id, %table, error = %source, "publishing a checkpoint's output failed");
                lock(&self.publish_failed).get_or_insert(format!("publishing the output of {table} after checkpoint {id}: {source}"));
            }
        }
    }

    /// The epoch the run starts in.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The epoch sources must be in now.
    pub(crate) fn requested(&self) -> u64 {
        self.requested.load(Ordering::Acquire)
    }

    /// The last checkpoint written (`start` before the first).
    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    /// What the run's checkpoints did, for its report.
    pub(crate) fn run_report(&self) -> Option<crate::runtime::CheckpointReport> {
        self.on().then(|| {
            let written = self.stats.written.load(Ordering::Relaxed);
            let completed = self.completed();
            crate::runtime::CheckpointReport {
                restored: self.restored,
                written,
                failed: self.stats.failed.load(Ordering::Relaxed),
                last: (written > 0).then_some(completed).or(self.restored),
                last_bytes: self.stats.last_bytes.load(Ordering::Relaxed),
            }
        })
    }

    /// Registers a participant and gives it its restored part, if the run
    /// resumed. A participant whose state cannot be restored fails here.
    pub(crate) fn register(&self, who: Who) -> Result<Option<Part>> {
        if !self.on() {
            return Ok(None);
        }
        let restored = self.restored.map(|id| (id, lock(&self.unclaimed).remove(&who.id)));
        lock(&self.collect).participants.insert(who.id.clone(), who.clone());
        match restored {
            None => Ok(None),
            Some((id, None)) => Err(error(format!(
                "{} has no state in checkpoint {id}: the pipeline changed since (start it with --fresh, or undo the change)",
                who.what
            ))),
            Some((id, Some((entry, _)))) if entry.signature != who.signature => Err(error(format!(
                "{}: its state in checkpoint {id} was written for `{}`, but the pipeline now has `{}` (start it with --fresh, or undo the change)",
                who.what, entry.signature, who.signature
            ))),
            Some((_, Some((_, part)))) => Ok(Some(part)),
        }
    }

    /// [`Self::register`] for a participant whose part is its metadata
    /// only (a source's or sink's position): that metadata, decoded.
    pub(crate) fn register_meta<T: serde::de::DeserializeOwned>(&self, who: &Who) -> Result<Option<T>> {
        Ok(self.register_parts(who)?.map(|(meta, _)| meta))
    }

    /// [`Self::register_meta`] for a participant whose part also has
    /// bytes (an exactly-once sink's staged output): both.
    pub(crate) fn register_parts<T: serde::de::DeserializeOwned>(&self, who: &Who) -> Result<Option<(T, Vec<u8>)>> {
        match self.register(who.clone())? {
            None => Ok(None),
            Some(part) => serde_json::from_value(part.meta)
                .map(|meta| Some((meta, part.bytes)))
                .map_err(|e| error(format!("{}: its state does not read: {e}", who.what))),
        }
    }

    /// One worker has built its dataflow; once all have, state nobody
    /// claimed is an error (the pipeline lost an operator), and sources
    /// may start.
    pub(crate) fn built(&self) -> Result<()> {
        if self.built.fetch_add(1, Ordering::AcqRel) + 1 < self.workers {
            return Ok(());
        }
        let unclaimed = lock(&self.unclaimed);
        if let (Some(id), Some((entry, _))) = (self.restored, unclaimed.values().next()) {
            return Err(error(format!(
                "checkpoint {id} holds the state of {}, which the pipeline no longer has (start it with --fresh, or undo the change)",
                entry.what
            )));
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether every worker has built its dataflow and restored.
    pub(crate) fn ready(&self) -> bool {
        !self.on() || self.ready.load(Ordering::Acquire)
    }

    /// A participant's part of checkpoint `id`.
    pub(crate) fn report(&self, id: u64, participant: &str, part: Part) {
        let mut c = lock(&self.collect);
        c.parts.entry(id).or_default().insert(participant.to_string(), part);
        self.complete(&mut c);
    }

    /// A participant's input ended: `part` is its state in every later
    /// checkpoint.
    pub(crate) fn finished(&self, participant: &str, part: Part) {
        let mut c = lock(&self.collect);
        c.finals.insert(participant.to_string(), part);
        self.complete(&mut c);
    }

    /// Sends the checkpoint in flight to be written if every participant
    /// has its part.
    fn complete(&self, c: &mut Collect) {
        let Some((id, _)) = c.in_flight else { return };
        let parts = c.parts.get(&id);
        let whole = c.participants.keys().all(|p| parts.is_some_and(|ps| ps.contains_key(p)) || c.finals.contains_key(p));
        if !whole {
            return;
        }
        let mut parts = c.parts.remove(&id).unwrap_or_default();
        c.parts.retain(|k, _| *k > id);
        let mut out = BTreeMap::new();
        for (p, who) in &c.participants {
            let part = parts.remove(p).or_else(|| c.finals.get(p).cloned());
            if let Some(part) = part {
                out.insert(p.clone(), (who.clone(), part));
            }
        }
        if let Some(sender) = lock(&self.sender).as_ref() {
            let _ = sender.send(Complete { id, parts: out });
        }
    }

    /// Starts the coordinator's thread: it asks for a checkpoint every
    /// interval and writes the ones that complete, until [`Self::close`].
    pub(crate) fn spawn(self: &Arc<Self>) -> Option<std::thread::JoinHandle<()>> {
        let config = self.config.clone()?;
        let receiver = lock(&self.receiver).take()?;
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("weir-checkpoints".into())
            .spawn(move || me.coordinate(&config, &receiver))
            .ok()
    }

    fn coordinate(&self, config: &CheckpointConfig, receiver: &Receiver<Complete>) {
        let mut asked = Instant::now();
        let since = crate::metrics::metrics().checkpoint_since_last.with_label_values(&[self.pipeline.as_str()]);
        let mut last = Instant::now();
        loop {
            since.set(last.elapsed().as_secs_f64());
            match receiver.recv_timeout(TICK) {
                Ok(complete) => {
                    let started = lock(&self.collect).in_flight.map(|(_, at)| at).unwrap_or_else(Instant::now);
                    if self.write(complete, started, config) {
                        last = Instant::now();
                    }
                    lock(&self.collect).in_flight = None;
                    asked = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) if self.closing.load(Ordering::Acquire) => return,
                Err(RecvTimeoutError::Timeout) => {
                    if self.ready() && asked.elapsed() >= config.interval {
                        let mut c = lock(&self.collect);
                        if c.in_flight.is_none() {
                            let id = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
                            c.in_flight = Some((id, Instant::now()));
                            asked = Instant::now();
                            // Participants that have ended may complete it at once.
                            self.complete(&mut c);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Writes a complete checkpoint (state, then the manifest), then
    /// removes the ones it makes unnecessary.
    fn write(&self, complete: Complete, started: Instant, config: &CheckpointConfig) -> bool {
        let Some(store) = self.store.as_ref() else { return false };
        let id = complete.id;
        let (state, entries) = manifest::assemble(&complete.parts);
        let bytes = state.len() as u64;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let manifest = Manifest {
            format: FORMAT.to_string(),
            id,
            completed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms,
            workers: self.workers,
            weir: env!("CARGO_PKG_VERSION").to_string(),
            bytes,
            parts: entries,
        };
        let written = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| error(format!("encoding the manifest: {e}")))
            .and_then(|text| store.put(id, STATE, state, false).and_then(|_| store.put(id, MANIFEST, text, true)));
        let m = crate::metrics::metrics();
        let p = [self.pipeline.as_str()];
        if let Err(e) = written {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            m.checkpoint_failures.with_label_values(&p).inc();
            tracing::warn!(checkpoint = id, error = %e, "checkpoint not written; the previous one stands");
            return false;
        }
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        self.stats.written.fetch_add(1, Ordering::Relaxed);
        self.stats.last_bytes.store(bytes, Ordering::Relaxed);
        m.checkpoints.with_label_values(&p).inc();
        m.checkpoint_last_id.with_label_values(&p).set(i64::try_from(id).unwrap_or(i64::MAX));
        m.checkpoint_last_time.with_label_values(&p).set(now_ms as f64 / 1000.0);
        m.checkpoint_bytes.with_label_values(&p).set(bytes as f64);
        m.checkpoint_duration.with_label_values(&p).observe(duration_ms as f64 / 1000.0);
        self.completed.store(id, Ordering::Release);
        tracing::debug!(checkpoint = id, bytes, duration_ms, "checkpoint written");
        self.publish(id);
        if let Err(e) = self.retain(store, id, config.retained) {
            tracing::warn!(error = %e, "old checkpoints not removed");
        }
        true
    }

    /// Keeps the newest `retained` complete checkpoints up to `newest` and
    /// removes the rest, and every incomplete one before `newest`.
    fn retain(&self, store: &Store, newest: u64, retained: usize) -> Result<()> {
        let ids = store.ids()?;
        let mut kept = 0;
        for &id in ids.iter().rev().filter(|id| **id <= newest) {
            let complete = store.get(id, MANIFEST)?.is_some();
            if complete && kept < retained.max(1) {
                kept += 1;
            } else {
                store.remove(id)?;
            }
        }
        Ok(())
    }

    /// Writes a last checkpoint when every participant ended its input
    /// (a bounded pipeline finished): resuming from it reads nothing
    /// again. Then stops the coordinator.
    pub(crate) fn close(&self, finished: bool, thread: Option<std::thread::JoinHandle<()>>) {
        self.closing.store(true, Ordering::Release);
        if let Some(t) = thread {
            let _ = t.join();
        }
        let Some(config) = self.config.as_ref() else { return };
        if !finished {
            return;
        }
        let c = lock(&self.collect);
        if !c.participants.keys().all(|p| c.finals.contains_key(p)) {
            return;
        }
        let id = self.requested().max(self.completed()) + 1;
        let parts = c.participants.iter().filter_map(|(p, who)| c.finals.get(p).map(|part| (p.clone(), (who.clone(), part.clone())))).collect();
        drop(c);
        if !self.write(Complete { id, parts }, Instant::now(), config) && !lock(&self.publishers).is_empty() {
            // The last output of an exactly-once sink stays unpublished: a
            // rerun publishes it from the checkpoint before.
            lock(&self.publish_failed).get_or_insert(format!(
                "the last checkpoint was not written, so the output since checkpoint {} is not published yet; run the pipeline again to publish it",
                self.completed()
            ));
        }
        lock(&self.publishers).clear();
    }
}
