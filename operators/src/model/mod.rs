//! Online models as operators: [`Train`] learns from labelled rows
//! (test-then-train) and [`Predict`] appends predictions to rows, both
//! against one [`ModelState`] that the worker shares between them, so a
//! prediction uses the model as it is at that moment.
//!
//! Rows reach a model's operators through a keyed exchange on the model's
//! `partition_by` column (all rows to one worker for a global model), so
//! every key's model lives on exactly one worker and learns that key's rows
//! in the order they arrive there. Keys become dense indices into the
//! kernels' bank the first time they are seen: per-key models are created
//! on first sight, by training or by scoring.
//!
//! With `'scoring' = 'event-time'`, [`EventTimePredict`] does both in one
//! operator, in event-time order, so predictions do not depend on timing.
//!
//! A row whose key, label or any feature is NULL cannot be learned: it is
//! counted in [`Prequential::skipped`] and left out, never a failure. A row
//! scored with a NULL feature gets a NULL prediction.

use std::sync::{Arc, Mutex};

mod metrics;
mod predict;
mod saved;
mod score;
mod state;
mod train;

pub use metrics::{metrics_schema, LastMinute, Prequential, RECENT_ROWS};
pub(crate) use metrics::argmax;
use metrics::KeyMetrics;
pub use predict::Predict;
pub use score::EventTimePredict;
pub(crate) use saved::SavedBank;
use saved::SavedModel;
pub use state::ModelState;
use state::{complete, feature_columns, lock, push_row};
pub use train::Train;


/// A model's bank on one worker, shared by its `Train` and `Predict`
/// operators.
pub type SharedModel = Arc<Mutex<ModelState>>;
