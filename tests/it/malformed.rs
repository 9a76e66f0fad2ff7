//! Malformed records of every kind are counted and skipped, each once, and
//! never decoded as data; values are decoded as SQL would cast them.

use datafusion::arrow::array::RecordBatch;

fn run_file(ddl_columns: &str, format: &str, text: &str, query: &str, workers: usize) -> (Vec<String>, weir_engine::RunReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join(format!("in.{format}")), dir.path().join("out.json"));
    std::fs::write(&input, text).expect("write");
    let sql = format!(
        "CREATE TABLE t ({ddl_columns}) WITH ('connector' = 'file', 'path' = '{}', 'format' = '{format}');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out {query};",
        input.display(),
        output.display()
    );
    let report = weir_engine::run(weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}")), weir_engine::RunOptions::default().workers(workers))
        .expect("runs");
    let mut lines: Vec<String> = std::fs::read_to_string(&output).unwrap_or_default().lines().map(str::to_string).collect();
    lines.sort();
    (lines, report)
}

/// Each a record that is not a valid reading, and why.
const MALFORMED: &[&str] = &[
    // arrow-json's tape decoder skips commas; these must still be refused.
    "{\"sensor_id\": 6 \"ts_ms\": 1767225600000, \"speed\": 1.0}",
    "{\"sensor_id\": 6,, \"ts_ms\": 1767225600000, \"speed\": 1.0}",
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000, \"speed\": 1.0,}",
    "{, \"sensor_id\": 6, \"ts_ms\": 1767225600000}",
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000, \"tags\": [1 2]}",
    // Two records on one line.
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000} {\"sensor_id\": 7, \"ts_ms\": 1767225600000}",
    // Not JSON, not an object, cut short.
    "not json at all",
    "[6, 1767225600000, 1.0]",
    "\"just a string\"",
    "{\"sensor_id\": 6, \"ts_ms\": 17672256",
    // Wrong types and missing NOT NULL values.
    "{\"sensor_id\": \"s006\", \"ts_ms\": 1767225600000}",
    "{\"ts_ms\": 1767225600000, \"speed\": 2.0}",
    "{\"sensor_id\": null, \"ts_ms\": 1767225600000}",
    "{\"sensor_id\": 99999999999999999999999, \"ts_ms\": 1767225600000}",
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000, \"speed\": 1.2.3}",
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000, \"speed\": NaN}",
    // A raw control character in a string.
    "{\"sensor_id\": 6, \"ts_ms\": 1767225600000, \"road\": \"A\u{1}1\"}",
];

const COLUMNS: &str = "sensor_id BIGINT NOT NULL, ts_ms BIGINT NOT NULL, speed DOUBLE, road VARCHAR";

#[test]
fn every_kind_of_malformed_json_record_is_counted_once_and_never_decoded() {
    let mut text = String::new();
    let mut expected = Vec::new();
    for i in 0..5000 {
        text.push_str(&format!("{{\"sensor_id\": {}, \"ts_ms\": {}, \"speed\": {}.5, \"road\": \"A{}\"}}\n", i % 50, 1_767_225_600_000i64 + i, i % 130, i % 9));
        expected.push(format!("{{\"sensor_id\":{},\"ts_ms\":{},\"speed\":{}.5,\"road\":\"A{}\"}}", i % 50, 1_767_225_600_000i64 + i, i % 130, i % 9));
        if i % 250 == 17 {
            text.push_str(MALFORMED[(i / 250) as usize % MALFORMED.len()]);
            text.push('\n');
        }
    }
    let bad = (0..5000).filter(|i| i % 250 == 17).count() as u64;
    expected.sort();
    for workers in [1, 2] {
        let (got, report) = run_file(COLUMNS, "json", &text, "SELECT * FROM t", workers);
        assert_eq!(report.malformed.get("t").copied(), Some(bad), "{:?}", report.malformed_summaries);
        assert_eq!(got, expected, "{workers} workers");
    }
    // Each kind alone, so none hides behind another.
    for record in MALFORMED {
        let (got, report) = run_file(COLUMNS, "json", &format!("{{\"sensor_id\": 1, \"ts_ms\": 2}}\n{record}\n"), "SELECT sensor_id FROM t", 1);
        assert_eq!(report.malformed.get("t").copied(), Some(1), "{record}: {:?}", report.malformed_summaries);
        assert_eq!(got, vec!["{\"sensor_id\":1}".to_string()], "{record}");
    }
}

#[test]
fn a_missing_not_null_value_is_named_with_its_record() {
    let text = "{\"sensor_id\": 1, \"ts_ms\": 2}\n{\"ts_ms\": 3, \"speed\": 1.0}\n";
    let (_, report) = run_file(COLUMNS, "json", text, "SELECT sensor_id FROM t", 1);
    let summary = report.malformed_summaries.join("\n");
    assert!(summary.contains("in.json:2: the record has no value for 'sensor_id', which is declared NOT NULL"), "{summary}");
    let csv = "sensor_id,ts_ms,speed\n1,2,3.0\n,4,5.0\n";
    let (got, report) = run_file(COLUMNS, "csv", csv, "SELECT sensor_id FROM t", 1);
    assert_eq!(got, vec!["{\"sensor_id\":1}".to_string()]);
    let summary = report.malformed_summaries.join("\n");
    assert!(summary.contains("in.csv:3: the record has no value for 'sensor_id'"), "{summary}");
}

/// DataFusion's CAST of each text to `DECIMAL(10, 2)`: what the decoders
/// must give.
fn cast_decimals(texts: &[&str]) -> Vec<String> {
    let ctx = weir_engine::session();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    texts
        .iter()
        .map(|t| {
            let batches: Vec<RecordBatch> =
                rt.block_on(async { ctx.sql(&format!("SELECT CAST('{t}' AS DECIMAL(10, 2)) AS d")).await.expect("plans").collect().await.expect("runs") });
            let column = batches[0].column(0);
            datafusion::arrow::util::display::array_value_to_string(column, 0).expect("display")
        })
        .collect()
}

#[test]
fn decimals_round_as_cast_does_from_json_and_csv() {
    let texts = ["12.345", "1.005", "-12.345", "2.5", "0.004", "0.005", "-0.005", "99.994", "7"];
    let expected = cast_decimals(&texts);
    assert_eq!(expected[0], "12.35", "DataFusion's CAST rounds half away from zero");
    let json: String = texts.iter().enumerate().map(|(i, t)| format!("{{\"i\": {i}, \"d\": {t}}}\n")).collect();
    let csv: String = std::iter::once("i,d\n".to_string()).chain(texts.iter().enumerate().map(|(i, t)| format!("{i},{t}\n"))).collect();
    for (format, text) in [("json", json), ("csv", csv)] {
        let (got, report) = run_file("i BIGINT NOT NULL, d DECIMAL(10, 2)", format, &text, "SELECT i, CAST(d AS VARCHAR) AS d FROM t", 1);
        assert_eq!(report.malformed.get("t").copied(), Some(0));
        let mut by_index: Vec<(i64, String)> = got
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                (v["i"].as_i64().expect("i"), v["d"].as_str().expect("d").to_string())
            })
            .collect();
        by_index.sort();
        let values: Vec<String> = by_index.into_iter().map(|(_, d)| d).collect();
        assert_eq!(values, expected, "{format}");
    }
}

#[test]
fn a_quoted_number_is_read_as_the_number() {
    // Documented in docs/sql.md (Formats): JSON numbers may come quoted, as
    // many producers write them; a quoted value that is not a number is a
    // malformed record.
    let text = "{\"sensor_id\": \"7\", \"ts_ms\": 1, \"speed\": \"61.5\"}\n{\"sensor_id\": 8, \"ts_ms\": 2, \"speed\": \"fast\"}\n";
    let (got, report) = run_file(COLUMNS, "json", text, "SELECT sensor_id, speed FROM t", 1);
    assert_eq!(got, vec!["{\"sensor_id\":7,\"speed\":61.5}".to_string()]);
    assert_eq!(report.malformed.get("t").copied(), Some(1));
}

#[test]
fn a_decimal_arrow_cannot_parse_is_a_malformed_record_not_a_crash() {
    // Found by the JSON fuzzer: arrow 59.3 divides an i256 by zero (a
    // panic, not an error) on a decimal with hundreds of digits. The record
    // is counted as malformed; the records around it are read.
    let long = "12367897041.6501956789012345678907888812345678907888888888888888888888888888888888888888888333333333333333335019567890123456789078888123456789078888888888888888888888888888888888888888883333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333388888888888888E9";
    let text = format!("{{\"i\": 1, \"d\": 1.5}}\n{{\"i\": 2, \"d\": {long}}}\n{{\"i\": 3, \"d\": 2.25}}\n");
    let (got, report) = run_file("i BIGINT NOT NULL, d DECIMAL(38, 4)", "json", &text, "SELECT i, CAST(d AS VARCHAR) AS d FROM t", 1);
    assert_eq!(report.malformed.get("t").copied(), Some(1), "{got:?}");
    assert_eq!(got, vec![r#"{"i":1,"d":"1.5000"}"#.to_string(), r#"{"i":3,"d":"2.2500"}"#.to_string()]);
}
