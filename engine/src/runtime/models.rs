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

/// The models of one worker, by name.
pub(super) type Models = HashMap<String, SharedModel>;

/// Opens worker `index`'s bank of every model, on the device each asks
/// for. Worker 0 logs where each model runs.
pub(super) fn open(pipeline: &Pipeline, index: usize, workers: usize, shared: &Arc<Shared>) -> Models {
    let mut models = Models::new();
    for m in &pipeline.models {
        let per_key = m.partition_by.is_some();
        let (saved, names) = match super::snapshots::load(m, index, workers) {
            Ok(Some((state, names))) => (Some(state), names),
            Ok(None) => (None, Vec::new()),
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
