//! Oracle tests: for a file source, every supported SELECT must return the
//! same multiset of rows as DataFusion's batch engine running the same SELECT
//! on the same data, whatever the number of workers.
//!
//! The data is generated in Rust (fixed cases and proptest cases), written as
//! JSON lines for Weir to read through its file source, and handed to
//! DataFusion directly as an in-memory table, so the oracle never goes through
//! Weir's decoder. Malformed lines are mixed in: Weir must skip exactly those.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use proptest::prelude::*;

use crate::common::{lines_of, rfc3339};

/// One reading; `None` is a JSON null.
#[derive(Debug, Clone)]
struct Row {
    sensor_id: i64,
    ts_ms: i64,
    speed: Option<f64>,
    volume: i64,
    occupancy: f64,
    congested: bool,
    road: Option<String>,
}

const DDL: &str = "CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  volume BIGINT NOT NULL,
  occupancy DOUBLE NOT NULL,
  congested BOOLEAN NOT NULL,
  road VARCHAR
) WITH ('connector' = 'file', 'path' = '{path}', 'format' = 'json');
CREATE VIEW fast AS SELECT sensor_id, ts, speed, road FROM traffic WHERE speed > 60;
CREATE VIEW fast_a AS SELECT sensor_id, speed * 3.6 AS mps, road FROM fast WHERE road LIKE 'A%';
";

/// Every SELECT form of docs/sql.md that runs on a stream.
const QUERIES: &[&str] = &[
    "SELECT * FROM traffic",
    "SELECT sensor_id, speed * 0.621371 AS mph FROM traffic WHERE speed > 50",
    "SELECT sensor_id, CASE WHEN occupancy > 0.5 THEN 'jam' WHEN occupancy > 0.2 THEN 'busy' ELSE 'free' END AS level FROM traffic",
    "SELECT CAST(volume AS DOUBLE) / 2 AS half, upper(road) AS road, character_length(road) AS n FROM traffic WHERE road LIKE 'A%'",
    "SELECT sensor_id, date_trunc('minute', ts) AS minute, extract(hour FROM ts) AS h, ts + INTERVAL '1' MINUTE AS later FROM traffic",
    "SELECT sensor_id, coalesce(speed, -1.0) AS s, speed IS NULL AS missing FROM traffic",
    "SELECT sensor_id, speed FROM traffic WHERE congested UNION ALL SELECT sensor_id, speed FROM traffic WHERE NOT congested AND volume > 10",
    "SELECT * FROM fast_a",
    "SELECT sensor_id, round(occupancy * 100) AS pct, abs(speed - 60) AS dev, sqrt(CAST(volume AS DOUBLE)) AS root FROM traffic",
    "SELECT concat(road, '-', CAST(sensor_id AS VARCHAR)) AS k, md5(coalesce(road, '')) AS h FROM traffic",
    "SELECT sensor_id FROM traffic WHERE 1 = 0",
    "SELECT sensor_id, ts FROM traffic WHERE ts >= TIMESTAMP '2026-01-01T00:00:30Z' AND speed BETWEEN 20 AND 90",
    "SELECT sensor_id % 3 AS shard, volume * volume AS v2, CAST(congested AS INT) AS c, regexp_replace(road, '[0-9]+', '#') AS r FROM traffic WHERE sensor_id IN (1, 2, 3, 5, 8)",
    "SELECT to_timestamp_ltz(sensor_id * 1000, 3) AS t, nullif(volume, 0) AS v FROM traffic",
];

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("speed", DataType::Float64, true),
        Field::new("volume", DataType::Int64, false),
        Field::new("occupancy", DataType::Float64, false),
        Field::new("congested", DataType::Boolean, false),
        Field::new("road", DataType::Utf8, true),
    ]))
}

fn to_batch(rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.sensor_id))),
        Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.ts_ms)).with_timezone("UTC")),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.speed))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.volume))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.occupancy))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.congested)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.road.clone()))),
    ];
    RecordBatch::try_new(schema(), columns).expect("valid batch")
}


/// Writes the rows as JSON lines, with a malformed line after every
/// `bad_every`-th row (0: none). Returns how many malformed lines it wrote.
fn write_json(rows: &[Row], bad_every: usize, path: &std::path::Path) -> u64 {
    let mut text = String::new();
    let mut bad = 0;
    for (i, r) in rows.iter().enumerate() {
        let speed = r.speed.map(|s| format!("{s:?}")).unwrap_or_else(|| "null".into());
        let road = r.road.as_ref().map(|s| format!("\"{s}\"")).unwrap_or_else(|| "null".into());
        let _ = writeln!(
            text,
            "{{\"sensor_id\": {}, \"ts\": \"{}\", \"speed\": {speed}, \"volume\": {}, \"occupancy\": {:?}, \"congested\": {}, \"road\": {road}, \"extra\": [1, 2]}}",
            r.sensor_id,
            rfc3339(r.ts_ms),
            r.volume,
            r.occupancy,
            r.congested
        );
        if bad_every > 0 && i % bad_every == bad_every - 1 {
            let malformed = [
                "{\"sensor_id\": \"not a number\", \"ts\": \"2026-01-01T00:00:00Z\", \"volume\": 1, \"occupancy\": 0.1, \"congested\": true}",
                "{\"sensor_id\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}",
                "this is not json",
                "{\"sensor_id\": 1, \"ts\": \"yesterday\", \"volume\": 1, \"occupancy\": 0.1, \"congested\": false}",
            ];
            text.push_str(malformed[bad as usize % malformed.len()]);
            text.push('\n');
            bad += 1;
        }
    }
    std::fs::write(path, text).expect("write input");
    bad
}


fn oracle(rows: &[Row], query: &str) -> Vec<String> {
    let ctx = weir_engine::session();
    let table = MemTable::try_new(schema(), vec![vec![to_batch(rows)]]).expect("mem table");
    ctx.register_table("traffic", Arc::new(table)).expect("register");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async {
        for view in DDL.split(';').filter(|s| s.trim_start().starts_with("CREATE VIEW")) {
            ctx.sql(view).await.expect("view").collect().await.expect("create view");
        }
        ctx.sql(query).await.expect("oracle plans").collect().await.expect("oracle runs")
    });
    lines_of(&batches)
}

fn weir(rows: &[Row], query: &str, workers: usize, bad_every: usize) -> (Vec<String>, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("traffic.json");
    let output = dir.path().join("out.json");
    let bad = write_json(rows, bad_every, &input);
    let sql = format!(
        "{}CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO out {query};",
        DDL.replace("{path}", &input.display().to_string()),
        output.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{query}: {e}"));
    let report = weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers)).expect("runs");
    // A query the planner proves empty (WHERE 1 = 0) does not read its table.
    if report.rows_read.contains_key("traffic") {
        assert_eq!(report.malformed.get("traffic").copied(), Some(bad), "every malformed line counted once");
    }
    let text = std::fs::read_to_string(&output).expect("output");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    (lines, bad)
}

fn check_all(rows: &[Row], workers: &[usize], bad_every: usize) {
    for query in QUERIES {
        let expected = oracle(rows, query);
        for &w in workers {
            let (got, _) = weir(rows, query, w, bad_every);
            assert_eq!(got, expected, "query {query} on {w} workers");
        }
    }
}

fn fixed_rows(n: usize) -> Vec<Row> {
    let roads = [Some("A1"), Some("B12"), None, Some("A99"), Some("M25")];
    (0..n)
        .map(|i| {
            let i64_ = i as i64;
            Row {
                sensor_id: i64_ % 11,
                ts_ms: 1_767_225_600_000 + i64_ * 997,
                speed: if i % 13 == 0 { None } else { Some((i as f64 * 7.3) % 130.0) },
                volume: (i64_ * 31) % 47,
                occupancy: ((i as f64) * 0.037) % 1.0,
                congested: i % 3 == 0,
                road: roads[i % roads.len()].map(str::to_string),
            }
        })
        .collect()
}

#[test]
fn fixed_input_matches_datafusion_on_1_2_and_3_workers() {
    check_all(&fixed_rows(3000), &[1, 2, 3], 0);
}

#[test]
fn malformed_lines_are_skipped_and_nothing_else_is_lost() {
    check_all(&fixed_rows(500), &[1, 2], 7);
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        0i64..20,
        0i64..3_600_000,
        proptest::option::weighted(0.9, -10.0f64..200.0),
        0i64..100,
        0.0f64..1.0,
        any::<bool>(),
        proptest::option::of(proptest::sample::select(vec!["A1", "A2", "B7", "M25", "x"])),
    )
        .prop_map(|(sensor_id, dt, speed, volume, occupancy, congested, road)| Row {
            sensor_id,
            ts_ms: 1_767_225_600_000 + dt,
            speed,
            volume,
            occupancy,
            congested,
            road: road.map(str::to_string),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn generated_input_matches_datafusion(rows in proptest::collection::vec(row_strategy(), 0..400), bad_every in 0usize..20) {
        check_all(&rows, &[1, 2], bad_every);
    }
}

/// The same rows through CSV must give the same answers as through JSON.
#[test]
fn csv_source_matches_json_source() {
    let rows = fixed_rows(800);
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_path = dir.path().join("traffic.csv");
    let mut text = String::from("road,sensor_id,ts,speed,volume,occupancy,congested\n");
    for r in &rows {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{:?},{}",
            r.road.clone().unwrap_or_default(),
            r.sensor_id,
            rfc3339(r.ts_ms),
            r.speed.map(|s| format!("{s:?}")).unwrap_or_default(),
            r.volume,
            r.occupancy,
            r.congested
        );
    }
    std::fs::write(&csv_path, text).expect("write csv");
    let out = dir.path().join("out.json");
    let sql = format!(
        "{}CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO out SELECT sensor_id, ts, speed, volume, occupancy, congested FROM traffic;",
        DDL.replace("{path}", &csv_path.display().to_string()).replace("'format' = 'json');\nCREATE VIEW", "'format' = 'csv');\nCREATE VIEW"),
        out.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).expect("plans");
    weir_engine::run(plan, weir_engine::RunOptions::default().workers(2)).expect("runs");
    let mut got: Vec<String> = std::fs::read_to_string(&out).expect("out").lines().map(str::to_string).collect();
    got.sort();
    let expected = oracle(&rows, "SELECT sensor_id, ts, speed, volume, occupancy, congested FROM traffic");
    assert_eq!(got, expected);
}

/// Flink's forms that DataFusion spells otherwise: Weir's query as a Flink
/// user writes it, against DataFusion running its own spelling.
#[test]
fn flink_patterns_and_interval_ranges_match_datafusions_spelling() {
    let rows = fixed_rows(400);
    let pairs = [
        (
            "SELECT sensor_id, DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') AS minute, DATE_FORMAT(ts, 'dd/MM/yy h:mm:ss a, EEE') AS local FROM traffic",
            "SELECT sensor_id, to_char(ts, '%Y-%m-%d %H:%M') AS minute, to_char(ts, '%d/%m/%y %-I:%M:%S %p, %a') AS local FROM traffic",
        ),
        (
            "SELECT sensor_id, ts + INTERVAL '1:30' MINUTE TO SECOND AS later, ts - INTERVAL '1 02:03:04.5' DAY TO SECOND AS earlier FROM traffic",
            "SELECT sensor_id, ts + INTERVAL '90 seconds' AS later, ts - INTERVAL '1 days 2 hours 3 minutes 4.5 seconds' AS earlier FROM traffic",
        ),
        (
            "SELECT sensor_id FROM traffic WHERE ts > TO_TIMESTAMP('2026-01-01 00:03:00', 'yyyy-MM-dd HH:mm:ss')",
            "SELECT sensor_id FROM traffic WHERE ts > TO_TIMESTAMP('2026-01-01 00:03:00', '%Y-%m-%d %H:%M:%S')",
        ),
    ];
    for (flink, datafusion) in pairs {
        let expected = oracle(&rows, datafusion);
        assert!(!expected.is_empty());
        for workers in [1, 2] {
            let (got, _) = weir(&rows, flink, workers, 0);
            assert_eq!(got, expected, "{flink}");
        }
    }
}
