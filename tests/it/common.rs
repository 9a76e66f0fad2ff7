//! Helpers the oracle tests share.

use datafusion::arrow::array::RecordBatch;

/// An epoch-millisecond time as RFC 3339, as the test inputs write it.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The rows of batches as sorted JSON lines, encoded by Weir's own JSON
/// encoder so that they compare with what a file sink wrote.
pub(crate) fn lines_of(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        weir_connectors::encode::write_json(b, &mut out).expect("encode");
    }
    let mut lines: Vec<String> = String::from_utf8(out).expect("utf8").lines().map(str::to_string).collect();
    lines.sort();
    lines
}
