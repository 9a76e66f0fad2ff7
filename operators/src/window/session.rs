//! Session windows: per key, sessions that grow while rows keep arriving
//! within `gap` of each other, and merge when a row bridges two of them.
//!
//! Each key holds its open sessions, each with one DataFusion row
//! accumulator per aggregate. A batch's rows of one key are sorted by time
//! and cut into runs (rows less than `gap` apart); a run gets fresh
//! accumulators, and is then merged with every open session it overlaps,
//! through the accumulators' `state`/`merge_batch` (the same interface
//! DataFusion uses to combine partial aggregates). A session is emitted and
//! dropped when the watermark passes its end, and a key with no open
//! session is forgotten, so state follows the open sessions.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::compute::take;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;

use super::aggregate::AggregateSpec;
use crate::{OperatorError, Result};

/// A key's row (for its columns) and the indices of its rows in a batch.
type KeyRows = (Option<OwnedRow>, Vec<u32>);

struct Session {
    start: i64,
    end: i64,
    accumulators: Vec<Box<dyn Accumulator>>,
}

struct KeySessions {
    key: Option<OwnedRow>,
    open: Vec<Session>,
}

/// The open sessions of every key.
pub(super) struct Sessions {
    gap: i64,
    converter: Option<RowConverter>,
    keys: HashMap<Box<[u8]>, KeySessions>,
    /// Session ends to check when the watermark passes them, with the key;
    /// entries for sessions that have since grown or merged are skipped.
    due: BTreeMap<i64, Vec<Box<[u8]>>>,
    /// How many open sessions start at each time, for
    /// [`Sessions::earliest_start`].
    starts: BTreeMap<i64, usize>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("gap", &self.gap).field("keys", &self.keys.len()).finish_non_exhaustive()
    }
}

/// Sessions that ended, ready to become a batch.
#[derive(Default)]
pub(super) struct Closed {
    pub(super) keys: Vec<OwnedRow>,
    pub(super) starts: Vec<i64>,
    pub(super) ends: Vec<i64>,
    pub(super) values: Vec<Vec<ScalarValue>>,
}

fn failed(spec: &AggregateSpec) -> impl Fn(datafusion::error::DataFusionError) -> OperatorError + '_ {
    move |source| OperatorError::Aggregate { aggregate: spec.expr.name().to_string(), source }
}

fn take_all(columns: &[ArrayRef], indices: &UInt32Array) -> Result<Vec<ArrayRef>> {
    columns
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<Result<_, _>>()
        .map_err(|source| OperatorError::Arrow { operator: "session window".into(), source })
}

impl Sessions {
    pub(super) fn new(gap: i64, keys: &SchemaRef) -> Result<Self> {
        let converter = if keys.fields().is_empty() {
            None
        } else {
            let fields = keys.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
            Some(
                RowConverter::new(fields)
                    .map_err(|source| OperatorError::Arrow { operator: "session window".into(), source })?,
            )
        };
        Ok(Self { gap, converter, keys: HashMap::new(), due: BTreeMap::new(), starts: BTreeMap::new() })
    }

    /// Adds rows: key columns, each row's time, each aggregate's arguments
    /// and optional filter mask.
    pub(super) fn update(
        &mut self,
        keys: &[ArrayRef],
        times: &[i64],
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
        aggregates: &[AggregateSpec],
    ) -> Result<()> {
        // Row indices per key, in arrival order.
        let mut by_key: HashMap<Box<[u8]>, KeyRows> = HashMap::new();
        match &self.converter {
            Some(converter) => {
                let rows = converter
                    .convert_columns(keys)
                    .map_err(|source| OperatorError::Arrow { operator: "session window".into(), source })?;
                for (i, row) in rows.iter().enumerate() {
                    match by_key.get_mut(row.as_ref()) {
                        Some((_, indices)) => indices.push(i as u32),
                        None => {
                            by_key.insert(row.as_ref().into(), (Some(row.owned()), vec![i as u32]));
                        }
                    }
                }
            }
            None => {
                by_key.insert(Box::default(), (None, (0..times.len() as u32).collect()));
            }
        }
        for (bytes, (key, mut indices)) in by_key {
            indices.sort_by_key(|&i| times[i as usize]);
            let mut run_start = 0;
            while run_start < indices.len() {
                let mut run_end = run_start + 1;
                while run_end < indices.len()
                    && times[indices[run_end] as usize] < times[indices[run_end - 1] as usize].saturating_add(self.gap)
                {
                    run_end += 1;
                }
                let run = &indices[run_start..run_end];
                let start = times[run[0] as usize];
                let end = times[run[run.len() - 1] as usize].saturating_add(self.gap);
                let session = self.run(run, start, end, args, filters, aggregates)?;
                self.merge(&bytes, key.clone(), session, aggregates)?;
                run_start = run_end;
            }
        }
        Ok(())
    }

    /// Fresh accumulators over one run of a key's rows.
    fn run(
        &self,
        run: &[u32],
        start: i64,
        end: i64,
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
        aggregates: &[AggregateSpec],
    ) -> Result<Session> {
        let mut accumulators = Vec::with_capacity(aggregates.len());
        for ((spec, args), filter) in aggregates.iter().zip(args).zip(filters) {
            let mut acc = spec.expr.create_accumulator().map_err(failed(spec))?;
            let rows: Vec<u32> = match filter {
                Some(mask) => run.iter().copied().filter(|&i| mask.is_valid(i as usize) && mask.value(i as usize)).collect(),
                None => run.to_vec(),
            };
            if !rows.is_empty() {
                let taken = take_all(args, &UInt32Array::from(rows))?;
                acc.update_batch(&taken).map_err(failed(spec))?;
            }
            accumulators.push(acc);
        }
        Ok(Session { start, end, accumulators })
    }

    /// Merges a new session into the key's open ones it overlaps.
    fn merge(&mut self, bytes: &[u8], key: Option<OwnedRow>, mut session: Session, aggregates: &[AggregateSpec]) -> Result<()> {
        let entry = self.keys.entry(bytes.into()).or_insert_with(|| KeySessions { key, open: Vec::new() });
        let mut i = 0;
        while i < entry.open.len() {
            let other = &entry.open[i];
            if other.start < session.end && session.start < other.end {
                let mut other = entry.open.swap_remove(i);
                forget(&mut self.starts, other.start);
                session.start = session.start.min(other.start);
                session.end = session.end.max(other.end);
                for ((acc, from), spec) in session.accumulators.iter_mut().zip(other.accumulators.iter_mut()).zip(aggregates) {
                    let state = from.state().map_err(failed(spec))?;
                    let arrays = state.iter().map(|v| v.to_array()).collect::<Result<Vec<_>, _>>().map_err(failed(spec))?;
                    acc.merge_batch(&arrays).map_err(failed(spec))?;
                }
            } else {
                i += 1;
            }
        }
        self.due.entry(session.end).or_default().push(bytes.into());
        *self.starts.entry(session.start).or_default() += 1;
        entry.open.push(session);
        Ok(())
    }

    /// Removes and evaluates every session that ends at or before
    /// `watermark + 1`.
    pub(super) fn close(&mut self, watermark: i64, aggregates: &[AggregateSpec]) -> Result<Closed> {
        let mut closed = Closed { values: vec![Vec::new(); aggregates.len()], ..Closed::default() };
        while let Some(entry) = self.due.first_entry() {
            let end = *entry.key();
            if end.saturating_sub(1) > watermark {
                break;
            }
            for bytes in entry.remove() {
                let Some(key) = self.keys.get_mut(&bytes) else { continue };
                let mut i = 0;
                while i < key.open.len() {
                    if key.open[i].end == end {
                        let mut session = key.open.swap_remove(i);
                        forget(&mut self.starts, session.start);
                        for ((acc, values), spec) in session.accumulators.iter_mut().zip(&mut closed.values).zip(aggregates) {
                            values.push(acc.evaluate().map_err(failed(spec))?);
                        }
                        closed.starts.push(session.start);
                        closed.ends.push(session.end);
                        if let Some(k) = &key.key {
                            closed.keys.push(k.clone());
                        }
                    } else {
                        i += 1;
                    }
                }
                if key.open.is_empty() {
                    self.keys.remove(&bytes);
                }
            }
        }
        Ok(closed)
    }

    /// Key columns for the keys of closed sessions.
    pub(super) fn key_columns(&self, keys: &[OwnedRow]) -> Result<Vec<ArrayRef>> {
        match &self.converter {
            Some(converter) => converter
                .convert_rows(keys.iter().map(|k| k.row()))
                .map_err(|source| OperatorError::Arrow { operator: "session window".into(), source }),
            None => Ok(Vec::new()),
        }
    }

    /// The start of the earliest open session, if any.
    pub(super) fn earliest_start(&self) -> Option<i64> {
        self.starts.keys().next().copied()
    }

    /// Keys with at least one open session.
    pub(super) fn open_keys(&self) -> usize {
        self.keys.len()
    }
}

impl Sessions {
    /// Encodes every open session as a row (key columns, start, end, each
    /// aggregate's state columns) and rebuilds the accumulators it read
    /// the state out of.
    pub(super) fn save(&mut self, aggregates: &[AggregateSpec]) -> Result<RecordBatch> {
        let widths = aggregates.iter().map(|a| a.expr.state_fields().map(|f| f.len()).map_err(failed(a))).collect::<Result<Vec<_>>>()?;
        let types: Vec<_> = aggregates
            .iter()
            .map(|a| a.expr.state_fields().map_err(failed(a)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .map(|f| f.data_type().clone())
            .collect();
        let mut keys = Vec::new();
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        let mut states: Vec<Vec<ScalarValue>> = vec![Vec::new(); widths.iter().sum()];
        for k in self.keys.values_mut() {
            for session in &mut k.open {
                if let Some(key) = &k.key {
                    keys.push(key.clone());
                }
                starts.push(session.start);
                ends.push(session.end);
                let mut column = 0;
                for (acc, spec) in session.accumulators.iter_mut().zip(aggregates) {
                    let state = acc.state().map_err(failed(spec))?;
                    let arrays = state.iter().map(|v| v.to_array()).collect::<Result<Vec<_>, _>>().map_err(failed(spec))?;
                    let mut fresh = spec.expr.create_accumulator().map_err(failed(spec))?;
                    fresh.merge_batch(&arrays).map_err(failed(spec))?;
                    *acc = fresh;
                    for v in state {
                        if let Some(c) = states.get_mut(column) {
                            c.push(v);
                        }
                        column += 1;
                    }
                }
            }
        }
        let rows = starts.len();
        let mut columns = self.key_columns(&keys)?;
        columns.push(std::sync::Arc::new(Int64Array::from(starts)));
        columns.push(std::sync::Arc::new(Int64Array::from(ends)));
        for (values, data_type) in states.into_iter().zip(types) {
            columns.push(if values.is_empty() {
                datafusion::arrow::array::new_empty_array(&data_type)
            } else {
                ScalarValue::iter_to_array(values).map_err(|source| OperatorError::Aggregate { aggregate: "session state".into(), source })?
            });
        }
        crate::codec::state_batch("window aggregate", columns, rows)
    }

    /// Restores the sessions [`Sessions::save`] wrote (`keys`: how many key
    /// columns lead).
    pub(super) fn load(&mut self, keys: usize, batch: &RecordBatch, aggregates: &[AggregateSpec]) -> Result<()> {
        let bad = |reason: String| OperatorError::Snapshot { operator: "window aggregate".into(), reason };
        let columns = batch.columns();
        let int = |i: usize| columns.get(i).and_then(|c| c.as_primitive_opt::<Int64Type>()).ok_or_else(|| bad(format!("column {i} is not the sessions' times")));
        let (starts, ends) = (int(keys)?, int(keys + 1)?);
        let rows: Vec<(Box<[u8]>, Option<OwnedRow>)> = match &self.converter {
            Some(converter) => {
                let converted = converter
                    .convert_columns(&columns[..keys])
                    .map_err(|source| OperatorError::Arrow { operator: "session window".into(), source })?;
                converted.iter().map(|r| (r.as_ref().into(), Some(r.owned()))).collect()
            }
            None => (0..batch.num_rows()).map(|_| (Box::default(), None)).collect(),
        };
        for (i, (bytes, key)) in rows.into_iter().enumerate() {
            let mut at = keys + 2;
            let mut accumulators = Vec::with_capacity(aggregates.len());
            for spec in aggregates {
                let n = spec.expr.state_fields().map_err(failed(spec))?.len();
                let state: Vec<ArrayRef> = columns.get(at..at + n).ok_or_else(|| bad("missing state columns".into()))?.iter().map(|c| c.slice(i, 1)).collect();
                let mut acc = spec.expr.create_accumulator().map_err(failed(spec))?;
                acc.merge_batch(&state).map_err(failed(spec))?;
                accumulators.push(acc);
                at += n;
            }
            let session = Session { start: starts.value(i), end: ends.value(i), accumulators };
            self.due.entry(session.end).or_default().push(bytes.clone());
            *self.starts.entry(session.start).or_default() += 1;
            self.keys.entry(bytes).or_insert_with(|| KeySessions { key, open: Vec::new() }).open.push(session);
        }
        Ok(())
    }
}

/// Removes one session start from the multiset of open starts.
fn forget(starts: &mut BTreeMap<i64, usize>, start: i64) {
    if let Some(n) = starts.get_mut(&start) {
        *n -= 1;
        if *n == 0 {
            starts.remove(&start);
        }
    }
}
