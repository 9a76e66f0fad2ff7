//! `interval join`: two streams joined on keys and an event-time bound
//! (`b.ts BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ...`).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::join::{IntervalJoin as Join, IntervalJoinSpec, JoinKind};

use super::node::{Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// Joins its two inputs (left, right), each exchanged by its join keys.
#[derive(Debug, Clone)]
pub(crate) struct IntervalJoin {
    /// Which unmatched rows are emitted.
    pub kind: JoinKind,
    /// The key expressions over each input.
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// Each key equality as written (`a.k = b.k`).
    pub key_texts: Vec<String>,
    /// Each input's event-time column.
    pub time: [usize; 2],
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

impl PlanOp for IntervalJoin {
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
        let unmatched = match self.kind {
            JoinKind::Inner => String::new(),
            _ => ", unmatched rows emitted when the watermark passes their bound".to_string(),
        };
        format!(
            "interval join ({}) on {}, {right} between {} and {} (state freed by the watermark{unmatched}), condition {}",
            self.kind.sql(),
            self.key_texts.join(" AND "),
            bound(self.lower_ms),
            bound(self.upper_ms),
            self.filter_text,
        )
    }

    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::PerInput { exprs: self.keys.to_vec(), texts: self.key_texts.clone() }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        let width = inputs.first().map_or(0, |i| i.schema().fields().len());
        match index.checked_sub(width) {
            None => vec![(0, index)],
            Some(right) => vec![(1, right)],
        }
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
            inputs: [schema(0), schema(1)],
            schema: Arc::clone(&self.schema),
        };
        let op = Join::new(spec).map(|op| Box::new(op) as _).map_err(|e| build.operator_error(e));
        build.operator(node, inputs, op)
    }
}
