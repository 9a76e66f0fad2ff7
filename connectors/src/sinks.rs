//! The built-in sinks: `file`, `stdout` and `blackhole`.
//!
//! `file` and `stdout` are not parallel: the engine gathers their rows to
//! worker 0, which owns the one file or terminal. `blackhole` discards rows on
//! every worker, for benchmarks and for pipelines run only for their side
//! effects (as Flink's connector of the same name).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use datafusion::arrow::array::RecordBatch;

use crate::encode::{write_csv, write_json, TableWriter};
use crate::source::{Sink, SinkSpec, Split};
use crate::{ConnectorError, Result};

/// How a sink lays out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkFormat {
    /// JSON lines.
    Json,
    /// CSV with a header line.
    Csv,
    /// An aligned table for people (stdout only).
    Table,
}

fn encode(format: SinkFormat, table: &mut TableWriter, wrote_header: &mut bool, batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 96);
    match format {
        SinkFormat::Json => write_json(batch, &mut buf)?,
        SinkFormat::Csv => {
            write_csv(batch, !*wrote_header, &mut buf)?;
            *wrote_header = true;
        }
        SinkFormat::Table => table.write(batch, &mut buf)?,
    }
    Ok(buf)
}

/// Writes to one local file, created (or truncated) when the pipeline starts.
#[derive(Debug, Clone)]
pub struct FileSinkSpec {
    /// The file written.
    pub path: PathBuf,
    /// JSON lines or CSV.
    pub format: SinkFormat,
}

impl SinkSpec for FileSinkSpec {
    fn describe(&self) -> String {
        format!("file path={} format={}", self.path.display(), format_name(self.format))
    }
    fn parallel(&self) -> bool {
        false
    }
    fn open(&self, _split: Split) -> Result<Box<dyn Sink>> {
        let file = File::create(&self.path).map_err(|source| ConnectorError::Io { path: self.path.clone(), source })?;
        Ok(Box::new(WriterSink {
            path: self.path.clone(),
            out: BufWriter::with_capacity(1 << 20, Box::new(file)),
            format: self.format,
            table: TableWriter::default(),
            wrote_header: false,
        }))
    }
}

/// Writes to standard output.
#[derive(Debug, Clone)]
pub struct StdoutSinkSpec {
    /// JSON lines, CSV or an aligned table.
    pub format: SinkFormat,
}

impl SinkSpec for StdoutSinkSpec {
    fn describe(&self) -> String {
        format!("stdout format={}", format_name(self.format))
    }
    fn parallel(&self) -> bool {
        false
    }
    fn open(&self, _split: Split) -> Result<Box<dyn Sink>> {
        Ok(Box::new(WriterSink {
            path: PathBuf::from("<stdout>"),
            out: BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())),
            format: self.format,
            table: TableWriter::default(),
            wrote_header: false,
        }))
    }
}

fn format_name(format: SinkFormat) -> &'static str {
    match format {
        SinkFormat::Json => "json",
        SinkFormat::Csv => "csv",
        SinkFormat::Table => "table",
    }
}

struct WriterSink {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    format: SinkFormat,
    table: TableWriter,
    wrote_header: bool,
}

impl WriterSink {
    fn io(&self) -> impl FnOnce(std::io::Error) -> ConnectorError + '_ {
        move |source| ConnectorError::Io { path: self.path.clone(), source }
    }
}

impl Sink for WriterSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let bytes = encode(self.format, &mut self.table, &mut self.wrote_header, batch)?;
        self.out.write_all(&bytes).map_err(|source| ConnectorError::Io { path: self.path.clone(), source })?;
        if self.format == SinkFormat::Table {
            // People watch this live: do not sit on a full buffer.
            self.out.flush().map_err(self.io())?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(self.io())
    }
    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|source| ConnectorError::Io { path: self.path.clone(), source })
    }
}

/// Discards every row (counting them is the engine's job).
#[derive(Debug, Clone, Copy)]
pub struct BlackholeSinkSpec;

impl SinkSpec for BlackholeSinkSpec {
    fn describe(&self) -> String {
        "blackhole".to_string()
    }
    fn parallel(&self) -> bool {
        true
    }
    fn open(&self, _split: Split) -> Result<Box<dyn Sink>> {
        Ok(Box::new(Blackhole))
    }
}

struct Blackhole;

impl Sink for Blackhole {
    fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
