//! The built-in sinks: `file`, `stdout` and `blackhole`.
//!
//! `file` and `stdout` are not parallel: the engine gathers their rows to
//! worker 0, which owns the one file or terminal. `blackhole` discards rows on
//! every worker, for benchmarks and for pipelines run only for their side
//! effects (as Flink's connector of the same name).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use datafusion::arrow::array::RecordBatch;

use crate::encode::{write_csv, write_json, TableWriter};
use crate::source::{Cancel, Position, Resume, Sink, SinkSpec, Split};
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

/// What a file sink does with a file that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileMode {
    /// Keep what is there and add to it (the default): a pipeline that
    /// restarts after a crash, or resumes from committed offsets, never
    /// loses what an earlier run wrote. An incomplete last line (a write
    /// cut short by the crash) is cut off first, and a CSV file's header is
    /// written only once (it must match the columns written).
    #[default]
    Append,
    /// Truncate the file when the pipeline starts.
    Overwrite,
}

/// Writes to one local file.
#[derive(Debug, Clone)]
pub struct FileSinkSpec {
    /// The file written.
    pub path: PathBuf,
    /// JSON lines or CSV.
    pub format: SinkFormat,
    /// Append to the file or overwrite it.
    pub mode: FileMode,
}

impl SinkSpec for FileSinkSpec {
    fn resumable(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        let mode = match self.mode {
            FileMode::Append => "append",
            FileMode::Overwrite => "overwrite",
        };
        format!("file path={} format={} mode={mode}", self.path.display(), format_name(self.format))
    }
    fn parallel(&self) -> bool {
        false
    }
    fn open(&self, split: Split, cancel: &Cancel) -> Result<Box<dyn Sink>> {
        self.open_from(split, cancel, "", None)
    }

    /// From a checkpoint: the file is cut back to the length it had when
    /// the checkpoint was taken (whatever the mode), so the rows the
    /// replay writes again are there once.
    fn open_from(&self, _split: Split, _cancel: &Cancel, _writer: &str, resume: Option<Resume<'_>>) -> Result<Box<dyn Sink>> {
        let io = |source| ConnectorError::Io { path: self.path.clone(), source };
        if let Some(Resume { position, .. }) = resume {
            let length = position.value(0).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
                ConnectorError::Resume(format!("a file sink's position is its length, not {:?}", position.values))
            })?;
            let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path).map_err(io)?;
            let now = file.metadata().map_err(io)?.len();
            if now < length {
                return Err(ConnectorError::Resume(format!(
                    "{} is {now} bytes, shorter than the {length} bytes the checkpoint wrote: it was cut or replaced",
                    self.path.display()
                )));
            }
            if now > length {
                tracing::info!(path = %self.path.display(), bytes = now - length, "file sink: cutting what was written after the checkpoint");
                file.set_len(length).map_err(io)?;
            }
            let header = match self.format {
                SinkFormat::Csv => first_line(&mut file).map_err(io)?,
                _ => None,
            };
            file.seek(SeekFrom::Start(length)).map_err(io)?;
            return Ok(Box::new(WriterSink::file(self, file, header, length)?));
        }
        let (file, existing_header) = match self.mode {
            FileMode::Overwrite => (File::create(&self.path).map_err(io)?, None),
            FileMode::Append => {
                let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path).map_err(io)?;
                cut_incomplete_line(&mut file, &self.path)?;
                let header = match self.format {
                    SinkFormat::Csv => first_line(&mut file).map_err(io)?,
                    _ => None,
                };
                (file, header)
            }
        };
        let length = file.metadata().map_err(io)?.len();
        Ok(Box::new(WriterSink::file(self, file, existing_header, length)?))
    }
}

/// Cuts a regular file back to the end of its last complete line: what a
/// crash in the middle of a write leaves is not a row.
fn cut_incomplete_line(file: &mut File, path: &std::path::Path) -> Result<()> {
    let io = |source| ConnectorError::Io { path: path.to_path_buf(), source };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(());
    }
    let len = meta.len();
    // Read backwards in blocks until a newline is found.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    let complete = loop {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        file.read_exact(&mut block[..n]).map_err(io)?;
        if let Some(i) = block[..n].iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    if complete < len {
        tracing::warn!(path = %path.display(), bytes = len - complete, "file sink: cutting an incomplete last line left by an earlier run");
        file.set_len(complete).map_err(io)?;
    }
    Ok(())
}

/// The file's first line (without its newline), if it has one.
fn first_line(file: &mut File) -> std::io::Result<Option<String>> {
    file.seek(SeekFrom::Start(0))?;
    let mut line = String::new();
    let n = std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut *file), &mut line)?;
    Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
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
    fn open(&self, _split: Split, _cancel: &Cancel) -> Result<Box<dyn Sink>> {
        Ok(Box::new(WriterSink {
            path: PathBuf::from("<stdout>"),
            out: BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())),
            format: self.format,
            table: TableWriter::default(),
            wrote_header: false,
            existing_header: None,
            file: None,
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
    /// The header line of a CSV file appended to, checked against ours.
    existing_header: Option<String>,
    /// A file's handle for `fsync`, and its length with everything
    /// written (flushed or not).
    file: Option<(File, u64)>,
}

impl WriterSink {
    /// A writer appending to `file`, which is `length` bytes now.
    fn file(spec: &FileSinkSpec, file: File, existing_header: Option<String>, length: u64) -> Result<Self> {
        let handle = file.try_clone().map_err(|source| ConnectorError::Io { path: spec.path.clone(), source })?;
        Ok(Self {
            path: spec.path.clone(),
            out: BufWriter::with_capacity(1 << 20, Box::new(file)),
            format: spec.format,
            table: TableWriter::default(),
            wrote_header: false,
            existing_header,
            file: Some((handle, length)),
        })
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> ConnectorError + '_ {
        move |source| ConnectorError::Io { path: self.path.clone(), source }
    }
}

impl Sink for WriterSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Some(existing) = self.existing_header.take() {
            let ours = batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(",");
            if existing != ours {
                return Err(ConnectorError::Schema {
                    connector: "file".into(),
                    reason: format!(
                        "{} already has the header '{existing}', but this pipeline writes '{ours}'; write to another file or set 'mode' = 'overwrite'",
                        self.path.display()
                    ),
                });
            }
            self.wrote_header = true;
        }
        let bytes = encode(self.format, &mut self.table, &mut self.wrote_header, batch)?;
        self.out.write_all(&bytes).map_err(|source| ConnectorError::Io { path: self.path.clone(), source })?;
        if let Some((_, length)) = self.file.as_mut() {
            *length += bytes.len() as u64;
        }
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
    fn position(&mut self) -> Result<Option<Position>> {
        self.out.flush().map_err(self.io())?;
        let Some((file, length)) = self.file.as_ref() else { return Ok(None) };
        file.sync_data().map_err(|source| ConnectorError::Io { path: self.path.clone(), source })?;
        let length = *length;
        Ok(Some(Position::new(vec![i64::try_from(length).unwrap_or(i64::MAX)], format!("{length} bytes of {}", self.path.display()))))
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
    fn open(&self, _split: Split, _cancel: &Cancel) -> Result<Box<dyn Sink>> {
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
