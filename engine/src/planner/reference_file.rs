//! `'reference.path'` of a windowed monitor: the reference values read from
//! a JSON-lines or CSV file (with a header) when the pipeline is planned,
//! so a bad file is a planning error with its position, not a failure
//! mid-stream.
//!
//! The file holds the watched columns by name (other columns are ignored)
//! and, optionally, the monitor's `partition_by` column: with it, each key
//! has its own reference; without it, one reference serves every key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use weir_operators::drift::ReferenceValues;

/// Reads `path`'s `columns` (and `key`, when the file has it). The error
/// is a sentence for a positioned diagnostic.
pub(super) fn read(path: &str, key: Option<&str>, columns: &[String]) -> Result<ReferenceValues, String> {
    let file = File::open(path).map_err(|e| format!("cannot read reference file '{path}': {e}"))?;
    let csv = path.to_ascii_lowercase().ends_with(".csv");
    let batches = if csv { read_csv(path, file)? } else { read_json(path, file, key, columns)? };
    let mut out = ReferenceValues { path: path.to_string(), per_key: false, values: HashMap::new() };
    for batch in &batches {
        let schema = batch.schema();
        let keys = match key.and_then(|k| schema.index_of(k).ok()) {
            Some(i) => Some(cast(batch.column(i), &DataType::Utf8).map_err(|e| format!("reference file '{path}': key column: {e}"))?),
            None => None,
        };
        out.per_key = keys.is_some();
        let keys = keys.as_ref().map(|k| k.as_string::<i32>());
        for (c, name) in columns.iter().enumerate() {
            let i = schema.index_of(name).map_err(|_| format!("reference file '{path}' has no column '{name}'"))?;
            let values = cast(batch.column(i), &DataType::Float64).map_err(|e| format!("reference file '{path}': column '{name}': {e}"))?;
            let values = values.as_primitive::<Float64Type>();
            for r in 0..batch.num_rows() {
                if values.is_null(r) || values.value(r).is_nan() {
                    continue;
                }
                let k = keys.and_then(|k| k.is_valid(r).then(|| k.value(r).to_string()));
                out.values.entry((k, c)).or_default().push(values.value(r) as f32);
            }
        }
    }
    if out.values.is_empty() {
        return Err(format!("reference file '{path}' has no values of the watched columns"));
    }
    Ok(out)
}

/// Every column as text (CSV types are not declared); cast later.
fn read_csv(path: &str, file: File) -> Result<Vec<RecordBatch>, String> {
    let mut reader = BufReader::new(file);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| format!("cannot read reference file '{path}': {e}"))?;
    let fields: Vec<Field> = header.trim_end().split(',').map(|n| Field::new(n.trim().trim_matches('"'), DataType::Utf8, true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let csv = datafusion::arrow::csv::ReaderBuilder::new(schema).with_header(false).build(reader).map_err(|e| format!("reference file '{path}': {e}"))?;
    csv.collect::<Result<Vec<_>, _>>().map_err(|e| format!("reference file '{path}': {e}"))
}

/// The watched columns as numbers, the key as text; other fields ignored.
fn read_json(path: &str, file: File, key: Option<&str>, columns: &[String]) -> Result<Vec<RecordBatch>, String> {
    let mut fields: Vec<Field> = columns.iter().map(|c| Field::new(c, DataType::Float64, true)).collect();
    if let Some(k) = key {
        fields.push(Field::new(k, DataType::Utf8, true));
    }
    let reader = datafusion::arrow::json::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_coerce_primitive(true)
        .build(BufReader::new(file))
        .map_err(|e| format!("reference file '{path}': {e}"))?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| format!("reference file '{path}': {e}"))?;
    // A JSON reference without the key column serves every key.
    Ok(match key {
        Some(k) if batches.iter().all(|b| b.column_by_name(k).is_some_and(|c| c.null_count() == c.len())) => batches
            .into_iter()
            .filter_map(|b| {
                let keep: Vec<usize> = (0..b.num_columns()).filter(|&i| b.schema().field(i).name() != k).collect();
                b.project(&keep).ok()
            })
            .collect(),
        _ => batches,
    })
}
