//! Each worker's instances of the pipeline's models.
//!
//! A model's training and scoring operators on one worker share one bank;
//! keyed exchanges send every key to one worker, so the banks of different
//! workers hold different keys (a global model lives on worker 0).

use std::collections::HashMap;
use std::sync::Arc;

use weir_operators::{ModelState, SharedModel};

use super::shared::Shared;
use crate::EngineError;
use crate::plan::Pipeline;

/// Refuses, with checkpoints on, a model trained by two `INSERT`
/// statements: both training operators of a worker would save the one
/// bank they share, each at its own moment of the epoch, which is not a
/// consistent cut.
pub(super) fn check_resumable(pipeline: &Pipeline) -> crate::Result<()> {
    for (i, sink) in pipeline.sinks.iter().enumerate() {
        let Some(model) = sink.trains() else { continue };
        if let Some(first) = pipeline.sinks[..i].iter().find(|s| s.trains() == Some(model)) {
            return Err(EngineError::Checkpoint(format!(
                "INSERT INTO {model} (line {}) trains model '{model}', which the INSERT at line {} trains too; with checkpoints a model is trained by one statement (combine them with UNION ALL)",
                sink.line, first.line
            )));
        }
    }
    Ok(())
}

/// The models of one worker, by name.
pub(super) type Models = HashMap<String, SharedModel>;

/// Opens worker `index`'s bank of every model, on the device each asks
/// for. Worker 0 logs where each model runs.
pub(super) fn open(pipeline: &Pipeline, index: usize, workers: usize, shared: &Arc<Shared>) -> Models {
    let mut models = Models::new();
    for m in &pipeline.models {
        let per_key = m.partition_by.is_some();
        let (saved, names, base_rows) = match super::snapshots::load(m, index, workers) {
            Ok(Some(warm)) => (Some(warm.state), warm.names, if index == 0 { warm.rows_learned } else { 0 }),
            Ok(None) => (None, Vec::new(), 0),
            Err(e) => {
                shared.fail(e);
                continue;
            }
        };
        if index == 0 && saved.is_some() {
            tracing::info!(model = %m.name, "model starts warm from its snapshot");
        }
        match weir_kernels::open_bank(m.spec, saved, m.device, per_key) {
            Ok(opened) => {
                if index == 0 {
                    tracing::info!(model = %m.name, device = %opened.choice, "model bank opened");
                }
                let state = ModelState::new(m.name.clone(), opened.bank, opened.choice)
                    .with_keys(names)
                    .with_output(m.output_type.clone(), m.classes.clone())
                    .with_drift(m.drift.clone())
                    .with_base_rows(base_rows)
                    .shared();
                if let Ok(mut all) = shared.models.lock() {
                    all.push((m.name.clone(), Arc::clone(&state)));
                }
                shared.metrics.model(&m.name, Arc::clone(&state));
                models.insert(m.name.clone(), state);
            }
            Err(e) => shared.fail(EngineError::Runtime(format!("model '{}': {e}", m.name))),
        }
    }
    models
}
