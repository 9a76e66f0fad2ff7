//! `Predict`: predictions appended to rows (`ML_PREDICT`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use weir_kernels::Task;

use crate::error::{OperatorError, Result};
use crate::operator::Operator;

use super::{argmax, complete, feature_columns, lock, push_row, SharedModel};


/// Appends `prediction` (and `probability` for classification) to every
/// row: the operator behind `ML_PREDICT`.
#[derive(Debug)]
pub struct Predict {
    model: SharedModel,
    pub(super) key: Option<usize>,
    pub(super) features: Vec<usize>,
    schema: SchemaRef,
    keys: Vec<u32>,
    rows: Vec<f32>,
    out: Vec<f32>,
}

impl Predict {
    /// Scores the `features` columns with `model` per value of column `key`;
    /// `schema` is the input's plus the appended columns.
    pub fn new(model: SharedModel, key: Option<usize>, features: Vec<usize>, schema: SchemaRef) -> Self {
        Self { model, key, features, schema, keys: Vec::new(), rows: Vec::new(), out: Vec::new() }
    }
}

impl Operator for Predict {
    /// Nothing of its own: the bank it scores with is the training
    /// operator's state.
    fn snapshot(&mut self) -> crate::Result<Option<crate::StateSnapshot>> {
        Ok(None)
    }

    fn name(&self) -> &str {
        "ml_predict"
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let model = Arc::clone(&self.model);
        let mut state = lock(&model);
        let n = batch.num_rows();
        let indices = state.key_indices(self.key.map(|k| batch.column(k)), n)?;
        let columns = feature_columns(&batch, &self.features, &state)?;
        self.keys.clear();
        self.rows.clear();
        let mut scored = Vec::with_capacity(n);
        for (r, key) in indices.iter().enumerate() {
            let ok = key.is_some() && complete(&columns, r);
            if let (true, Some(k)) = (ok, key) {
                self.keys.push(*k);
                push_row(&columns, r, &mut self.rows);
            }
            scored.push(ok);
        }
        let task = state.bank.spec().task;
        self.out.resize(self.keys.len() * task.n_outputs(), 0.0);
        let started = std::time::Instant::now();
        let result = state.bank.predict(&self.keys, &self.rows, &mut self.out);
        state.kernel_time(false, started.elapsed().as_secs_f64());
        result.map_err(|e| state.error(e))?;
        state.rows_scored += self.keys.len() as u64;
        let mut values = self.out.chunks(task.n_outputs());
        let per_row: Vec<Option<&[f32]>> = scored.iter().map(|&ok| if ok { values.next() } else { None }).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        match task {
            Task::Binary => {
                columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| p[0] > 0.5)).collect::<BooleanArray>()));
                columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| f64::from(p[0]))).collect::<Float64Array>()));
            }
            Task::Multiclass { .. } => {
                let best: Vec<Option<usize>> = per_row.iter().map(|p| p.map(argmax)).collect();
                columns.push(state.class_column(best.clone())?);
                let probability = per_row.iter().zip(&best).map(|(p, c)| p.zip(*c).map(|(p, c)| f64::from(p[c])));
                columns.push(Arc::new(probability.collect::<Float64Array>()));
            }
            Task::Regression => columns.push(Arc::new(per_row.iter().map(|p| p.map(|p| f64::from(p[0]))).collect::<Float64Array>())),
        }
        drop(state);
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|source| OperatorError::Arrow { operator: "ml_predict".into(), source })?;
        out.push(batch);
        Ok(())
    }
}

