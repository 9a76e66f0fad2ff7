//! `temporal join`: `s JOIN v FOR SYSTEM_TIME AS OF s.ts`: each stream row
//! with the version of the versioned table `v` valid at its event time.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::join::{JoinKind, TemporalJoin as Join, TemporalJoinSpec};

use super::node::{Exchange, Node, PlanOp};
use crate::runtime::{BatchStream, Build};

/// Joins the stream (input 0) with the versioned table (input 1), each
/// exchanged by its join keys.
#[derive(Debug, Clone)]
pub(crate) struct TemporalJoin {
    /// Inner or left.
    pub kind: JoinKind,
    /// The key expressions over each input.
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// Each key equality as written.
    pub key_texts: Vec<String>,
    /// The stream's `AS OF` column and the table's version time column.
    pub time: [usize; 2],
    /// Their names as written.
    pub time_texts: [String; 2],
    /// The join condition beyond the keys, over the output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Its text.
    pub filter_text: String,
    /// The versioned table's deletion marker (an upsert-kafka table's),
    /// its index in the table's columns.
    pub deleted: Option<usize>,
    /// The output schema: the stream's columns then the table's.
    pub schema: SchemaRef,
}

impl PlanOp for TemporalJoin {
    fn schema(&self, _inputs: &[Node]) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn explain(&self, _inputs: &[Node]) -> String {
        let [row, version] = &self.time_texts;
        format!(
            "temporal join ({}) on {}, as of {row}: the version with the latest {version} <= {row} (rows wait for the watermark to pass {row}; versions freed once replaced{}), condition {}",
            self.kind.sql(),
            self.key_texts.join(" AND "),
            if self.deleted.is_some() { "; a null value deletes its key" } else { "" },
            self.filter_text,
        )
    }

    fn exchange(&self, _inputs: &[Node]) -> Exchange {
        Exchange::PerInput { exprs: self.keys.to_vec(), texts: self.key_texts.clone() }
    }

    fn copies(&self, index: usize, inputs: &[Node]) -> Vec<(usize, usize)> {
        super::stream_join::copies_of_join(index, inputs)
    }

    fn build<'s>(&self, build: &Build<'_, 's>, node: &Node, inputs: Vec<BatchStream<'s>>) -> BatchStream<'s> {
        let schema = |side: usize| node.inputs().get(side).map_or_else(|| Arc::clone(&self.schema), Node::schema);
        let spec = TemporalJoinSpec {
            kind: self.kind,
            keys: self.keys.clone(),
            time: self.time,
            filter: self.filter.clone(),
            deleted: self.deleted,
            inputs: [schema(0), schema(1)],
            schema: Arc::clone(&self.schema),
        };
        let op = Join::new(spec).map(|op| Box::new(op) as _).map_err(|e| build.operator_error(e));
        build.operator(node, inputs, op)
    }
}
