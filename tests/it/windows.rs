//! Oracle tests for event-time windows.
//!
//! Every windowed query must return exactly what DataFusion's batch engine
//! returns for the same aggregate over explicit window arithmetic on the
//! same rows: in order, out of order within the watermark's bound, and with
//! late rows (then the oracle runs without exactly the rows the watermark
//! makes late), on 1, 2 and 4 workers. Session windows are checked against a
//! naive reference implementation written here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use proptest::prelude::*;

use crate::common::{lines_of, rfc3339};

/// 2026-01-01T00:00:00Z.
pub(crate) const BASE: i64 = 1_767_225_600_000;
/// The watermark's bound in the DDL, in ms.
pub(crate) const BOUND: i64 = 6_000;

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) sensor_id: i64,
    pub(crate) ts_ms: i64,
    pub(crate) speed: Option<f64>,
    pub(crate) volume: i64,
    pub(crate) congested: bool,
}

pub(crate) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("speed", DataType::Float64, true),
        Field::new("volume", DataType::Int64, false),
        Field::new("congested", DataType::Boolean, false),
    ]))
}

pub(crate) fn to_batch(events: &[Event]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.sensor_id))),
        Arc::new(TimestampMillisecondArray::from_iter_values(events.iter().map(|e| e.ts_ms)).with_timezone("UTC")),
        Arc::new(Float64Array::from_iter(events.iter().map(|e| e.speed))),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.volume))),
        Arc::new(BooleanArray::from_iter(events.iter().map(|e| Some(e.congested)))),
    ];
    RecordBatch::try_new(schema(), columns).expect("batch")
}


pub(crate) fn json_lines(events: &[Event]) -> String {
    let mut text = String::new();
    for e in events {
        let speed = e.speed.map(|s| format!("{s:?}")).unwrap_or_else(|| "null".into());
        let _ = writeln!(
            text,
            "{{\"sensor_id\": {}, \"ts\": \"{}\", \"speed\": {speed}, \"volume\": {}, \"congested\": {}}}",
            e.sensor_id,
            rfc3339(e.ts_ms),
            e.volume,
            e.congested
        );
    }
    text
}

pub(crate) fn ddl(table: &str, path: &std::path::Path) -> String {
    format!(
        "CREATE TABLE {table} (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE, volume BIGINT NOT NULL, congested BOOLEAN NOT NULL,\n\
         WATERMARK FOR ts AS ts - INTERVAL '{}' SECOND) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\n",
        BOUND / 1000,
        path.display()
    )
}

/// A windowed query: the same SELECT list and GROUP BY over Weir's window
/// function and over the oracle's explicit window arithmetic.
struct Case {
    select: &'static str,
    stream_from: &'static str,
    batch_from: &'static str,
    group: &'static str,
}

/// Window bounds computed by hand: `window_start` and `window_end` as
/// timestamps from epoch-millisecond arithmetic.
macro_rules! bounds {
    ($start:literal, $size:literal) => {
        concat!(
            "(SELECT *, TO_TIMESTAMP_LTZ(", $start, ", 3) AS window_start, TO_TIMESTAMP_LTZ(", $start, " + ", $size,
            ", 3) AS window_end FROM traffic)"
        )
    };
}

/// The rows of a 15 s HOP sliding by 5 s: each row once per window.
macro_rules! hop_5_15 {
    () => {
        concat!(
            "SELECT * FROM ",
            bounds!("(CAST(ts AS BIGINT) / 15000 * 15000)", "15000"),
            " UNION ALL SELECT * FROM ",
            bounds!("((CAST(ts AS BIGINT) - 5000) / 15000 * 15000 + 5000)", "15000"),
            " UNION ALL SELECT * FROM ",
            bounds!("((CAST(ts AS BIGINT) - 10000) / 15000 * 15000 + 10000)", "15000")
        )
    };
}

const AGGREGATES: &str = "count(*) AS n, count(speed) AS n_speed, round(avg(speed), 6) AS avg_speed, max(speed) AS max_speed, \
    min(volume) AS min_volume, sum(volume) AS volume, count(DISTINCT volume) AS distinct_volumes, \
    round(stddev_samp(speed), 6) AS sd, round(var_pop(speed), 6) AS vp, first_value(volume ORDER BY ts) AS first_volume, \
    last_value(volume ORDER BY ts) AS last_volume, bool_and(congested) AS all_congested, bool_or(congested) AS any_congested, \
    count(*) FILTER (WHERE congested) AS n_congested";

fn cases() -> Vec<Case> {
    vec![
        Case {
            select: "window_start, window_end, sensor_id, {AGGREGATES}",
            stream_from: "TABLE(TUMBLE(TABLE traffic, DESCRIPTOR(ts), INTERVAL '10' SECOND))",
            batch_from: bounds!("CAST(ts AS BIGINT) / 10000 * 10000", "10000"),
            group: "window_start, window_end, sensor_id",
        },
        Case {
            select: "sensor_id % 2 AS parity, window_end, window_start, count(*) AS n, sum(volume) AS v",
            stream_from: "TUMBLE(traffic, ts, INTERVAL '1' MINUTE)",
            batch_from: bounds!("CAST(ts AS BIGINT) / 60000 * 60000", "60000"),
            group: "sensor_id % 2, window_end, window_start",
        },
        Case {
            select: "window_start, window_end, count(*) AS n, max(volume) AS max_volume",
            stream_from: "TUMBLE(traffic, ts, INTERVAL '7' SECOND)",
            batch_from: bounds!("CAST(ts AS BIGINT) / 7000 * 7000", "7000"),
            group: "window_start, window_end",
        },
        Case {
            select: "window_start, window_end, sensor_id, {AGGREGATES}",
            stream_from: "TABLE(HOP(TABLE traffic, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))",
            batch_from: concat!("(", hop_5_15!(), ")"),
            group: "window_start, window_end, sensor_id",
        },
        Case {
            select: "window_start, window_end, sensor_id, {AGGREGATES}",
            stream_from: "TABLE(CUMULATE(TABLE traffic, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))",
            batch_from: "(SELECT * FROM (SELECT *, TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000, 3) AS window_start, \
                   TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000 + 5000, 3) AS window_end FROM traffic \
                   WHERE CAST(ts AS BIGINT) % 15000 < 5000) \
                 UNION ALL SELECT * FROM (SELECT *, TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000, 3) AS window_start, \
                   TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000 + 10000, 3) AS window_end FROM traffic \
                   WHERE CAST(ts AS BIGINT) % 15000 < 10000) \
                 UNION ALL SELECT * FROM (SELECT *, TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000, 3) AS window_start, \
                   TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 15000 * 15000 + 15000, 3) AS window_end FROM traffic))",
            group: "window_start, window_end, sensor_id",
        },
        // An aggregate of windowed aggregates per window (Nexmark's q5).
        Case {
            select: "window_start, window_end, max(n) AS most, sum(n) AS total, count(*) AS sensors",
            stream_from: "(SELECT window_start, window_end, sensor_id, count(*) AS n \
                 FROM TABLE(HOP(TABLE traffic, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND)) \
                 GROUP BY window_start, window_end, sensor_id) AS per_sensor",
            batch_from: concat!(
                "(SELECT window_start, window_end, sensor_id, count(*) AS n FROM (",
                hop_5_15!(),
                ") GROUP BY window_start, window_end, sensor_id) AS per_sensor"
            ),
            group: "window_start, window_end",
        },
        Case {
            select: "window_start, window_end, sensor_id, count(*) AS n",
            stream_from: "TUMBLE(busy, ts, INTERVAL '10' SECOND)",
            batch_from: "(SELECT *, TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 10000 * 10000, 3) AS window_start, \
                         TO_TIMESTAMP_LTZ(CAST(ts AS BIGINT) / 10000 * 10000 + 10000, 3) AS window_end FROM busy)",
            group: "window_start, window_end, sensor_id",
        },
    ]
}

const VIEWS: &str = "CREATE VIEW busy AS SELECT sensor_id, ts, volume FROM traffic WHERE volume > 10;\n";

fn sql(case: &Case, from: &str) -> String {
    format!("SELECT {} FROM {from} WHERE sensor_id >= 0 GROUP BY {}", case.select.replace("{AGGREGATES}", AGGREGATES), case.group)
}


fn oracle(events: &[Event], query: &str) -> Vec<String> {
    let ctx = weir_engine::session();
    let table = MemTable::try_new(schema(), vec![vec![to_batch(events)]]).expect("mem table");
    ctx.register_table("traffic", Arc::new(table)).expect("register");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async {
        ctx.sql(VIEWS).await.expect("view").collect().await.expect("create view");
        ctx.sql(query).await.unwrap_or_else(|e| panic!("oracle plans {query}: {e}")).collect().await.expect("oracle runs")
    });
    lines_of(&batches)
}

/// Runs `query` over `events` (written in this order) and returns the sorted
/// output lines and the report.
pub(crate) fn weir(inputs: &[(&str, &[Event])], views: &str, query: &str, workers: usize) -> (Vec<String>, weir_engine::RunReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sql = String::new();
    for (table, events) in inputs {
        let path = dir.path().join(format!("{table}.json"));
        std::fs::write(&path, json_lines(events)).expect("write input");
        sql.push_str(&ddl(table, &path));
    }
    let output = dir.path().join("out.json");
    sql.push_str(views);
    let _ = write!(
        sql,
        "CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO out {query};",
        output.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{query}: {e}"));
    let report = weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers)).expect("runs");
    let text = std::fs::read_to_string(&output).expect("output");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    (lines, report)
}

fn check_cases(events: &[Event], on_time: &[Event], expect_late: u64) {
    for case in cases() {
        let expected = oracle(on_time, &sql(&case, case.batch_from));
        // The oracle returns rows whenever some on-time row reaches the
        // query (the `busy` view keeps only volumes above 10, so a small
        // random stream may leave it empty).
        let reach = if case.batch_from.contains("FROM busy") { on_time.iter().filter(|e| e.volume > 10).count() } else { on_time.len() };
        assert_eq!(expected.is_empty(), reach == 0, "the oracle returns rows");
        for workers in [1, 2, 4] {
            let (got, report) = weir(&[("traffic", events)], VIEWS, &sql(&case, case.stream_from), workers);
            assert_eq!(got, expected, "{} on {workers} workers", case.stream_from);
            assert_eq!(report.rows_late.get("traffic").copied().unwrap_or(0), expect_late, "late rows, {workers} workers");
        }
    }
}

/// Events one second apart in order, each shifted forward by up to
/// `jitter` seconds (`jitter` ≤ the watermark bound, so none is late). The
/// millisecond part keeps every event time distinct.
pub(crate) fn events(n: usize, sensors: i64, jitter: &[u8]) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let j = i64::from(jitter.get(i).copied().unwrap_or(0)) % (BOUND / 1000);
            let i_ = i as i64;
            Event {
                sensor_id: (i_ * 7 + i_ / 3) % sensors,
                ts_ms: BASE + 1000 * (i_ + j) + i_ % 1000,
                speed: if i % 11 == 0 { None } else { Some(((i_ * 37) % 1300) as f64 / 10.0) },
                volume: (i_ * 31) % 23,
                congested: i % 4 != 1,
            }
        })
        .collect()
}

#[test]
fn in_order_windows_match_datafusion() {
    let e = events(700, 5, &[]);
    check_cases(&e, &e, 0);
}

#[test]
fn out_of_order_within_the_bound_matches_datafusion() {
    let jitter: Vec<u8> = (0..700u32).map(|i| ((i * 2_654_435_761u32) >> 24) as u8).collect();
    let e = events(700, 5, &jitter);
    assert!(e.windows(2).any(|w| w[1].ts_ms < w[0].ts_ms), "the input is out of order");
    check_cases(&e, &e, 0);
}

/// The first line of every split for 2 and 4 workers: the file source
/// splits by byte ranges moved forward to the next line start.
pub(crate) fn split_starts(text: &str) -> Vec<usize> {
    let len = text.len();
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&i| i < len));
    let mut starts = Vec::new();
    for workers in [2, 4] {
        for w in 1..workers {
            let at = len * w / workers;
            if let Some(line) = line_starts.iter().position(|&s| s >= at) {
                starts.push(line);
            }
        }
    }
    starts
}

#[test]
fn late_events_are_left_out_and_counted() {
    let normal = events(600, 4, &[]);
    // Insert a far-too-old event (a minute behind) after every 37th event,
    // never as the first line of a split, where no watermark exists yet.
    let mut all = Vec::new();
    let mut late_positions = Vec::new();
    for (i, e) in normal.iter().enumerate() {
        all.push(e.clone());
        if i % 37 == 36 {
            let mut old = e.clone();
            old.ts_ms -= 60_000 + 17;
            old.volume = 1000 + i as i64;
            late_positions.push(all.len());
            all.push(old);
        }
    }
    let starts = split_starts(&json_lines(&all));
    let (mut kept, mut late) = (Vec::new(), 0u64);
    let mut with_late = Vec::new();
    for (i, e) in all.into_iter().enumerate() {
        if late_positions.contains(&i) {
            if starts.contains(&i) {
                continue;
            }
            late += 1;
        } else {
            kept.push(e.clone());
        }
        with_late.push(e);
    }
    assert!(late > 10);
    check_cases(&with_late, &kept, late);

    // The side output: exactly the late rows, through LATE_ROWS(traffic).
    let late_rows: Vec<Event> = with_late.iter().filter(|e| e.volume >= 1000).cloned().collect();
    let late_rows: Vec<Event> = late_rows
        .into_iter()
        .filter(|e| !kept.iter().any(|k| k.volume == e.volume))
        .collect();
    let expected = oracle(&late_rows, "SELECT sensor_id, ts, volume FROM traffic");
    assert_eq!(expected.len() as u64, late);
    for workers in [1, 2, 4] {
        let (got, _) = weir(&[("traffic", &with_late)], "", "SELECT sensor_id, ts, volume FROM LATE_ROWS(traffic)", workers);
        assert_eq!(got, expected, "late rows on {workers} workers");
    }
}

#[test]
fn two_inputs_hold_the_watermark_at_their_minimum() {
    // Two tables read at different speeds, windowed as one stream: nothing
    // either of them sends may be dropped as late.
    let a = events(500, 3, &[]);
    let b: Vec<Event> = events(100, 3, &[]).into_iter().map(|mut e| {
        e.ts_ms = BASE + (e.ts_ms - BASE) * 5;
        e.sensor_id += 10;
        e
    }).collect();
    let views = "CREATE VIEW both_inputs AS SELECT * FROM traffic UNION ALL SELECT * FROM other;\n";
    let query = "SELECT window_start, window_end, sensor_id, count(*) AS n, sum(volume) AS v \
                 FROM TUMBLE(both_inputs, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, sensor_id";
    let mut union = a.clone();
    union.extend(b.iter().cloned());
    let expected = oracle(
        &union,
        &format!(
            "SELECT window_start, window_end, sensor_id, count(*) AS n, sum(volume) AS v FROM {} GROUP BY window_start, window_end, sensor_id",
            bounds!("CAST(ts AS BIGINT) / 10000 * 10000", "10000")
        ),
    );
    for workers in [1, 2, 4] {
        let (got, report) = weir(&[("traffic", &a), ("other", &b)], views, query, workers);
        assert_eq!(got, expected, "{workers} workers");
        assert_eq!(report.rows_late.values().sum::<u64>(), 0);
    }
}

/// Per-key features over the ordered stream; the same SQL runs in
/// DataFusion's batch engine as the oracle.
const OVER_QUERIES: &[&str] = &[
    "SELECT sensor_id, ts, volume, \
       LAG(volume) OVER w AS prev_volume, \
       LAG(speed, 2, -1.0) OVER w AS speed_2_back \
     FROM traffic WINDOW w AS (PARTITION BY sensor_id ORDER BY ts)",
    "SELECT sensor_id, ts, volume, \
       round(avg(speed) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), 6) AS avg4, \
       sum(volume) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS sum6, \
       min(volume) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS min3, \
       max(speed) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS max5, \
       count(speed) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_count, \
       LAG(volume, 3) OVER (PARTITION BY sensor_id ORDER BY ts) AS volume_3_back \
     FROM traffic",
    "SELECT sensor_id, ts, \
       count(*) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '20' SECOND PRECEDING AND CURRENT ROW) AS n20, \
       round(avg(speed) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW), 6) AS avg_1min, \
       max(volume) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '15' SECOND PRECEDING AND CURRENT ROW) AS max15, \
       sum(volume) OVER (PARTITION BY sensor_id ORDER BY ts) AS running_volume \
     FROM traffic WHERE volume > 2",
    "SELECT sensor_id % 2 AS parity, ts, LAG(sensor_id) OVER (PARTITION BY sensor_id % 2 ORDER BY ts) AS prev_sensor FROM traffic",
];

/// A default that is an expression of the current row, which DataFusion's
/// batch engine does not support: its oracle spells it with `coalesce`
/// (`volume` is never NULL, so the two agree).
const LAG_WITH_EXPRESSION_DEFAULT: (&str, &str) = (
    "SELECT sensor_id, ts, LAG(volume, 1, volume * 10) OVER (PARTITION BY sensor_id ORDER BY ts) AS v FROM traffic",
    "SELECT sensor_id, ts, coalesce(LAG(volume) OVER (PARTITION BY sensor_id ORDER BY ts), volume * 10) AS v FROM traffic",
);

fn check_over(events: &[Event], on_time: &[Event]) {
    let pairs = OVER_QUERIES.iter().map(|q| (*q, *q)).chain([LAG_WITH_EXPRESSION_DEFAULT]);
    for (query, batch_query) in pairs {
        let expected = oracle(on_time, batch_query);
        assert_eq!(expected.len(), on_time.iter().filter(|e| !query.contains("volume > 2") || e.volume > 2).count());
        for workers in [1, 2, 4] {
            let (got, _) = weir(&[("traffic", events)], "", query, workers);
            assert_eq!(got, expected, "{query} on {workers} workers");
        }
    }
}

#[test]
fn over_windows_match_datafusion_in_and_out_of_order() {
    let e = events(500, 4, &[]);
    check_over(&e, &e);
    let jitter: Vec<u8> = (0..500u32).map(|i| ((i * 2_654_435_761u32) >> 25) as u8).collect();
    let e = events(500, 4, &jitter);
    check_over(&e, &e);
}

/// Runs a union of a busy bounded table and a quiet followed one that never
/// reaches the busy one's event times; returns the output seen while the
/// pipeline still runs, and the final output after it is stopped. It is
/// stopped once every row has reached the window operator and, with an
/// idle timeout, once windows appear.
fn quiet_and_busy(idle_timeout: Option<&str>, name: &str) -> (String, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy: Vec<Event> = events(300, 3, &[]);
    let quiet: Vec<Event> = events(2, 1, &[]).into_iter().map(|mut e| {
        e.sensor_id = 99;
        e
    }).collect();
    let busy_path = dir.path().join("busy.json");
    let quiet_path = dir.path().join("quiet.json");
    std::fs::write(&busy_path, json_lines(&busy)).expect("write");
    std::fs::write(&quiet_path, json_lines(&quiet)).expect("write");
    let output = dir.path().join("out.json");
    let idle = idle_timeout.map(|t| format!(", 'idle_timeout' = '{t}'")).unwrap_or_default();
    let sql = format!(
        "{}CREATE TABLE quiet (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE, volume BIGINT NOT NULL, congested BOOLEAN NOT NULL,
           WATERMARK FOR ts AS ts - INTERVAL '6' SECOND)
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json', 'follow' = 'true'{idle});
         CREATE VIEW both_inputs AS SELECT * FROM traffic UNION ALL SELECT * FROM quiet;
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT window_start, window_end, sensor_id, count(*) AS n
         FROM TUMBLE(both_inputs, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, sensor_id;",
        ddl("traffic", &busy_path),
        quiet_path.display(),
        output.display()
    );
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
    let options = weir_engine::RunOptions { name: name.to_string(), ..weir_engine::RunOptions::default() }.workers(2);
    let stop = std::sync::Arc::clone(&options.stop);
    let running = std::thread::spawn(move || weir_engine::run(plan, options));
    // Every row has reached the window operator: it holds them all.
    let rows_in = || -> f64 {
        let text = weir_engine::metrics::metrics().encode();
        let label = format!("operator=\"out/window aggregate\",pipeline=\"{name}\"");
        text.lines().filter(|l| l.starts_with("weir_operator_records_in_total") && l.contains(&label)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    crate::signals::wait_until("every row reaches the window operator", || rows_in() >= (busy.len() + quiet.len()) as f64);
    if idle_timeout.is_some() {
        crate::signals::wait_until("windows are emitted", || std::fs::read_to_string(&output).is_ok_and(|t| !t.is_empty()));
    }
    let during = std::fs::read_to_string(&output).unwrap_or_default();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    running.join().expect("joins").expect("runs");
    let mut lines: Vec<String> = std::fs::read_to_string(&output).expect("output").lines().map(str::to_string).collect();
    lines.sort();
    let mut all = busy.clone();
    all.extend(quiet);
    let expected = oracle(
        &all,
        &format!(
            "SELECT window_start, window_end, sensor_id, count(*) AS n FROM {} GROUP BY window_start, window_end, sensor_id",
            bounds!("CAST(ts AS BIGINT) / 10000 * 10000", "10000")
        ),
    );
    (during, lines, expected)
}

#[test]
fn an_idle_input_stops_holding_the_watermark_back() {
    // Without an idle timeout the quiet input holds every window open until
    // the pipeline stops, though the window operator holds every row; with
    // one, windows are emitted while it runs.
    let (during, after, expected) = quiet_and_busy(None, "idle-none");
    assert_eq!(during, "", "nothing can be emitted while the quiet input holds the watermark");
    assert_eq!(after, expected, "stopping flushes every window");

    let (during, after, expected) = quiet_and_busy(Some("500 ms"), "idle-500ms");
    let during: Vec<&str> = during.lines().collect();
    assert!(!during.is_empty(), "windows are emitted once the quiet input is idle");
    assert!(during.iter().all(|l| expected.iter().any(|e| e == l)), "what is emitted early is final");
    assert_eq!(after, expected, "and nothing is lost or repeated");
}

/// Sessions computed the obvious way: per key, sort by time, cut where the
/// next event is `gap` or more after the previous.
fn reference_sessions(events: &[Event], gap: i64) -> Vec<String> {
    let mut by_key: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(e.sensor_id).or_default().push(e);
    }
    let (mut keys, mut starts, mut ends, mut counts, mut volumes) = (vec![], vec![], vec![], vec![], vec![]);
    for (key, mut rows) in by_key {
        rows.sort_by_key(|e| e.ts_ms);
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            while j < rows.len() && rows[j].ts_ms < rows[j - 1].ts_ms + gap {
                j += 1;
            }
            keys.push(key);
            starts.push(rows[i].ts_ms);
            ends.push(rows[j - 1].ts_ms + gap);
            counts.push((j - i) as i64);
            volumes.push(rows[i..j].iter().map(|e| e.volume).sum::<i64>());
            i = j;
        }
    }
    let out = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("window_start", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("window_end", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("n", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        out,
        vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(TimestampMillisecondArray::from(starts).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(ends).with_timezone("UTC")),
            Arc::new(Int64Array::from(counts)),
            Arc::new(Int64Array::from(volumes)),
        ],
    )
    .expect("batch");
    lines_of(&[batch])
}

fn check_sessions(events: &[Event], gap_s: i64) {
    // The shorthand, and Flink's form with sessions per PARTITION BY key.
    let froms = [
        format!("SESSION(traffic, ts, INTERVAL '{gap_s}' SECOND)"),
        format!("TABLE(SESSION(TABLE traffic PARTITION BY sensor_id, DESCRIPTOR(ts), INTERVAL '{gap_s}' SECOND))"),
        format!("TABLE(SESSION(TABLE traffic PARTITION BY (sensor_id), DESCRIPTOR(ts), INTERVAL '{gap_s}' SECOND))"),
    ];
    let expected = reference_sessions(events, gap_s * 1000);
    for from in froms {
        let query = format!(
            "SELECT sensor_id, window_start, window_end, count(*) AS n, sum(volume) AS v \
             FROM {from} GROUP BY window_start, window_end, sensor_id"
        );
        for workers in [1, 2, 4] {
            let (got, _) = weir(&[("traffic", events)], "", &query, workers);
            assert_eq!(got, expected, "sessions of {from} on {workers} workers");
        }
    }
}

#[test]
fn sessions_match_the_reference() {
    // Bursts with pauses: sensor k is silent whenever (i / 40 + k) % 3 == 0.
    let events: Vec<Event> = events(900, 4, &[])
        .into_iter()
        .enumerate()
        .filter(|(i, e)| !(i / 40 + e.sensor_id as usize).is_multiple_of(3))
        .map(|(_, e)| e)
        .collect();
    check_sessions(&events, 5);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    #[test]
    fn generated_streams_match_datafusion(n in 1usize..500, sensors in 1i64..9, jitter in proptest::collection::vec(any::<u8>(), 0..500)) {
        let e = events(n, sensors, &jitter);
        check_cases(&e, &e, 0);
    }

    #[test]
    fn generated_streams_match_datafusion_over(n in 1usize..300, sensors in 1i64..6, jitter in proptest::collection::vec(any::<u8>(), 0..300)) {
        let e = events(n, sensors, &jitter);
        check_over(&e, &e);
    }

    #[test]
    fn generated_sessions_match_the_reference(n in 1usize..400, sensors in 1i64..6, gap in 1i64..30, jitter in proptest::collection::vec(any::<u8>(), 0..400)) {
        let e = events(n, sensors, &jitter);
        check_sessions(&e, gap);
    }
}
