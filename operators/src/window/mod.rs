//! Event-time windows: assigning rows to windows, and aggregating each
//! window per key with DataFusion's accumulators.
//!
//! A windowed query runs as two operators. [`WindowAssign`] is stateless and
//! runs where the rows are read: it appends `window_start` and `window_end`
//! to every row (a `HOP` row once per window it falls in). The rows are then
//! exchanged by the `GROUP BY` keys, and [`WindowAggregate`] keeps one set
//! of accumulators per open window and key. It emits a window's rows once,
//! when the watermark passes the window's end, and frees its state then, so
//! memory follows the open windows and keys, never the history.
//!
//! Session windows are merging windows, as in Flink: each row starts a
//! session `[ts, ts + gap)`, and sessions of one key that overlap merge,
//! accumulators included (DataFusion's `state`/`merge_batch`).
//!
//! Times are epoch milliseconds throughout; a window is `[start, end)` and is
//! complete when the watermark reaches `end - 1`, Flink's rule.

mod aggregate;
mod assign;
mod pane;
mod session;

pub use aggregate::{AggregateSpec, GroupColumn, WindowAggregate};
pub use assign::WindowAssign;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};

use crate::{OperatorError, Result};

/// How rows are grouped into windows. Sizes are in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size`, aligned to the epoch.
    Tumble {
        /// Window length.
        size: i64,
    },
    /// Windows of `size` starting every `slide`; a row falls in
    /// `ceil(size / slide)` of them.
    Hop {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
    },
    /// Flink's cumulating windows: within each window of `size`, windows
    /// that all start at its start and end every `step` (a row at `t` is
    /// in `[start, start + k * step)` for every end after `t`), so an
    /// aggregate is emitted every `step`, growing until `size`.
    Cumulate {
        /// The largest window's length.
        size: i64,
        /// Distance between window ends.
        step: i64,
    },
    /// Per-key sessions that close after `gap` without rows.
    Session {
        /// The inactivity gap.
        gap: i64,
    },
}

impl std::fmt::Display for WindowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowKind::Tumble { size } => write!(f, "tumble size={}", duration(*size)),
            WindowKind::Hop { size, slide } => write!(f, "hop slide={} size={}", duration(*slide), duration(*size)),
            WindowKind::Cumulate { size, step } => write!(f, "cumulate step={} size={}", duration(*step), duration(*size)),
            WindowKind::Session { gap } => write!(f, "session gap={}", duration(*gap)),
        }
    }
}

/// A duration in milliseconds, as people write it (`10s`, `1min`, `250ms`).
pub(crate) fn duration(ms: i64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// A timestamp column as epoch milliseconds, whatever its unit and zone.
pub(crate) fn millis(array: &ArrayRef, operator: &str) -> Result<ArrayRef> {
    cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))
        .map_err(|source| OperatorError::Arrow { operator: operator.into(), source })
}

/// The values of a column produced by [`millis`].
pub(crate) fn as_millis(array: &ArrayRef) -> &[i64] {
    array.as_primitive::<TimestampMillisecondType>().values()
}
