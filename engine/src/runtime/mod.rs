//! Running a [`Pipeline`] on timely dataflow.
//!
//! Every worker (a thread now; a process of a cluster later) builds the same
//! dataflow: one source operator per table, reading its own split; one chain
//! of batch operators per `INSERT`; one sink operator per `INSERT`. Batches move
//! between operators of a worker by value; a sink that owns one file or
//! terminal gets every worker's batches through a timely exchange to worker 0.
//!
//! Timely timestamps are event-time watermarks in epoch milliseconds: a
//! source downgrades its capability as its watermark advances, so every
//! operator's input frontier *is* the watermark of the data it can still
//! receive. The windows of a later release read it from there. A table
//! without a watermark holds time 0 until its input ends.
//!
//! The pipeline ends when every source has finished (bounded inputs) or the
//! stop flag is raised (Ctrl-C, or an error anywhere): sources then drop
//! their capabilities, frontiers empty, and each sink flushes exactly once.

mod build;
mod clock;
mod failed;
mod flow;
mod instrument;
mod keyed;
mod models;
pub(crate) mod snapshots;
mod progress;
mod shared;
mod sinks;
mod sources;
mod time;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::Stream;
use weir_operators::Batch;

use crate::plan::Pipeline;
use crate::{EngineError, Result};

pub use shared::{CheckpointReport, ModelReport, RunReport};
use shared::Shared;
pub(crate) use build::Build;
pub(crate) use sources::LATE_COLUMN;

/// How to run a pipeline.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads (default: the machine's cores).
    pub workers: usize,
    /// Raised to stop the pipeline gracefully (Ctrl-C): sources stop reading,
    /// everything already read is processed and every sink is flushed.
    pub stop: Arc<AtomicBool>,
    /// The `pipeline` label of its metrics (default `main`).
    pub name: String,
    /// Overrides `'state.checkpoints.dir'` (`weir run --checkpoint-dir`).
    pub checkpoint_dir: Option<String>,
    /// Overrides `'execution.checkpointing.interval'`.
    pub checkpoint_interval: Option<Duration>,
    /// Ignore the checkpoints in the directory and start from scratch.
    pub fresh: bool,
    /// Hears what a person should know as the run starts (that it resumes
    /// from a checkpoint, that one was damaged); `weir run` prints it.
    pub notice: Option<fn(&str)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            stop: Arc::new(AtomicBool::new(false)),
            name: "main".into(),
            checkpoint_dir: None,
            checkpoint_interval: None,
            fresh: false,
            notice: None,
        }
    }
}

impl RunOptions {
    /// Sets the number of workers.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }
}

/// The batches flowing between two operators of a worker.
pub(crate) type BatchStream<'s> = Stream<'s, Time, Vec<Batch>>;
pub(crate) use time::Time;

/// Runs the pipeline until its inputs end or `options.stop` is raised.
///
/// ```
/// let pipeline = weir_engine::plan_pipeline(
///     "CREATE TABLE t WITH ('connector' = 'generator', 'events' = '5000');\n\
///      CREATE TABLE out WITH ('connector' = 'blackhole');\n\
///      INSERT INTO out SELECT * FROM t WHERE speed > 0;",
/// )?;
/// let report = weir_engine::run(pipeline, weir_engine::RunOptions::default().workers(2))?;
/// assert_eq!(report.rows_read["t"], 5000);
/// # Ok::<(), weir_engine::EngineError>(())
/// ```
pub fn run(pipeline: Pipeline, options: RunOptions) -> Result<RunReport> {
    let started = Instant::now();
    let pipeline = Arc::new(pipeline);
    let workers = options.workers.max(1);
    let config = crate::checkpoint::CheckpointConfig::resolve(
        &pipeline.settings.checkpoints,
        options.checkpoint_dir.as_deref(),
        options.checkpoint_interval,
        options.fresh,
    )?;
    let notice = |text: &str| {
        if let Some(n) = options.notice {
            n(text);
        }
    };
    let checkpoints = Arc::new(match config {
        Some(config) => {
            sources::check_resumable(&pipeline)?;
            models::check_resumable(&pipeline)?;
            crate::checkpoint::Checkpoints::open(config, (workers, &options.name), &notice)?
        }
        None => {
            for sink in &pipeline.sinks {
                if let Some(why) = sink.spec.needs_checkpoints() {
                    return Err(EngineError::Checkpoint(format!(
                        "INSERT INTO {} (line {}): {why}: SET '{}' = '/path' or pass --checkpoint-dir",
                        sink.table,
                        sink.line,
                        crate::checkpoint::DIR_KEY
                    )));
                }
            }
            crate::checkpoint::Checkpoints::off()
        }
    });
    let shared = Arc::new(Shared::new(&pipeline, Arc::clone(&options.stop), workers, &options.name, Arc::clone(&checkpoints))?);
    let coordinator = checkpoints.spawn();
    let running = crate::metrics::metrics().pipelines_running.clone();
    running.inc();
    let saving = Arc::new(AtomicBool::new(false));
    let saver = snapshots::periodic(Arc::clone(&pipeline), Arc::clone(&shared), Arc::clone(&saving));
    let (p, s) = (Arc::clone(&pipeline), Arc::clone(&shared));
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let split = weir_connectors::Split { worker: index, workers: peers };
        let models = models::open(&p, index, peers, &s);
        // Timestamps are (epoch, watermark) pairs: the dataflow lives in a
        // nested scope of the epoch (see `time`).
        worker.dataflow::<u64, _, _>(|outer| outer.iterative::<u64, _, _>(|scope| {
            let mut streams: build::Sources<'_> = HashMap::new();
            for source in &p.sources {
                let stream = sources::source(scope, source, split, Arc::clone(&s));
                streams.insert(source.table.as_str(), (stream, source.watermark.is_some()));
            }
            // Event-time scoring first (it trains its model, see
            // `planner::scoring`), then training: `ML_METRICS` reads the
            // output of the query that trains a model, wherever it is.
            let trained: std::cell::RefCell<HashMap<String, BatchStream<'_>>> = std::cell::RefCell::new(HashMap::new());
            let rank = |s: &crate::plan::SinkPlan| match (crate::plan::scores_in_event_time(&s.input), s.trains().is_some()) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            };
            let mut order: Vec<(usize, &crate::plan::SinkPlan)> = p.sinks.iter().enumerate().collect();
            order.sort_by_key(|(i, s)| (rank(s), *i));
            // One writer per sink table, fed by every INSERT into it.
            let mut by_table: Vec<(&str, sinks::Inserts<'_, '_>)> = Vec::new();
            for (i, sink) in order {
                let build = Build {
                    scope,
                    sources: &streams,
                    models: &models,
                    trained: &trained,
                    sink: i,
                    workers: split.workers,
                    shared: &s,
                    keyed: std::cell::Cell::new(0),
                };
                let stream = sink.input.build(&build);
                if let Some(model) = sink.trains() {
                    trained.borrow_mut().insert(model.to_string(), stream.clone());
                }
                match by_table.iter_mut().find(|(t, _)| *t == sink.table) {
                    Some((_, inserts)) => inserts.push((i, stream, sink)),
                    None => by_table.push((sink.table.as_str(), vec![(i, stream, sink)])),
                }
            }
            for (_, inserts) in by_table {
                sinks::sink(inserts, split, Arc::clone(&s));
            }
        }));
        if let Err(e) = s.checkpoints.built() {
            s.fail(e);
        }
        while worker.step_or_park(Some(Duration::from_millis(50))) {}
    })
    .map_err(EngineError::Runtime)?;
    for result in guards.join() {
        if let Err(panic) = result {
            shared.fail(EngineError::Runtime(format!("a worker stopped unexpectedly: {panic}")));
        }
    }
    // A bounded pipeline that ran to its end leaves a last checkpoint, so
    // that starting it again reads nothing twice.
    checkpoints.close(!shared.failed() && !shared.stopping(), coordinator);
    if let Some(e) = checkpoints.publish_failure() {
        shared.fail(e);
    }
    saving.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(saver) = saver {
        let _ = saver.join();
    }
    if let Err(e) = snapshots::save_all(&pipeline, &shared) {
        shared.fail(e);
    }
    if let Err(e) = shared.failed.finish() {
        shared.fail(e);
    }
    // Every sink has finished: commit everything the sources read, unless
    // the run failed (then only what was committed along the way stands).
    if !shared.failed() {
        for (table, source) in shared.progress.commit_final() {
            shared.fail(EngineError::Connector { table, source });
        }
    }
    running.dec();
    shared.metrics.finish();
    let shared = Arc::try_unwrap(shared).map_err(|_| EngineError::Runtime("workers outlived the run".into()))?;
    shared.into_report(started.elapsed())
}
