//! A join of two streams on keys, held by event time: Flink's interval
//! join (`b.ts BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ...`), its
//! window join (both inputs windowed alike, joined on `window_start`,
//! `window_end` and keys: held until the window closes) and its unbounded
//! join (no time bound: held forever), and its join with a bounded table
//! (the table held whole, the stream's rows joined once it has ended). One
//! operator serves all three; they differ in which time each row is held
//! by and for how long, which is what [`JoinForm`] records.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::join::{IntervalJoin as Join, IntervalJoinSpec, JoinKind};
use weir_operators::window::WindowKind;

use super::node::{Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// Which of Flink's joins of two streams a join is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinForm {
    /// Bounded by the time between the inputs' event-time columns.
    Interval,
    /// Both inputs windowed by this window and joined on its bounds; the
    /// time columns are the `window_end`s.
    Window(WindowKind),
    /// Input `side` is a bounded table (it ends, and declares no
    /// watermark): held whole; the stream's rows wait until it has ended.
    Table { side: usize },
    /// No time bound: rows are held forever. (`table.exec.state.ttl`
    /// makes such a join an interval join.)
    Unbounded,
}

/// Joins its two inputs (left, right), each exchanged by its join keys.
#[derive(Debug, Clone)]
pub(crate) struct StreamJoin {
    /// Which join.
    pub form: JoinForm,
    /// Which unmatched rows are emitted.
    pub kind: JoinKind,
    /// The key expressions over each input.
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// Each key equality as written (`a.k = b.k`).
    pub key_texts: Vec<String>,
    /// Each input's time column (see [`JoinForm`]); none for an unbounded
    /// join without a TTL.
    pub time: [Option<usize>; 2],
    /// Their names as written (`r.ts`).
    pub time_texts: [String; 2],
    /// `right.ts - left.ts` lies in `[lower_ms, upper_ms]`.
    pub lower_ms: i64,
    /// See `lower_ms`.
    pub upper_ms: i64,
    /// The join condition beyond the keys, over the output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Its text.
    pub filter_text: String,
    /// The output schema: the left columns then the right ones.
    pub schema: SchemaRef,
}

/// A duration in milliseconds as the plan prints it.
fn ms(v: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(v.unsigned_abs())).to_string()
}

impl PlanOp for StreamJoin {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let [left, right] = &self.time_texts;
        let bound = |v: i64| match v {
            0 => left.clone(),
            v if v < 0 => format!("{left} - {}", ms(v)),
            v => format!("{left} + {}", ms(v)),
        };
        let (kind, keys, condition) = (self.kind.sql(), self.key_texts.join(" AND "), &self.filter_text);
        let outer = self.kind != JoinKind::Inner;
        match self.form {
            JoinForm::Interval => {
                let unmatched = if outer { ", unmatched rows emitted when the watermark passes their bound" } else { "" };
                format!(
                    "interval join ({kind}) on {keys}, {right} between {} and {} (state freed by the watermark{unmatched}), condition {condition}",
                    bound(self.lower_ms),
                    bound(self.upper_ms),
                )
            }
            JoinForm::Window(window) => {
                let unmatched = if outer { ", unmatched rows when it closes" } else { "" };
                format!(
                    "window join ({kind}, {window}) on {keys} (pairs emitted as their rows arrive{unmatched}; state freed when the window closes), condition {condition}"
                )
            }
            JoinForm::Table { side } => {
                let (which, unmatched) = if side == 1 { ("right", "left") } else { ("left", "right") };
                let unmatched = if outer { format!(", {unmatched} rows without a partner emitted at once") } else { String::new() };
                format!(
                    "table join ({kind}) on {keys}: the {which} input is a bounded table, read whole before any row is joined (it is held; the stream's rows wait for it, then pass{unmatched}), condition {condition}"
                )
            }
            JoinForm::Unbounded => {
                format!("join ({kind}) on {keys}, no time bound (state grows without bound), condition {condition}")
            }
        }
    }

    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::PerInput { exprs: self.keys.to_vec(), texts: self.key_texts.clone() }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        copies_of_join(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let schema = |side: usize| node.inputs().get(side).map_or_else(|| Arc::clone(&self.schema), Node::schema);
        let spec = IntervalJoinSpec {
            kind: self.kind,
            keys: self.keys.clone(),
            time: self.time,
            lower_ms: self.lower_ms,
            upper_ms: self.upper_ms,
            filter: self.filter.clone(),
            table: match self.form {
                JoinForm::Table { side } => Some(side),
                _ => None,
            },
            inputs: [schema(0), schema(1)],
            schema: Arc::clone(&self.schema),
        };
        let op = Join::new(spec).map(|op| Box::new(op) as _).map_err(|e| build.operator_error(e));
        build.operator(node, inputs, op)
    }
}

/// Which input column a join's output column `index` copies: the left
/// input's columns come first, then the right's.
pub(super) fn copies_of_join(index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
    let width = inputs.first().map_or(0, |i| i.schema().fields().len());
    match index.checked_sub(width) {
        None => vec![(0, index)],
        Some(right) => vec![(1, right)],
    }
}
