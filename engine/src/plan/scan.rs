//! `scan`: the rows of a source table, optionally reduced to some columns
//! and to its on-time or late rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::expressions::{Column, NotExpr};
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::{Filter, Project};

use super::node::{Node, PlanOp};
use super::SourceRows;
use crate::runtime::{BatchStream, Build, LATE_COLUMN};
use crate::EngineError;

/// Rows of a source table.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// The table.
    pub table: String,
    /// Column indices kept, in order (`None`: all).
    pub projection: Option<Vec<usize>>,
    /// The output schema.
    pub schema: SchemaRef,
    /// Which rows.
    pub rows: SourceRows,
}

impl Scan {
    /// A node scanning `rows` of `table`, every column.
    pub(crate) fn node(table: &str, schema: SchemaRef, rows: SourceRows) -> Node {
        Node::new(Scan { table: table.to_string(), projection: None, schema, rows }, Vec::new())
    }
}

impl PlanOp for Scan {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let cols = match &self.projection {
            Some(_) => {
                let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!(" columns=[{}]", names.join(", "))
            }
            None => String::new(),
        };
        let late = match self.rows {
            SourceRows::All => "",
            SourceRows::OnTime => " (rows behind the watermark left out)",
            SourceRows::Late => " (only rows behind the watermark)",
        };
        format!("scan {}{cols}{late}", self.table)
    }

    fn scan(&self) -> Option<(&str, SourceRows)> {
        Some((&self.table, self.rows))
    }

    fn build<'s>(&self, build: &Build<'_, 's>, _node: &Node, _inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let Some((stream, late_column)) = build.source(&self.table) else {
            return build.fail(EngineError::Runtime(format!("no source operator for table '{}'", self.table)));
        };
        let mut stream = stream;
        if late_column && self.rows != SourceRows::All {
            let Some(width) = build.source_width(&self.table) else { return build.empty() };
            let late: Arc<dyn PhysicalExpr> = Arc::new(Column::new(LATE_COLUMN, width));
            let (name, predicate): (&str, Arc<dyn PhysicalExpr>) = match self.rows {
                SourceRows::Late => ("late rows", late),
                _ => ("on-time rows", Arc::new(NotExpr::new(late))),
            };
            stream = build.apply(stream, name, Box::new(Filter::new(predicate)));
        }
        if self.projection.is_none() && !late_column {
            return stream;
        }
        let indices: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let exprs: Vec<Arc<dyn PhysicalExpr>> = indices
            .iter()
            .zip(self.schema.fields())
            .map(|(i, f)| Arc::new(Column::new(f.name(), *i)) as Arc<dyn PhysicalExpr>)
            .collect();
        build.apply(stream, "scan columns", Box::new(Project::new(exprs, Arc::clone(&self.schema))))
    }
}
