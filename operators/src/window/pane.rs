//! The state of one tumbling or hopping window: its keys and, per key, one
//! slot in each of DataFusion's vectorised group accumulators.
//!
//! A pane lives from the first row of its window until the watermark passes
//! the window's end; emitting it consumes it, which frees the state.

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::aggregate::AggregateSpec;
use crate::{OperatorError, Result};

/// One open window.
pub(super) struct Pane {
    /// Interns key values to group indices; `None` without GROUP BY keys
    /// (one group).
    groups: Option<Box<dyn GroupValues>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Groups seen (1 once any row arrived, without keys).
    len: usize,
    ids: Vec<usize>,
}

impl std::fmt::Debug for Pane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pane").field("groups", &self.len).finish_non_exhaustive()
    }
}

/// A group accumulator for `spec`: DataFusion's vectorised one where the
/// function has it, else its row accumulator behind DataFusion's adapter.
fn groups_accumulator(spec: &AggregateSpec) -> Result<Box<dyn GroupsAccumulator>> {
    let expr = &spec.expr;
    let failed = |source| OperatorError::Aggregate { aggregate: expr.name().to_string(), source };
    if expr.groups_accumulator_supported() {
        expr.create_groups_accumulator().map_err(failed)
    } else {
        let factory = std::sync::Arc::clone(expr);
        Ok(Box::new(GroupsAccumulatorAdapter::new(move || factory.create_accumulator())))
    }
}

impl Pane {
    pub(super) fn new(keys: &SchemaRef, aggregates: &[AggregateSpec]) -> Result<Self> {
        let groups = if keys.fields().is_empty() {
            None
        } else {
            Some(new_group_values(SchemaRef::clone(keys), &GroupOrdering::None).map_err(|source| {
                OperatorError::Aggregate { aggregate: "GROUP BY".into(), source }
            })?)
        };
        let accumulators = aggregates.iter().map(groups_accumulator).collect::<Result<_>>()?;
        Ok(Self { groups, accumulators, len: 0, ids: Vec::new() })
    }

    /// Adds `rows` rows: their key columns, each aggregate's argument
    /// columns and optional `FILTER (WHERE ...)` mask.
    pub(super) fn update(
        &mut self,
        keys: &[ArrayRef],
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
        aggregates: &[AggregateSpec],
        rows: usize,
    ) -> Result<()> {
        match &mut self.groups {
            Some(groups) => {
                groups
                    .intern(keys, &mut self.ids)
                    .map_err(|source| OperatorError::Aggregate { aggregate: "GROUP BY".into(), source })?;
                self.len = groups.len();
            }
            None => {
                self.ids.clear();
                self.ids.resize(rows, 0);
                self.len = 1;
            }
        }
        for (((acc, args), filter), spec) in self.accumulators.iter_mut().zip(args).zip(filters).zip(aggregates) {
            acc.update_batch(args, &self.ids, filter.as_ref(), self.len)
                .map_err(|source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source })?;
        }
        Ok(())
    }

    /// Consumes the pane: its key columns, one column per aggregate, and the
    /// number of rows (groups).
    pub(super) fn emit(mut self, aggregates: &[AggregateSpec]) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>, usize)> {
        let keys = match &mut self.groups {
            Some(groups) => groups
                .emit(EmitTo::All)
                .map_err(|source| OperatorError::Aggregate { aggregate: "GROUP BY".into(), source })?,
            None => Vec::new(),
        };
        let mut values = Vec::with_capacity(self.accumulators.len());
        for (acc, spec) in self.accumulators.iter_mut().zip(aggregates) {
            values.push(
                acc.evaluate(EmitTo::All)
                    .map_err(|source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source })?,
            );
        }
        Ok((keys, values, self.len))
    }

    /// Encodes the pane as one batch (its key columns, then each
    /// aggregate's state columns, a row per group) and rebuilds itself from
    /// that batch: the accumulators give their state up only by value.
    pub(super) fn save(&mut self, keys: &SchemaRef, aggregates: &[AggregateSpec]) -> Result<RecordBatch> {
        let mut columns = match &mut self.groups {
            Some(groups) => groups
                .emit(EmitTo::All)
                .map_err(|source| OperatorError::Aggregate { aggregate: "GROUP BY".into(), source })?,
            None => Vec::new(),
        };
        for (acc, spec) in self.accumulators.iter_mut().zip(aggregates) {
            columns.extend(
                acc.state(EmitTo::All)
                    .map_err(|source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source })?,
            );
        }
        let batch = crate::codec::state_batch("window aggregate", columns, self.len)?;
        *self = Pane::load(keys, aggregates, &batch)?;
        Ok(batch)
    }

    /// A pane from a batch [`Pane::save`] wrote.
    pub(super) fn load(keys: &SchemaRef, aggregates: &[AggregateSpec], batch: &RecordBatch) -> Result<Self> {
        let bad = |reason: String| OperatorError::Snapshot { operator: "window aggregate".into(), reason };
        let mut pane = Pane::new(keys, aggregates)?;
        let width = keys.fields().len();
        let rows = batch.num_rows();
        let columns = batch.columns();
        let key_columns = columns.get(..width).ok_or_else(|| bad(format!("{} columns, fewer than the {width} keys", columns.len())))?;
        match &mut pane.groups {
            Some(groups) => {
                groups
                    .intern(key_columns, &mut pane.ids)
                    .map_err(|source| OperatorError::Aggregate { aggregate: "GROUP BY".into(), source })?;
                pane.len = groups.len();
            }
            None => {
                pane.ids = vec![0; rows];
                pane.len = rows.min(1);
            }
        }
        let mut at = width;
        for (acc, spec) in pane.accumulators.iter_mut().zip(aggregates) {
            let failed = |source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source };
            let n = spec.expr.state_fields().map_err(failed)?.len();
            let state = columns.get(at..at + n).ok_or_else(|| bad(format!("no state for {}", spec.expr.name())))?;
            acc.merge_batch(state, &pane.ids, pane.len).map_err(failed)?;
            at += n;
        }
        Ok(pane)
    }
}
