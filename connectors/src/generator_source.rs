//! `'connector' = 'generator'` as a source: the synthetic traffic stream of
//! [`crate::generator`], split across workers and paced to `'rate'`.
//!
//! Event indices are cut into chunks of a fixed size and chunk `k` belongs to
//! worker `k % workers`, so the union of all workers' output is the same
//! stream whatever the number of workers. With a rate, chunks are small
//! (about 50 ms of events) and each is released when its time comes, measured
//! from the moment the source opened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::generator::{generate_stream, stream_schema, GeneratorOptions, GeneratorStream};
use crate::source::{BadRecords, Cancel, Position, Source, SourceSpec, SourceStatus, Split};
use crate::{ConnectorError, Result};

/// A configured generator source.
#[derive(Debug, Clone)]
pub struct GeneratorSpec {
    /// The stream's parameters.
    pub options: GeneratorOptions,
    /// The declared columns (a subset of the fixed schema), or all of them.
    pub schema: SchemaRef,
}

impl GeneratorSpec {
    /// Events per chunk: 8192 unpaced, about 50 ms worth when paced.
    fn chunk(&self) -> u64 {
        if self.options.rate > 0.0 { ((self.options.rate / 20.0) as u64).clamp(1, 8192) } else { 8192 }
    }
}

impl SourceSpec for GeneratorSpec {
    fn resumable(&self) -> bool {
        true
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn bounded(&self) -> bool {
        self.options.events > 0
    }

    fn describe(&self) -> String {
        let o = &self.options;
        let mut text = format!("generator sensors={} seed={}", o.sensors, o.seed);
        text.push_str(&if o.events == 0 { " events=unbounded".to_string() } else { format!(" events={}", o.events) });
        if o.rate > 0.0 {
            text.push_str(&format!(" rate={}/s", o.rate));
        }
        if o.disorder_ms > 0 {
            text.push_str(&format!(" disorder_ms={}", o.disorder_ms));
        }
        if let Some(d) = o.drift_at {
            text.push_str(&format!(" drift_at={d}"));
        }
        if o.drift_concept == crate::generator::DriftConcept::Inverted {
            text.push_str(" drift_concept=inverted");
        }
        if o.stream == GeneratorStream::Labels {
            text.push_str(&format!(" stream=labels label_delay_ms={}", o.label_delay_ms));
        }
        text
    }

    fn open(&self, split: Split, _bad: Arc<BadRecords>, _cancel: &Cancel) -> Result<Box<dyn Source>> {
        let projection = self
            .schema
            .fields()
            .iter()
            .map(|f| stream_schema(&self.options).index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| ConnectorError::Arrow { context: "generator columns".into(), source })?;
        Ok(Box::new(GeneratorSource {
            spec: self.clone(),
            projection,
            chunk: self.chunk(),
            next_chunk: split.worker as u64,
            stride: split.workers.max(1) as u64,
            started: Instant::now(),
            first: 0,
        }))
    }
}

struct GeneratorSource {
    spec: GeneratorSpec,
    projection: Vec<usize>,
    chunk: u64,
    next_chunk: u64,
    stride: u64,
    started: Instant,
    /// The first event index of this run (not 0 after a resume): the rate
    /// counts from it.
    first: u64,
}

impl Source for GeneratorSource {
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus> {
        let o = &self.spec.options;
        let start = self.next_chunk.saturating_mul(self.chunk);
        if o.events > 0 && start >= o.events {
            return Ok(SourceStatus::Finished);
        }
        if o.rate > 0.0 {
            let due = Duration::from_secs_f64(start.saturating_sub(self.first) as f64 / o.rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                return Ok(SourceStatus::Idle(due - elapsed));
            }
        }
        let end = if o.events > 0 { (start + self.chunk).min(o.events) } else { start + self.chunk };
        let batch = generate_stream(o, start..end)
            .and_then(|b| b.project(&self.projection))
            .map_err(|source| ConnectorError::Arrow { context: "generating events".into(), source })?;
        out.push(batch);
        self.next_chunk += self.stride;
        Ok(SourceStatus::Active)
    }

    /// The next chunk of event indices to generate. A throttled generator
    /// resumes at its rate from there (its clock restarts at that event).
    fn position(&self) -> Option<Position> {
        let mut next = self.next_chunk.saturating_mul(self.chunk);
        if self.spec.options.events > 0 {
            next = next.min(self.spec.options.events);
        }
        Some(Position::new(vec![i64::try_from(self.next_chunk).unwrap_or(i64::MAX)], format!("event {next}")))
    }

    fn resume(&mut self, position: &Position) -> Result<()> {
        let next = position.value(0).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
            ConnectorError::Resume(format!("a generator position is one chunk index, not {:?}", position.values))
        })?;
        if next % self.stride != self.next_chunk % self.stride {
            return Err(ConnectorError::Resume(format!(
                "chunk {next} is not this split's (worker {} of {}): the worker count changed",
                self.next_chunk % self.stride,
                self.stride
            )));
        }
        self.next_chunk = next;
        // The rate is kept from here on: the first resumed event is due now.
        self.first = next.saturating_mul(self.chunk);
        self.started = Instant::now();
        Ok(())
    }
}
