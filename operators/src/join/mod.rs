//! Stream joins.
//!
//! [`IntervalJoin`] pairs the rows of two keyed, event-time inputs whose
//! times lie within bounds of each other (Flink's interval join). Rows
//! reach it through one keyed exchange per input, so a key's rows of both
//! inputs meet on one worker; the operator hears which input a batch came
//! from through [`crate::Operator::process_input`]. The same operator
//! serves window joins, unbounded joins and joins with a bounded table.
//! [`TemporalJoin`] joins each stream row with the version of a versioned
//! table valid at its event time (`FOR SYSTEM_TIME AS OF`).

mod common;
mod interval;
mod store;
mod temporal;

pub use interval::{IntervalJoin, IntervalJoinSpec};
pub use temporal::{TemporalJoin, TemporalJoinSpec};

/// Which unmatched rows a join emits (padded with NULLs on the other side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// None.
    Inner,
    /// The left input's.
    Left,
    /// The right input's.
    Right,
    /// Both inputs'.
    Full,
}

impl JoinKind {
    /// Whether unmatched rows of input `side` (0 left, 1 right) are emitted.
    pub fn keeps_unmatched(self, side: usize) -> bool {
        matches!((self, side), (JoinKind::Full, _) | (JoinKind::Left, 0) | (JoinKind::Right, 1))
    }

    /// The SQL name (`inner`, `left outer`, ...).
    pub fn sql(self) -> &'static str {
        match self {
            JoinKind::Inner => "inner",
            JoinKind::Left => "left outer",
            JoinKind::Right => "right outer",
            JoinKind::Full => "full outer",
        }
    }
}
