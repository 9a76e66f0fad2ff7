//! `'connector' = 'file'` as a source: JSON lines or CSV from a local file.
//!
//! A bounded file is split across workers by byte ranges, each adjusted to
//! line boundaries (the way Hadoop splits text files), so every worker decodes
//! its own share and no line is read twice. In follow mode the file is a
//! growing log: worker 0 reads it to the end and then keeps polling for new
//! complete lines until the pipeline is stopped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::decode::{Format, RecordDecoder};
use crate::source::{BadRecords, Cancel, OnError, Position, Source, SourceSpec, SourceStatus, Split};
use crate::{ConnectorError, Result};

/// Bytes read per poll.
const CHUNK: usize = 1 << 20;
/// How often a followed file is checked for growth.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// A configured file source.
#[derive(Debug, Clone)]
pub struct FileSourceSpec {
    /// The file.
    pub path: PathBuf,
    /// JSON lines or CSV.
    pub format: Format,
    /// The declared columns.
    pub schema: SchemaRef,
    /// Keep reading as the file grows.
    pub follow: bool,
    /// What to do with malformed records.
    pub on_error: OnError,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io { path: path.to_path_buf(), source }
}

impl SourceSpec for FileSourceSpec {
    fn resumable(&self) -> bool {
        true
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn bounded(&self) -> bool {
        !self.follow
    }

    fn describe(&self) -> String {
        let format = match self.format {
            Format::Json => "json",
            Format::Csv => "csv",
        };
        format!(
            "file path={} format={format}{}",
            self.path.display(),
            if self.follow { " follow" } else { "" }
        )
    }

    fn open(&self, split: Split, bad: Arc<BadRecords>, _cancel: &Cancel) -> Result<Box<dyn Source>> {
        let mut file = File::open(&self.path).map_err(io_err(&self.path))?;
        let len = file.metadata().map_err(io_err(&self.path))?.len();
        let (header, header_len) = match self.format {
            Format::Csv => read_header(&self.path)?,
            Format::Json => (Vec::new(), 0),
        };
        let decoder = match self.format {
            Format::Json => RecordDecoder::json(Arc::clone(&self.schema))?,
            Format::Csv => RecordDecoder::csv(Arc::clone(&self.schema), &header)?,
        };
        // Follow mode: worker 0 reads everything; others have nothing.
        let (start, end) = if self.follow {
            if split.worker == 0 { (header_len, None) } else { (0, Some(0)) }
        } else {
            let n = split.workers.max(1) as u64;
            let w = split.worker as u64;
            let s = (len * w / n).max(header_len);
            let e = (len * (w + 1) / n).max(header_len);
            let start = line_start_at_or_after(&mut file, s, header_len, &self.path)?;
            let end = line_start_at_or_after(&mut file, e, header_len, &self.path)?;
            (start, Some(end.max(start)))
        };
        file.seek(SeekFrom::Start(start)).map_err(io_err(&self.path))?;
        Ok(Box::new(FileSource {
            path: self.path.clone(),
            file,
            pos: start,
            end,
            pending: Vec::new(),
            pending_start: start,
            decoder,
            on_error: self.on_error,
            bad,
            done: false,
        }))
    }
}

/// Reads the CSV header: the column names and the header's length in bytes.
fn read_header(path: &Path) -> Result<(Vec<String>, u64)> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut line = String::new();
    let n = BufReader::new(file).read_line(&mut line).map_err(io_err(path))?;
    let names = line
        .trim_end_matches(['\r', '\n'])
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    Ok((names, n as u64))
}

/// The offset of the first line that starts at or after `offset` (lines
/// start at `floor` or just after a newline).
fn line_start_at_or_after(file: &mut File, offset: u64, floor: u64, path: &Path) -> Result<u64> {
    if offset <= floor {
        return Ok(floor);
    }
    file.seek(SeekFrom::Start(offset - 1)).map_err(io_err(path))?;
    let mut reader = BufReader::new(&mut *file);
    let mut skipped = Vec::new();
    let n = reader.read_until(b'\n', &mut skipped).map_err(io_err(path))?;
    Ok(offset - 1 + n as u64)
}

struct FileSource {
    path: PathBuf,
    file: File,
    /// Next byte to read.
    pos: u64,
    /// Where this split ends (`None`: follow the file).
    end: Option<u64>,
    /// Bytes read but not yet decoded (an incomplete last line).
    pending: Vec<u8>,
    /// File offset of `pending[0]`.
    pending_start: u64,
    decoder: RecordDecoder,
    on_error: OnError,
    bad: Arc<BadRecords>,
    done: bool,
}

impl FileSource {
    /// The 1-based line number of a byte offset (only computed for errors).
    fn position(&self, offset: u64) -> String {
        let line = File::open(&self.path).ok().map(|f| {
            let mut count = 1u64;
            let mut reader = BufReader::new(f.take(offset));
            let mut buf = Vec::new();
            while let Ok(n) = reader.read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                if buf.last() == Some(&b'\n') {
                    count += 1;
                }
                buf.clear();
            }
            count
        });
        match line {
            Some(line) => format!("{}:{line}", self.path.display()),
            None => format!("{} byte {offset}", self.path.display()),
        }
    }

    fn decode_complete_lines(&mut self, upto: usize, out: &mut Vec<RecordBatch>) -> Result<()> {
        let bytes: Vec<u8> = self.pending.drain(..upto).collect();
        let base = self.pending_start;
        self.pending_start += upto as u64;
        let mut failures: Vec<(u64, String)> = Vec::new();
        let policy = self.on_error;
        let result = self.decoder.decode(&bytes, out, &mut |offset, reason| {
            failures.push((base + offset as u64, reason));
            match policy {
                OnError::Skip => Ok(()),
                OnError::Fail => Err(ConnectorError::MalformedRecord { position: String::new(), reason: String::new() }),
            }
        });
        for (offset, reason) in failures {
            let position = self.position(offset);
            self.bad.handle(self.on_error, position, reason)?;
        }
        result
    }
}

impl Source for FileSource {
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus> {
        if self.done {
            return Ok(SourceStatus::Finished);
        }
        let want = match self.end {
            Some(end) => CHUNK.min(end.saturating_sub(self.pos) as usize),
            None => CHUNK,
        };
        let old = self.pending.len();
        self.pending.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            let n = self.file.read(&mut self.pending[old + got..]).map_err(io_err(&self.path))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.pending.truncate(old + got);
        self.pos += got as u64;
        let at_end = match self.end {
            Some(end) => self.pos >= end || got == 0,
            None => false,
        };
        if at_end {
            let all = self.pending.len();
            self.decode_complete_lines(all, out)?;
            self.done = true;
            return Ok(SourceStatus::Finished);
        }
        if let Some(last_newline) = memchr::memrchr(b'\n', &self.pending) {
            self.decode_complete_lines(last_newline + 1, out)?;
        }
        if got == 0 {
            // Follow mode at the end of the file for now.
            return Ok(SourceStatus::Idle(FOLLOW_INTERVAL));
        }
        Ok(SourceStatus::Active)
    }

    /// The first byte not yet handed out (an incomplete last line is
    /// read again) and where the split ends, so that a resumed reader
    /// keeps the same split even if the file has grown since.
    fn position(&self) -> Option<Position> {
        let end = self.end.map_or(-1, |e| e as i64);
        let text = match self.end {
            Some(e) => format!("byte {} of {}..{e}", self.pending_start, self.path.display()),
            None => format!("byte {} of {} (followed)", self.pending_start, self.path.display()),
        };
        Some(Position::new(vec![self.pending_start as i64, end], text))
    }

    fn resume(&mut self, position: &Position) -> Result<()> {
        let (Some(at), Some(end)) = (position.value(0), position.value(1)) else {
            return Err(ConnectorError::Resume(format!("{}: a file position has two values, not {:?}", self.path.display(), position.values)));
        };
        let len = self.file.metadata().map_err(io_err(&self.path))?.len();
        let at = u64::try_from(at).unwrap_or(0);
        if at > len {
            return Err(ConnectorError::Resume(format!(
                "{} is {len} bytes, shorter than the checkpoint's position {at}: it was replaced or cut",
                self.path.display()
            )));
        }
        self.file.seek(SeekFrom::Start(at)).map_err(io_err(&self.path))?;
        self.pos = at;
        self.pending.clear();
        self.pending_start = at;
        self.end = u64::try_from(end).ok();
        self.done = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use std::io::Write;

    fn run(spec: &FileSourceSpec, workers: usize) -> (Vec<i64>, u64) {
        let bad = Arc::new(BadRecords::new("t"));
        let mut ids = Vec::new();
        for worker in 0..workers {
            let mut src = spec.open(Split { worker, workers }, Arc::clone(&bad), &Cancel::default()).unwrap();
            let mut out = Vec::new();
            while src.poll(&mut out).unwrap() != SourceStatus::Finished {}
            for b in out {
                ids.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
            }
        }
        ids.sort();
        (ids, bad.count())
    }

    #[test]
    fn a_resumed_reader_continues_after_the_lines_it_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json");
        let lines: String = (0..200_000).map(|i| format!("{{\"id\": {i}}}\n")).collect();
        std::fs::write(&path, &lines).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let spec = FileSourceSpec { path: path.clone(), format: Format::Json, schema, follow: false, on_error: OnError::Skip };
        let ids = |batches: &[RecordBatch]| -> Vec<i64> {
            batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
        };
        for workers in [1, 2] {
            for worker in 0..workers {
                let split = Split { worker, workers };
                let bad = Arc::new(BadRecords::new("t"));
                // Uninterrupted.
                let mut whole = spec.open(split, Arc::clone(&bad), &Cancel::default()).unwrap();
                let mut all = Vec::new();
                while whole.poll(&mut all).unwrap() != SourceStatus::Finished {}
                // Cut after the first poll, resumed by a new reader.
                let mut first = spec.open(split, Arc::clone(&bad), &Cancel::default()).unwrap();
                let mut before = Vec::new();
                let _ = first.poll(&mut before).unwrap();
                let position = first.position().unwrap();
                let mut second = spec.open(split, Arc::clone(&bad), &Cancel::default()).unwrap();
                second.resume(&position).unwrap();
                let mut after = Vec::new();
                while second.poll(&mut after).unwrap() != SourceStatus::Finished {}
                let mut joined = ids(&before);
                joined.extend(ids(&after));
                assert_eq!(joined, ids(&all), "worker {worker} of {workers}");
            }
        }
    }

    #[test]
    fn splits_cover_every_line_once() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for i in 0..1000 {
            if i % 97 == 5 {
                writeln!(f, "{{\"id\": oops}}").unwrap();
            } else {
                writeln!(f, "{{\"id\": {i}, \"pad\": \"{}\"}}", "x".repeat(i % 13)).unwrap();
            }
        }
        write!(f, "{{\"id\": 1000}}").unwrap(); // no trailing newline
        f.flush().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let spec = FileSourceSpec {
            path: f.path().to_path_buf(),
            format: Format::Json,
            schema,
            follow: false,
            on_error: OnError::Skip,
        };
        let expected: Vec<i64> = (0..=1000).filter(|i| i % 97 != 5).collect();
        for workers in [1, 2, 3, 7] {
            let (ids, bad) = run(&spec, workers);
            assert_eq!(ids, expected, "workers={workers}");
            assert_eq!(bad, 11);
        }
    }

    #[test]
    fn follow_mode_reads_a_line_written_in_two_parts_once_whole() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "{{\"id\": 1}}").unwrap();
        f.flush().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let spec = FileSourceSpec { path: f.path().to_path_buf(), format: Format::Json, schema, follow: true, on_error: OnError::Fail };
        let bad = Arc::new(BadRecords::new("t"));
        let mut src = spec.open(Split::WHOLE, bad, &Cancel::default()).unwrap();
        let ids = |out: &[RecordBatch]| -> Vec<i64> { out.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect() };
        let mut out = Vec::new();
        while src.poll(&mut out).unwrap() == SourceStatus::Active {}
        assert_eq!(ids(&out), vec![1]);
        // Half a line: nothing yet, and no malformed record.
        write!(f, "{{\"id\": 2").unwrap();
        f.flush().unwrap();
        out.clear();
        while src.poll(&mut out).unwrap() == SourceStatus::Active {}
        assert!(ids(&out).is_empty());
        writeln!(f, "2}}").unwrap();
        f.flush().unwrap();
        while src.poll(&mut out).unwrap() == SourceStatus::Active {}
        assert_eq!(ids(&out), vec![22]);
    }

    #[test]
    fn fail_policy_names_the_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "id,name\n1,a\nx,b\n3,c").unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let spec = FileSourceSpec {
            path: f.path().to_path_buf(),
            format: Format::Csv,
            schema,
            follow: false,
            on_error: OnError::Fail,
        };
        let bad = Arc::new(BadRecords::new("t"));
        let mut src = spec.open(Split::WHOLE, bad, &Cancel::default()).unwrap();
        let mut out = Vec::new();
        let err = loop {
            match src.poll(&mut out) {
                Ok(SourceStatus::Finished) => panic!("expected an error"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains(":3:"), "{err}");
    }
}
