//! Consistent checkpoints: exactly-once state across crashes.
//!
//! # The protocol: epochs in the timestamp
//!
//! Timely timestamps are pairs `(epoch, watermark)` in the product order
//! (`timely::order::Product`). The watermark half is what it always was,
//! event time; the epoch half cuts the stream into checkpoints, as
//! Bytewax's epochs do. Every interval the coordinator asks the sources to
//! start epoch `n` (`Checkpoints::requested`); each source, between two
//! polls, records its position and watermarks as its part of checkpoint
//! `n` and downgrades its capability from `(n - 1, w)` to `(n, w)`, without
//! waiting for anyone and without its watermark moving. Every row a source
//! emitted before that is in epoch `n - 1`, every row after in `n`.
//!
//! A keyed operator (and a sink) keeps processing epoch `n - 1` rows as
//! they come and holds back rows of epoch `n` (they are already in the
//! channel: no source waits); when timely's progress tracking says its
//! input frontier has no epoch `n - 1` left, it has seen every row before
//! the cut and none after, so it encodes its state (`Operator::snapshot`)
//! as its part of checkpoint `n`, then moves its output capability to
//! epoch `n` and processes what it held back. Outputs of epoch `n - 1`
//! reach the sink before its frontier leaves that epoch, so a sink's
//! position (a file's synced length) taken then covers exactly the
//! results of the state before the cut. The watermark an operator acts on
//! is the least watermark of its frontier and of the rows it holds back,
//! so holding rows back never fires a window early.
//!
//! When every participant has its part, the coordinator writes the state
//! and then the manifest (see `store`); that checkpoint is complete.
//! Restoring it gives each source its position and watermarks, each
//! operator its state and each sink its length, and everything after the
//! cut is read and computed again: the same output as a run that never
//! stopped.
//!
//! Why epochs in the timestamp rather than barriers in the data (Flink,
//! Arroyo): timely already tracks, for every operator, which timestamps
//! may still arrive, across every exchange and (later) every process, so
//! "no row of the old epoch can still come" is a frontier, not a count of
//! barrier messages per channel; and sources never pause, so a slow
//! partition delays the checkpoint, not the data. The cost is that rows of
//! the new epoch wait in keyed operators while the old one drains, which
//! is short: sources cross at once.

mod coordinator;
mod manifest;
mod store;

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) use coordinator::Checkpoints;
pub(crate) use manifest::{Part, Who};
pub(crate) use store::check_s3_option;
pub use store::{S3_KEYS, S3_RETRY};

/// `SET` keys of checkpointing, as Flink names them.
pub const INTERVAL_KEY: &str = "execution.checkpointing.interval";
/// Where checkpoints are kept.
pub const DIR_KEY: &str = "state.checkpoints.dir";
/// How many complete checkpoints are kept.
pub const RETAINED_KEY: &str = "state.checkpoints.num-retained";

/// The interval when only a directory is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// A pipeline's checkpoint settings from its `SET` statements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointSettings {
    /// `'execution.checkpointing.interval'`.
    pub interval: Option<Duration>,
    /// `'state.checkpoints.dir'`.
    pub dir: Option<String>,
    /// `'state.checkpoints.num-retained'` (Flink's default: 1).
    pub retained: Option<usize>,
    /// `'s3.*'`: how an `s3://` directory is reached ([`S3_KEYS`]).
    pub store: BTreeMap<String, String>,
}

/// How a run checkpoints: the settings with `weir run`'s flags applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointConfig {
    /// A local path, a `file://` URL or `s3://bucket/prefix`.
    pub dir: String,
    /// The `'s3.*'` options of an `s3://` directory.
    pub store: BTreeMap<String, String>,
    /// How often a checkpoint is taken.
    pub interval: Duration,
    /// Complete checkpoints kept.
    pub retained: usize,
    /// Start from scratch even if the directory holds checkpoints.
    pub fresh: bool,
}

impl CheckpointConfig {
    /// The settings, overridden by flags (`--checkpoint-dir`,
    /// `--checkpoint-interval`); `None` when the run does not checkpoint
    /// (no directory). An interval without a directory is an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_engine::checkpoint::{CheckpointConfig, CheckpointSettings};
    /// let set = CheckpointSettings { interval: Some(Duration::from_secs(1)), dir: Some("/tmp/c".into()), ..Default::default() };
    /// let c = CheckpointConfig::resolve(&set, None, None, false).unwrap().unwrap();
    /// assert_eq!((c.dir.as_str(), c.interval, c.retained), ("/tmp/c", Duration::from_secs(1), 1));
    /// assert!(CheckpointConfig::resolve(&CheckpointSettings::default(), None, None, false).unwrap().is_none());
    /// ```
    pub fn resolve(settings: &CheckpointSettings, dir: Option<&str>, interval: Option<Duration>, fresh: bool) -> crate::Result<Option<Self>> {
        let interval = interval.or(settings.interval);
        let Some(dir) = dir.map(str::to_string).or_else(|| settings.dir.clone()) else {
            if interval.is_some() {
                return Err(crate::EngineError::Checkpoint(format!(
                    "'{INTERVAL_KEY}' is set but there is nowhere to keep checkpoints: SET '{DIR_KEY}' = '/path' or pass --checkpoint-dir"
                )));
            }
            return Ok(None);
        };
        Ok(Some(Self { dir, store: settings.store.clone(), interval: interval.unwrap_or(DEFAULT_INTERVAL), retained: settings.retained.unwrap_or(1).max(1), fresh }))
    }
}

/// A model as the newest complete checkpoint in `dir` holds it: every
/// worker's keys from its `train` operator's state, in the snapshot
/// document `weir model export` writes; with that checkpoint's id. `None`
/// when there is no checkpoint or none of it trains `model` (a model
/// only scored, or one trained by a pipeline never checkpointed).
pub(crate) fn model(
    (dir, options): (&str, &BTreeMap<String, String>),
    model: &crate::plan::ModelPlan,
) -> crate::Result<Option<(u64, weir_operators::ModelSnapshot)>> {
    let store = store::Store::open(dir, options)?;
    let Some(restored) = manifest::newest(&store, &|id, why| tracing::warn!(checkpoint = id, %why, "damaged checkpoint skipped"))? else {
        return Ok(None);
    };
    // A training operator's plan line starts with `train <model> (`, an
    // event-time scorer's (which trains) with `ml_predict <model> (in event time`.
    let prefixes = [format!("train {} (", model.name), format!("ml_predict {} (in event time", model.name)];
    let mut keys = Vec::new();
    let mut rows = 0;
    let mut found = false;
    for (entry, part) in restored.parts.values().filter(|(e, _)| e.id.starts_with("operator ") && prefixes.iter().any(|p| e.signature.starts_with(p.as_str()))) {
        found = true;
        let snapshot = weir_operators::StateSnapshot { version: part.version, bytes: part.bytes.clone() };
        let (k, r) = weir_operators::Train::checkpointed_keys(&snapshot, &model.spec)
            .map_err(|e| crate::EngineError::Checkpoint(format!("checkpoint {} in {dir}: {}: {e}", restored.manifest.id, entry.what)))?;
        keys.extend(k);
        rows += r;
    }
    Ok(found.then(|| (restored.manifest.id, weir_operators::ModelSnapshot { keys, rows_learned: rows, ..crate::runtime::snapshots::header(model) })))
}

/// `weir checkpoints DIR`: every checkpoint in the directory, newest
/// last, with when it completed, its size, and each source's position;
/// incomplete and damaged ones say so. An `s3://` directory is reached
/// with the `AWS_*` environment variables (`AWS_ENDPOINT`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ALLOW_HTTP`).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let text = weir_engine::checkpoint::list(dir.path().to_str().unwrap())?;
/// assert!(text.contains("no checkpoints"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list(dir: &str) -> crate::Result<String> {
    let store = store::Store::open(dir, &BTreeMap::new())?;
    let ids = store.ids()?;
    if ids.is_empty() {
        return Ok(format!("no checkpoints in {dir}\n"));
    }
    let mut text = String::new();
    for id in ids {
        match manifest::read(&store, id)? {
            Ok(r) => {
                let m = &r.manifest;
                text.push_str(&format!(
                    "checkpoint {id}: completed {}, {} bytes of state, {} worker{}, took {} ms\n",
                    m.completed_at,
                    m.bytes,
                    m.workers,
                    if m.workers == 1 { "" } else { "s" },
                    m.duration_ms
                ));
                for entry in m.parts.iter().filter(|e| e.id.starts_with("source ") || e.id.starts_with("sink ")) {
                    let position = entry.meta.get("position").unwrap_or(&entry.meta);
                    let words = position.get("text").and_then(|t| t.as_str()).unwrap_or("?");
                    text.push_str(&format!("  {}: {words}\n", entry.what));
                }
            }
            Err(manifest::Unusable::Incomplete) => text.push_str(&format!("checkpoint {id}: incomplete (no manifest; never resumed from)\n")),
            Err(manifest::Unusable::Damaged(why)) => text.push_str(&format!("checkpoint {id}: damaged ({why}); resuming skips it\n")),
        }
    }
    Ok(text)
}
