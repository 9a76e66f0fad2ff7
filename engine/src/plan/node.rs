//! A node of an operator tree, and what every kind of node says about
//! itself.
//!
//! A node is an operator ([`PlanOp`]) and its inputs. Everything the rest of
//! the engine asks of a node goes through the trait: its schema, its line in
//! `weir check`, how its rows are exchanged between workers, and the timely
//! operator it builds. So adding an operator is one file under `plan/`
//! implementing [`PlanOp`] plus one arm in the planner that creates it; the
//! runtime and the plan printer have no per-operator code.

use std::any::Any;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use super::SourceRows;
use crate::runtime::{BatchStream, Build};

/// One kind of plan node: the operator, without its inputs.
pub(crate) trait PlanOp: fmt::Debug + Send + Sync + Any {
    /// The schema of the batches it produces from `inputs`.
    fn schema(&self, inputs: &[Node]) -> SchemaRef;

    /// Its line in `weir check`, without indentation or line end.
    fn explain(&self, inputs: &[Node]) -> String;

    /// How its input rows reach it across workers.
    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::Local
    }

    /// Builds its timely operators over its inputs' streams (in input order).
    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s>;

    /// The table and rows it scans, when it is a scan.
    fn scan(&self) -> Option<(&str, SourceRows)> {
        None
    }

    /// The model it trains, when it trains one.
    fn trains(&self) -> Option<&str> {
        None
    }

    /// The input columns that output column `index` is a plain copy of, as
    /// (input, column) pairs; empty when it is computed here (or the
    /// operator does not say).
    fn copies(&self, _index: usize, _inputs: &[Node]) -> Vec<(usize, usize)> {
        Vec::new()
    }

    /// The output column holding each result's event time, for the
    /// end-to-end latency histogram of the tables it reads.
    fn latency_column(&self) -> Option<usize> {
        None
    }
}

/// How rows reach an operator across workers.
#[derive(Debug, Clone)]
pub(crate) enum Exchange {
    /// They stay on the worker that produced them.
    Local,
    /// Each row goes to the worker its keys hash to; with no keys, every row
    /// goes to worker 0.
    Keys {
        /// The key expressions over the input.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Their text.
        texts: Vec<String>,
        /// What one key owns (`model`, `detector set`), for the plan text;
        /// `None` for operators whose state is per group.
        unit: Option<&'static str>,
    },
    /// Each input's rows go to the worker its own keys hash to (a join:
    /// equal keys of every input meet on one worker).
    PerInput {
        /// The key expressions over each input, in input order.
        exprs: Vec<Vec<Arc<dyn PhysicalExpr>>>,
        /// The keys' text, per key (`a.k = b.k`).
        texts: Vec<String>,
    },
}

impl Exchange {
    /// The `exchange:` line of `weir check`, or `None` when rows stay put.
    fn describe(&self) -> Option<String> {
        let (texts, unit) = match self {
            Exchange::Local => return None,
            Exchange::PerInput { texts, .. } if texts.is_empty() => return Some("gather to worker 0 (no keys)".to_string()),
            Exchange::PerInput { texts, .. } => return Some(format!("hash of each input's keys ({})", texts.join(", "))),
            Exchange::Keys { texts, unit, .. } => (texts, unit),
        };
        Some(match (unit, texts.is_empty()) {
            (None, true) => "gather to worker 0 (no keys)".to_string(),
            (None, false) => format!("hash({})", texts.join(", ")),
            (Some(what), true) => format!("gather to worker 0 (one global {what})"),
            (Some(what), false) => {
                let k = texts.join(", ");
                format!("hash({k}) (one {what} per {k})")
            }
        })
    }
}

/// A node of an operator tree: an operator and the nodes it reads.
#[derive(Debug, Clone)]
pub struct Node {
    op: Arc<dyn PlanOp>,
    inputs: Vec<Node>,
}

impl Node {
    /// A node running `op` over `inputs`.
    pub(crate) fn new(op: impl PlanOp, inputs: Vec<Node>) -> Self {
        Self { op: Arc::new(op), inputs }
    }

    /// The same operator over other inputs.
    pub(crate) fn with_inputs(&self, inputs: Vec<Node>) -> Self {
        Self { op: Arc::clone(&self.op), inputs }
    }

    /// The operator, when it is a `T`.
    pub(crate) fn op<T: PlanOp>(&self) -> Option<&T> {
        (self.op.as_ref() as &dyn Any).downcast_ref::<T>()
    }

    /// The schema of the batches this node produces.
    pub fn schema(&self) -> SchemaRef {
        self.op.schema(&self.inputs)
    }

    /// The nodes this node reads from.
    pub fn inputs(&self) -> &[Node] {
        &self.inputs
    }

    /// How many nodes the tree has.
    pub fn count(&self) -> usize {
        1 + self.inputs.iter().map(Node::count).sum::<usize>()
    }

    /// How many nodes of the tree `f` holds for.
    pub(crate) fn count_where(&self, f: &dyn Fn(&Node) -> bool) -> usize {
        usize::from(f(self)) + self.inputs.iter().map(|i| i.count_where(f)).sum::<usize>()
    }

    /// The tree with each node `f` gives a replacement for replaced by it
    /// (and not looked into further).
    pub(crate) fn replace(&self, f: &dyn Fn(&Node) -> Option<Node>) -> Node {
        match f(self) {
            Some(node) => node,
            None => self.with_inputs(self.inputs.iter().map(|i| i.replace(f)).collect()),
        }
    }

    /// The tables this node reads, in plan order (with repeats).
    pub fn tables(&self) -> Vec<String> {
        match self.op.scan() {
            Some((table, _)) => vec![table.to_string()],
            None => self.inputs.iter().flat_map(Node::tables).collect(),
        }
    }

    /// The model this node trains, when it trains one.
    pub fn trains(&self) -> Option<&str> {
        self.op.trains()
    }

    /// How rows reach this node across workers.
    pub(crate) fn exchange(&self) -> Exchange {
        self.op.exchange(&self.inputs)
    }

    /// See [`PlanOp::copies`].
    pub(crate) fn copies(&self, index: usize) -> Vec<(usize, usize)> {
        self.op.copies(index, &self.inputs)
    }

    /// The node's own line in `weir check` with its output columns: what
    /// its checkpointed state depends on.
    pub(crate) fn signature(&self) -> String {
        let columns: Vec<String> = self.schema().fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
        format!("{} -> ({})", self.op.explain(&self.inputs), columns.join(", "))
    }

    /// See [`PlanOp::latency_column`].
    pub(crate) fn latency_column(&self) -> Option<usize> {
        self.op.latency_column()
    }

    /// Adds the tables scanned for `rows` under this node to `out`, once each.
    pub(crate) fn scanned(&self, rows: SourceRows, out: &mut Vec<String>) {
        match self.op.scan() {
            Some((table, r)) if r == rows && !out.iter().any(|t| t == table) => out.push(table.to_string()),
            Some(_) => {}
            None => self.inputs.iter().for_each(|i| i.scanned(rows, out)),
        }
    }

    /// Builds this tree's timely operators, inputs first.
    pub(crate) fn build<'s>(&self, build: &Build<'_, 's>) -> BatchStream<'s> {
        let inputs = self.inputs.iter().map(|i| i.build(build)).collect();
        self.op.build(build, self, inputs)
    }

    /// Writes this tree as `weir check` prints it, at `depth` levels of
    /// indentation: the node's line, its exchange (if any), then its inputs.
    pub(crate) fn explain(&self, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let _ = writeln!(out, "{pad}{}", self.op.explain(&self.inputs));
        let mut below = depth + 1;
        if let Some(exchange) = self.exchange().describe() {
            let _ = writeln!(out, "{pad}  exchange: {exchange}");
            below += 1;
        }
        for input in &self.inputs {
            input.explain(below, out);
        }
    }
}

/// The name of column `index` of `node`'s output ("" when out of range).
pub(crate) fn column_name(node: &Node, index: usize) -> String {
    node.schema().fields().get(index).map(|f| f.name().clone()).unwrap_or_default()
}
