//! The row-level error policy: one bad row does not stop a stream. A row
//! whose expression fails is counted, logged and dead-lettered, and every
//! other row comes out exactly as DataFusion's batch engine computes it for
//! the rows that do not fail.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;

use crate::common::lines_of;

/// 600 readings: `id` 0..600, `k = id % 7`, `v` a number or, every 50th, 'abc'.
fn write_input(path: &std::path::Path) {
    let mut text = String::new();
    for id in 0..600 {
        let v = if id % 50 == 49 { "abc".to_string() } else { (id * 3).to_string() };
        text.push_str(&format!("{{\"id\": {id}, \"k\": {}, \"v\": \"{v}\"}}\n", id % 7));
    }
    std::fs::write(path, text).expect("write input");
}

fn batch() -> RecordBatch {
    let ids: Vec<i64> = (0..600).collect();
    let v: Vec<String> = ids.iter().map(|id| if id % 50 == 49 { "abc".to_string() } else { (id * 3).to_string() }).collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("k", DataType::Int64, false), Field::new("v", DataType::Utf8, true)])),
        vec![
            Arc::new(Int64Array::from(ids.clone())) as ArrayRef,
            Arc::new(Int64Array::from(ids.iter().map(|i| i % 7).collect::<Vec<_>>())),
            Arc::new(StringArray::from(v)),
        ],
    )
    .expect("batch")
}

fn oracle(query: &str) -> Vec<String> {
    let ctx = weir_engine::session();
    ctx.register_table("t", Arc::new(MemTable::try_new(batch().schema(), vec![vec![batch()]]).expect("table"))).expect("register");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async { ctx.sql(query).await.expect("plans").collect().await.expect("runs") });
    lines_of(&batches)
}

struct Run {
    out: Vec<String>,
    dead: Vec<serde_json::Value>,
    report: Result<weir_engine::RunReport, weir_engine::EngineError>,
}

fn run(settings: &str, query: &str, workers: usize) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output, dead) = (dir.path().join("t.json"), dir.path().join("out.json"), dir.path().join("errors.json"));
    write_input(&input);
    let sql = format!(
        "{settings}
         CREATE TABLE t (id BIGINT NOT NULL, k BIGINT NOT NULL, v VARCHAR) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE TABLE errors WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out {query};",
        input.display(),
        output.display(),
        dead.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
    let report = weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers));
    let mut out: Vec<String> = std::fs::read_to_string(&output).unwrap_or_default().lines().map(str::to_string).collect();
    out.sort();
    let dead = std::fs::read_to_string(&dead).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("dead letter is JSON")).collect();
    Run { out, dead, report }
}

const DEAD: &str = "SET 'pipeline.dead-letter.table' = 'errors';";

#[test]
fn a_division_by_zero_skips_its_row_and_nothing_else() {
    let query = "SELECT id, 100 / (k - 3) AS q FROM t";
    let expected = oracle("SELECT id, 100 / (k - 3) AS q FROM t WHERE k <> 3");
    for workers in [1, 2] {
        let r = run(DEAD, query, workers);
        let report = r.report.expect("runs to the end");
        assert_eq!(r.out, expected, "{workers} workers");
        let failed = (0..600).filter(|i| i % 7 == 3).count();
        assert_eq!(report.rows_failed, failed as u64);
        assert_eq!(r.dead.len(), failed);
        for d in &r.dead {
            assert_eq!(d["statement"], "INSERT INTO out (line 5)", "{d}");
            assert_eq!(d["operator"], "out/project", "{d}");
            assert!(d["error"].as_str().is_some_and(|e| e.contains("Divide by zero")), "{d}");
            let row: serde_json::Value = serde_json::from_str(d["row"].as_str().expect("row")).expect("row JSON");
            assert_eq!(row["k"], 3, "the dead letter holds the failing row: {d}");
            assert!(d["failed_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{d}");
        }
        let summary = report.failed_summary.expect("a summary");
        assert!(summary.contains(&format!("{failed} rows failed and were skipped")), "{summary}");
        assert!(summary.contains("dead-letter table 'errors'"), "{summary}");
    }
}

#[test]
fn a_bad_cast_in_a_filter_or_an_aggregate_skips_its_row() {
    // WHERE with a failing CAST.
    let r = run(DEAD, "SELECT id FROM t WHERE CAST(v AS BIGINT) > 100", 2);
    let mut expected: Vec<String> = (0..600).filter(|id| id % 50 != 49 && id * 3 > 100).map(|id| format!("{{\"id\":{id}}}")).collect();
    expected.sort();
    assert_eq!(r.out, expected);
    assert_eq!(r.dead.len(), 12);
    assert!(r.dead.iter().all(|d| d["operator"] == "out/filter"), "{:?}", r.dead);
    // Into a sink's declared column.
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("t.json"), dir.path().join("out.csv"));
    write_input(&input);
    let sql = format!(
        "CREATE TABLE t (id BIGINT NOT NULL, k BIGINT NOT NULL, v VARCHAR) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE TABLE out (id BIGINT, v BIGINT) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'csv');
         INSERT INTO out SELECT id, v FROM t;",
        input.display(),
        output.display()
    );
    let report = weir_engine::run(weir_engine::plan_pipeline(&sql).expect("plans"), weir_engine::RunOptions::default().workers(1)).expect("runs");
    assert_eq!(report.rows_failed, 12);
    let written = std::fs::read_to_string(&output).expect("out");
    assert_eq!(written.lines().count(), 1 + 588, "header and the rows that cast");
    assert!(report.failed_summary.expect("summary").contains("cast to the sink's columns"));
}

#[test]
fn a_failing_computed_column_skips_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("t.json"), dir.path().join("out.json"));
    write_input(&input);
    let sql = format!(
        "CREATE TABLE t (id BIGINT NOT NULL, k BIGINT NOT NULL, v VARCHAR, q AS 100 / (k - 3))
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT id, q FROM t;",
        input.display(),
        output.display()
    );
    let report = weir_engine::run(weir_engine::plan_pipeline(&sql).expect("plans"), weir_engine::RunOptions::default().workers(2)).expect("runs");
    let mut got: Vec<String> = std::fs::read_to_string(&output).expect("out").lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, oracle("SELECT id, 100 / (k - 3) AS q FROM t WHERE k <> 3"));
    assert_eq!(report.rows_failed, (0..600).filter(|i| i % 7 == 3).count() as u64);
    assert!(report.failed_summary.expect("summary").contains("CREATE TABLE t / t/computed columns"));
}

#[test]
fn a_failing_aggregate_argument_skips_its_row_and_the_windows_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("t.json"), dir.path().join("out.json"));
    let mut text = String::new();
    for id in 0..600 {
        text.push_str(&format!("{{\"id\": {id}, \"k\": {}, \"ts\": \"{}\"}}\n", id % 7, crate::common::rfc3339(1_767_225_600_000 + id * 1000)));
    }
    std::fs::write(&input, text).expect("input");
    let sql = format!(
        "CREATE TABLE t (id BIGINT NOT NULL, k BIGINT NOT NULL, ts TIMESTAMP NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT window_start, k, count(*) AS n, sum(100 / (k - 3)) AS s
         FROM TUMBLE(t, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, k;",
        input.display(),
        output.display()
    );
    let report = weir_engine::run(weir_engine::plan_pipeline(&sql).expect("plans"), weir_engine::RunOptions::default().workers(2)).expect("runs");
    let out = std::fs::read_to_string(&output).expect("out");
    assert_eq!(report.rows_failed, (0..600).filter(|i| i % 7 == 3).count() as u64);
    // Every key but 3 has its exact windows; key 3's rows all failed.
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert!(rows.iter().all(|r| r["k"] != 3), "{out}");
    let total: i64 = rows.iter().map(|r| r["n"].as_i64().expect("n")).sum();
    assert_eq!(total, 600 - report.rows_failed as i64);
    for r in &rows {
        let k = r["k"].as_i64().expect("k");
        assert_eq!(r["s"].as_i64(), Some(r["n"].as_i64().expect("n") * (100 / (k - 3))), "{r}");
    }
}

#[test]
fn on_error_fail_stops_at_the_first_failing_row() {
    let r = run("SET 'pipeline.on-error' = 'fail';", "SELECT id, 100 / (k - 3) AS q FROM t", 1);
    let err = r.report.expect_err("stops");
    assert!(err.to_string().contains("Divide by zero"), "{err}");
}

#[test]
fn settings_are_checked_where_they_are_written() {
    let err = weir_engine::plan_pipeline("SET 'pipeline.on-eror' = 'skip';").expect_err("unknown");
    assert_eq!((err.line(), err.column()), (1, 1));
    assert!(err.help.as_deref().is_some_and(|h| h.contains("did you mean 'pipeline.on-error'")), "{err}");
    let err = weir_engine::plan_pipeline("SET 'pipeline.on-error' = 'sometimes';").expect_err("bad value");
    assert!(err.message.contains("'skip' or 'fail'"), "{err}");
    let err = weir_engine::plan_pipeline(
        "SET 'pipeline.dead-letter.table' = 'nowhere';\nCREATE TABLE t WITH ('connector' = 'generator');\nCREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT speed FROM t;",
    )
    .expect_err("undeclared");
    assert!(err.message.contains("'nowhere' is not declared"), "{err}");
    assert_eq!(err.line(), 1);
}
