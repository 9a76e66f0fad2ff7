//! The source and sink interfaces the engine drives.
//!
//! A table's connector is configured once, at planning time, into a
//! [`SourceSpec`] or [`SinkSpec`] (which is where option errors surface, before
//! anything runs). At run time each timely worker opens its own [`Source`] for
//! its [`Split`] of the input, and the engine polls it; sinks are opened on
//! every worker, or only on worker 0 when they are not [`SinkSpec::parallel`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::{ConnectorError, Result};

/// Which part of a source one worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// This worker's index, `0..workers`.
    pub worker: usize,
    /// How many workers share the source.
    pub workers: usize,
}

impl Split {
    /// The whole source, for a single worker.
    pub const WHOLE: Split = Split { worker: 0, workers: 1 };
}

/// Raised when the pipeline has failed and is being torn down: a connector
/// that waits (for a broker's acknowledgements, for room in a full queue)
/// stops waiting and returns an error. A graceful stop does not raise it,
/// so the final flush still runs, bounded by the connector's own deadline.
///
/// ```
/// let cancel = weir_connectors::Cancel::default();
/// assert!(!cancel.aborted());
/// cancel.abort();
/// assert!(cancel.aborted());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Whether waiting should stop.
    pub fn aborted(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tells every connector holding this to stop waiting.
    pub fn abort(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a source did on one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// It produced output or has more ready now: poll again soon.
    Active,
    /// Nothing is ready; poll again after about this long.
    Idle(Duration),
    /// The input has ended (a bounded source) and will produce nothing more.
    Finished,
}

/// A running source: one worker's reader of one split.
///
/// # Error handling
/// Malformed records are not errors: the source skips them and records them in
/// its [`BadRecords`], unless the table said `'on_error' = 'fail'`, in which
/// case `poll` returns [`ConnectorError::MalformedRecord`].
pub trait Source: Send {
    /// Appends ready batches to `out`, each of the spec's schema.
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus>;

    /// Like [`Source::poll`], saying which of the split's partitions each
    /// batch came from and how far that partition has been read, so that
    /// the engine can keep a watermark per partition and commit positions.
    /// Sources with one partition and nothing to commit keep the default.
    fn poll_partitioned(&mut self, out: &mut Vec<Polled>) -> Result<SourceStatus> {
        let mut batches = Vec::new();
        let status = self.poll(&mut batches)?;
        out.extend(batches.into_iter().map(|batch| Polled { partition: 0, batch, position: None, row_positions: Vec::new() }));
        Ok(status)
    }

    /// How many partitions this split reads (each has its own watermark).
    fn partitions(&self) -> usize {
        1
    }

    /// Messages behind the end of each partition (Kafka's consumer lag), as
    /// far as the source knows; empty when it does not.
    fn lag(&self) -> Vec<(usize, i64)> {
        Vec::new()
    }

    /// A name for partition `partition` in metrics (Kafka: `topic/3`), or
    /// `None` for a split that is not partitioned (the worker names it).
    fn partition_label(&self, _partition: usize) -> Option<String> {
        None
    }

    /// Whether partition `partition` has ended (a bounded read reached its
    /// end): it no longer holds the watermark back.
    fn partition_finished(&self, _partition: usize) -> bool {
        false
    }

    /// Records that everything before `position` in each listed partition
    /// has been fully handed to the sinks (a Kafka source commits these
    /// offsets to its consumer group). `last` is true for the final commit
    /// of a run, which should wait for the broker's answer.
    fn commit(&mut self, _positions: &[(usize, i64)], _last: bool) -> Result<()> {
        Ok(())
    }

    /// Where the reader stands: everything it has handed out is before
    /// this position, and [`Source::resume`] on a fresh reader of the same
    /// split continues from here. `None` for a connector that cannot
    /// resume (the engine then refuses to checkpoint a pipeline reading it).
    /// Called between polls, when a checkpoint cuts the stream.
    fn position(&self) -> Option<Position> {
        None
    }

    /// Continues from a [`Source::position`] taken by a reader of the same
    /// split in an earlier run (restoring a checkpoint), before the first
    /// poll.
    fn resume(&mut self, position: &Position) -> Result<()> {
        Err(ConnectorError::Resume(format!("this connector cannot resume from a checkpoint (asked for {})", position.text)))
    }
}

/// A reader's or writer's place in its stream, as a checkpoint keeps it:
/// numbers only the connector reads (a byte offset, an event index, an
/// offset per partition), and the same in words for `weir checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The connector's own numbers.
    pub values: Vec<i64>,
    /// What they mean, for people (`byte 1024 of 4096`).
    pub text: String,
}

impl Position {
    /// A position of `values`, described as `text`.
    ///
    /// ```
    /// let p = weir_connectors::Position::new(vec![1024], "byte 1024");
    /// assert_eq!(p.value(0), Some(1024));
    /// assert_eq!(p.value(1), None);
    /// ```
    pub fn new(values: Vec<i64>, text: impl Into<String>) -> Self {
        Self { values, text: text.into() }
    }

    /// Value `i`, if the position has one.
    pub fn value(&self, i: usize) -> Option<i64> {
        self.values.get(i).copied()
    }
}

/// One batch of a partitioned poll.
#[derive(Debug, Clone)]
pub struct Polled {
    /// The partition, `0..Source::partitions()`.
    pub partition: usize,
    /// The rows (possibly none, when the messages read were all malformed).
    pub batch: RecordBatch,
    /// The partition's position after these rows (Kafka: the next offset),
    /// when the source can commit.
    pub position: Option<i64>,
    /// The position after each row, when the source knows it (empty
    /// otherwise): commits can then stop inside a batch, before the first
    /// row an operator still holds.
    pub row_positions: Vec<i64>,
}

/// A configured source connector.
pub trait SourceSpec: Send + Sync + std::fmt::Debug {
    /// The schema of the batches its sources produce.
    fn schema(&self) -> SchemaRef;
    /// A one-line description for plans (`file path=traffic.json format=json`).
    fn describe(&self) -> String;
    /// Opens the reader for one split. A reader that waits gives up when
    /// `cancel` is raised.
    fn open(&self, split: Split, bad: Arc<BadRecords>, cancel: &Cancel) -> Result<Box<dyn Source>>;
    /// Whether its readers end by themselves (a file read once, a
    /// generator with `events`, a Kafka topic read to `scan.bounded.mode`):
    /// such a table without a watermark can be joined as a whole.
    fn bounded(&self) -> bool {
        false
    }
    /// Whether its readers give positions and resume from them
    /// ([`Source::position`]), which checkpoints need.
    fn resumable(&self) -> bool {
        false
    }
}

/// A running sink.
pub trait Sink: Send {
    /// Writes one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Makes what was written so far visible downstream; called when the
    /// pipeline's watermark advances (windows were emitted). Buffering
    /// sinks flush here; the default does nothing.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// Flushes everything written; called once when the input has ended.
    fn finish(&mut self) -> Result<()>;

    /// Waits until everything written so far is durable or delivered (a
    /// Kafka sink waits for the broker's acknowledgements). Sources commit
    /// their positions only past rows that every sink has synced, so this
    /// is what makes a restart lose nothing. Defaults to [`Sink::flush`].
    fn sync(&mut self) -> Result<()> {
        self.flush()
    }

    /// Makes everything written durable and says where the output stands
    /// (a file's length), for a checkpoint: restoring it
    /// ([`SinkSpec::open_from`]) drops whatever was written after. `None`
    /// for a sink that gives at-least-once only (stdout, blackhole).
    fn position(&mut self) -> Result<Option<Position>> {
        self.sync()?;
        Ok(None)
    }

    /// For a sink that publishes only what a complete checkpoint holds
    /// (an exactly-once Kafka sink): seals what was written since the last
    /// cut as the output of checkpoint `checkpoint`, and encodes every
    /// sealed message not yet published, for the checkpoint. Called right
    /// after [`Sink::position`]; others hold nothing back (empty).
    fn seal(&mut self, checkpoint: u64) -> Result<Vec<u8>> {
        let _ = checkpoint;
        Ok(Vec::new())
    }

    /// What publishes a sealed checkpoint's output once that checkpoint is
    /// complete (called off the worker's thread); `None` for sinks that
    /// write as they go.
    fn publisher(&self) -> Option<Publisher> {
        None
    }
}

/// Publishes a sink's output of every checkpoint up to the one given, now
/// complete (see [`Sink::seal`]).
pub type Publisher = std::sync::Arc<dyn Fn(u64) -> Result<()> + Send + Sync>;

/// What a sink continues from: its part of a checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Resume<'a> {
    /// Where its output stood ([`Sink::position`]).
    pub position: &'a Position,
    /// What it had sealed and not yet published ([`Sink::seal`]).
    pub staged: &'a [u8],
}

/// A configured sink connector.
pub trait SinkSpec: Send + Sync + std::fmt::Debug {
    /// A one-line description for plans.
    fn describe(&self) -> String;
    /// Whether every worker writes on its own (true), or all rows are
    /// gathered to worker 0, which writes them (false: one file, one stdout).
    fn parallel(&self) -> bool;
    /// Opens the writer on one worker. A writer that waits (for
    /// deliveries, for room in a queue) gives up when `cancel` is raised.
    fn open(&self, split: Split, cancel: &Cancel) -> Result<Box<dyn Sink>>;

    /// Whether its writers keep positions ([`Sink::position`]) and open
    /// from them ([`SinkSpec::open_from`]): exactly once with checkpoints.
    fn resumable(&self) -> bool {
        false
    }

    /// Why this sink cannot run in a pipeline without checkpoints, if it
    /// cannot (an exactly-once Kafka sink publishes what checkpoints
    /// complete).
    fn needs_checkpoints(&self) -> Option<String> {
        None
    }

    /// Opens the writer of a run that checkpoints, to continue from its
    /// part of a checkpoint of an earlier run (`resume`), dropping what
    /// was written after it. `writer` names this writer, the same in
    /// every run of the pipeline and unique to it (an exactly-once Kafka
    /// sink tags its messages with it). Sinks without positions open as
    /// usual.
    fn open_from(&self, split: Split, cancel: &Cancel, writer: &str, resume: Option<Resume<'_>>) -> Result<Box<dyn Sink>> {
        let _ = writer;
        match resume {
            None => self.open(split, cancel),
            Some(r) => Err(ConnectorError::Resume(format!("this sink cannot continue from a checkpoint (asked for {})", r.position.text))),
        }
    }
}

/// What to do with a record that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Count it, keep an example, and go on (the default).
    #[default]
    Skip,
    /// Stop the pipeline, naming the record's position.
    Fail,
}

/// How many examples of malformed records are kept for the summary.
pub const KEPT_EXAMPLES: usize = 5;

/// Malformed records of one source, shared by all its workers.
///
/// ```
/// use weir_connectors::BadRecords;
/// let bad = BadRecords::new("traffic");
/// bad.record("traffic.json:3".into(), "expected a number".into());
/// assert_eq!(bad.count(), 1);
/// assert!(bad.summary().unwrap().contains("traffic.json:3"));
/// ```
#[derive(Debug)]
pub struct BadRecords {
    table: String,
    inner: Mutex<BadInner>,
    dead_lettered: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct BadInner {
    count: u64,
    examples: Vec<(String, String)>,
}

impl BadRecords {
    /// An empty record for the table `table`.
    pub fn new(table: &str) -> Self {
        Self { table: table.to_string(), inner: Mutex::new(BadInner::default()), dead_lettered: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Counts one malformed record at `position`.
    pub fn record(&self, position: String, reason: String) {
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.count += 1;
        if inner.examples.len() < KEPT_EXAMPLES {
            inner.examples.push((position, reason));
        }
    }

    /// Counts one malformed record sent to a dead-letter destination.
    pub fn dead_letter(&self) {
        self.dead_lettered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many malformed records went to a dead-letter destination.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many malformed records were skipped.
    pub fn count(&self) -> u64 {
        match self.inner.lock() {
            Ok(inner) => inner.count,
            Err(poisoned) => poisoned.into_inner().count,
        }
    }

    /// A human summary with the first few examples, or `None` if all was well.
    pub fn summary(&self) -> Option<String> {
        let inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        if inner.count == 0 {
            return None;
        }
        let mut text = format!(
            "table '{}': skipped {} malformed record{}",
            self.table,
            inner.count,
            if inner.count == 1 { "" } else { "s" }
        );
        for (position, reason) in &inner.examples {
            text.push_str(&format!("\n  {position}: {reason}"));
        }
        if inner.count > inner.examples.len() as u64 {
            text.push_str(&format!("\n  ... and {} more", inner.count - inner.examples.len() as u64));
        }
        Some(text)
    }

    /// Records a malformed record, or fails, as `policy` says.
    pub fn handle(&self, policy: OnError, position: String, reason: String) -> Result<()> {
        match policy {
            OnError::Skip => {
                self.record(position, reason);
                Ok(())
            }
            OnError::Fail => Err(ConnectorError::MalformedRecord { position, reason }),
        }
    }
}
