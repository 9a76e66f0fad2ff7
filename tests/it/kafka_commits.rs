//! Offset commits, restarts, metadata columns and per-partition watermarks
//! of the Kafka source, against a real broker (tansu) and checked with the
//! independent client (confluent-kafka).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::common::lines_of;
use crate::kafka::{client, json, oracle, readings, run, Broker, Reading, DDL_COLUMNS};

/// A source table `traffic` on topic `traffic` with `options`.
fn source(broker: &Broker, options: &str) -> String {
    format!(
        "CREATE TABLE traffic ({DDL_COLUMNS}, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'kafka', \
           'topic' = 'traffic', 'properties.bootstrap.servers' = '{}', 'format' = 'json'{options});\n",
        broker.bootstrap()
    )
}

/// A Kafka sink table `out` on `topic`.
fn sink(broker: &Broker, topic: &str) -> String {
    format!(
        "CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', 'format' = 'json');\n",
        broker.bootstrap()
    )
}

fn sorted_values(messages: Vec<(u32, String, String)>) -> Vec<String> {
    let mut values: Vec<String> = messages.into_iter().map(|(_, _, v)| v).collect();
    values.sort();
    values
}

#[test]
fn a_restart_continues_from_the_committed_offsets() {
    let broker = Broker::start();
    broker.create_topic("traffic", 3);
    broker.create_topic("out", 2);
    let input = readings(700);
    let lines: Vec<String> = input.iter().map(json).collect();
    broker.produce("traffic", &lines[..400]);
    // The default startup mode is the group's offsets.
    let sql = source(&broker, ", 'properties.group.id' = 'restart', 'scan.bounded.mode' = 'latest-offset'")
        + &sink(&broker, "out")
        + "INSERT INTO out SELECT * FROM traffic;";
    let first = run(&sql, 2);
    assert_eq!(first.rows_read.get("traffic").copied(), Some(400));
    let committed = broker.committed("restart", "traffic");
    assert_eq!(committed.len(), 3);
    assert_eq!(committed.iter().sum::<i64>(), 400, "everything read was committed: {committed:?}");

    broker.produce("traffic", &lines[400..]);
    let second = run(&sql, 2);
    assert_eq!(second.rows_read.get("traffic").copied(), Some(300), "the second run reads only what is new");
    assert_eq!(broker.committed("restart", "traffic").iter().sum::<i64>(), 700);
    let got = sorted_values(broker.consume("out", 700));
    assert_eq!(got, oracle(&input, "SELECT * FROM traffic"), "every row exactly once over the two runs");
}

const WINDOWS: &str = "SELECT sensor_id, window_start, window_end, COUNT(*) AS n, SUM(volume) AS v \
    FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE) GROUP BY sensor_id, window_start, window_end";

/// The acceptance test of at-least-once: `weir run` is killed (SIGKILL, no
/// flush, no final commit) while its last windows are open. The offsets it
/// had committed stop before the rows of those windows, so a second run
/// from the group's offsets completes them: every window of the input
/// appears with its exact count and sum.
#[test]
fn a_killed_pipeline_restarts_without_losing_a_window() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("windows", 1);
    // 3,000 readings 250 ms apart: 12.5 minutes of event time.
    let input = readings(3000);
    broker.produce("traffic", &input.iter().map(json).collect::<Vec<_>>());
    let dir = tempfile::tempdir().expect("tempdir");
    let unbounded = source(&broker, ", 'properties.group.id' = 'killed'") + &sink(&broker, "windows") + &format!("INSERT INTO out {WINDOWS};");
    let path = dir.path().join("windows.sql");
    std::fs::write(&path, &unbounded).expect("write the pipeline");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", path.to_str().expect("utf8"), "--workers", "2", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir runs");
    // Wait for the first commit, then kill it.
    let started = Instant::now();
    let committed = loop {
        let committed = broker.committed("killed", "traffic");
        if committed.iter().any(|o| *o > 0) {
            break committed;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir ended by itself ({status}): {:?}", child.stderr.take().map(std::io::read_to_string));
        }
        assert!(started.elapsed() < Duration::from_secs(60), "weir committed nothing in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().expect("kill weir");
    let _ = child.wait();
    let at_kill: i64 = broker.committed("killed", "traffic").iter().map(|o| (*o).max(0)).sum();
    assert!(at_kill >= committed.iter().map(|o| (*o).max(0)).sum::<i64>());
    assert!(at_kill < 3000, "rows of the open windows stay uncommitted: {at_kill} of 3000 committed");

    let bounded = unbounded.replace("'properties.group.id' = 'killed'", "'properties.group.id' = 'killed', 'scan.bounded.mode' = 'latest-offset'");
    let second = run(&bounded, 2);
    assert_eq!(second.rows_read.get("traffic").copied(), Some((3000 - at_kill) as u64), "the second run starts at the committed offsets");
    assert_eq!(broker.committed("killed", "traffic").iter().sum::<i64>(), 3000);

    // Every window of the input, exact, in the union of both runs' output.
    let expected = oracle(&input, &WINDOWS.replace("FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE)", "FROM traffic")
        .replace("SELECT sensor_id, window_start, window_end,", "SELECT sensor_id, date_bin(INTERVAL '1' MINUTE, ts) AS window_start, date_bin(INTERVAL '1' MINUTE, ts) + INTERVAL '1' MINUTE AS window_end,")
        .replace("GROUP BY sensor_id, window_start, window_end", "GROUP BY 1, 2, 3"));
    let mut got: BTreeSet<String> = BTreeSet::new();
    // The first run's output is whatever reached the topic before the kill.
    let out = client(&["consume-all", &broker.bootstrap(), "windows"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(value) = line.splitn(4, '\t').nth(3) {
            got.insert(value.to_string());
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|w| !got.contains(*w)).collect();
    assert!(missing.is_empty(), "{} of {} windows missing or wrong, e.g. {:?}", missing.len(), expected.len(), &missing[..missing.len().min(3)]);
}

#[test]
fn metadata_columns_read_the_message_timestamp_partition_offset_and_key() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    let input = readings(200);
    // Each message is stamped with its reading's time (the client uses
    // "ts_ms"), which the table reads instead of a payload column.
    let lines: Vec<String> = input
        .iter()
        .map(|r| format!("{{\"sensor_id\": {}, \"ts_ms\": {}, \"speed\": {:?}}}", r.sensor_id, r.ts_ms + 5, r.speed))
        .collect();
    broker.produce("traffic", &lines);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.json");
    let sql = format!(
        "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, speed DOUBLE,
            event_time TIMESTAMP(3) METADATA FROM 'timestamp',
            part INT METADATA FROM 'partition' VIRTUAL,
            off BIGINT METADATA FROM 'offset',
            k STRING METADATA FROM 'key',
            topic STRING METADATA,
            WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND)
         WITH ('connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = '{}', 'format' = 'json',
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT part, off, event_time, k, topic, sensor_id FROM traffic;",
        broker.bootstrap(),
        out.display()
    );
    let report = run(&sql, 1);
    assert_eq!(report.rows_read.get("traffic").copied(), Some(200));
    let meta = client(&["consume-meta", &broker.bootstrap(), "traffic", "200"]);
    assert!(meta.status.success(), "{}", String::from_utf8_lossy(&meta.stderr));
    let fields: Vec<Vec<String>> =
        String::from_utf8_lossy(&meta.stdout).lines().map(|l| l.splitn(5, '\t').map(str::to_string).collect()).collect();
    let number = |f: &Vec<String>, i: usize| f[i].parse::<i64>().expect("a number");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(fields.iter().map(|f| number(f, 0) as i32))),
        Arc::new(Int64Array::from_iter_values(fields.iter().map(|f| number(f, 1)))),
        Arc::new(TimestampMillisecondArray::from_iter_values(fields.iter().map(|f| number(f, 2))).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(fields.iter().map(|f| f[3].clone()))),
        Arc::new(StringArray::from_iter_values(fields.iter().map(|_| "traffic"))),
        Arc::new(Int64Array::from_iter_values(fields.iter().map(|f| {
            let value: serde_json::Value = serde_json::from_str(&f[4]).expect("json");
            value["sensor_id"].as_i64().expect("sensor_id")
        }))),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("part", DataType::Int32, true),
        Field::new("off", DataType::Int64, true),
        Field::new("event_time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("k", DataType::Utf8, true),
        Field::new("topic", DataType::Utf8, true),
        Field::new("sensor_id", DataType::Int64, false),
    ]));
    let expected = lines_of(&[RecordBatch::try_new(schema, columns).expect("batch")]);
    assert_eq!(expected.len(), 200);
    assert!(expected.iter().any(|l| l.contains("\"part\":1")), "both partitions hold messages");
    let mut got: Vec<String> = std::fs::read_to_string(&out).expect("output").lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, expected);
}

/// Readings of one sensor from `from_s` seconds after 2026-01-01, one a
/// second, as JSON.
fn stream(sensor: i64, from_s: i64, n: i64) -> Vec<Reading> {
    (0..n).map(|i| Reading { sensor_id: sensor, ts_ms: 1_767_225_600_000 + (from_s + i) * 1000, speed: 50.0 + i as f64, volume: i % 7 }).collect()
}

const COUNTS: &str = "SELECT sensor_id, window_start, window_end, COUNT(*) AS n FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE) GROUP BY sensor_id, window_start, window_end";

fn counts_oracle(rows: &[Reading]) -> Vec<String> {
    oracle(
        rows,
        "SELECT sensor_id, date_bin(INTERVAL '1' MINUTE, ts) AS window_start, \
         date_bin(INTERVAL '1' MINUTE, ts) + INTERVAL '1' MINUTE AS window_end, COUNT(*) AS n FROM traffic GROUP BY 1, 2, 3",
    )
}

/// One worker reads two partitions whose event times are far apart: the
/// later one does not make the earlier one's rows late, because each
/// partition has its own watermark and the source's is their minimum.
#[test]
fn each_partition_has_its_own_watermark() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("counts", 1);
    let ahead = stream(1, 1000, 300);
    let behind = stream(2, 0, 300);
    broker.produce_to("traffic", 0, &ahead.iter().map(json).collect::<Vec<_>>());
    broker.produce_to("traffic", 1, &behind.iter().map(json).collect::<Vec<_>>());
    let sql = source(&broker, ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'")
        + &sink(&broker, "counts")
        + &format!("INSERT INTO out {COUNTS};");
    let report = run(&sql, 1);
    assert_eq!(report.rows_late.get("traffic").copied(), Some(0), "no row is late");
    let all: Vec<Reading> = ahead.into_iter().chain(behind).collect();
    let expected = counts_oracle(&all);
    assert_eq!(sorted_values(broker.consume("counts", expected.len())), expected);
}

/// A partition that receives nothing would hold the watermark back forever;
/// with 'scan.watermark.idle-timeout' it stops doing so, and windows close
/// while the pipeline runs.
#[test]
fn an_idle_partition_stops_holding_the_watermark_back() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("counts", 1);
    // Partition 1 stays empty. 150 s of readings: windows 00:00 and 00:01
    // close; 00:02 stays open while the pipeline runs.
    let rows = stream(1, 0, 150);
    broker.produce_to("traffic", 0, &rows.iter().map(json).collect::<Vec<_>>());
    let sql = source(&broker, ", 'scan.startup.mode' = 'earliest-offset', 'scan.watermark.idle-timeout' = '1 s'")
        + &sink(&broker, "counts")
        + &format!("INSERT INTO out {COUNTS};");
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
    let options = weir_engine::RunOptions::default().workers(1);
    let stop = Arc::clone(&options.stop);
    let running = std::thread::spawn(move || weir_engine::run(plan, options));
    // The two closed windows arrive while it runs.
    let closed = broker.consume("counts", 2);
    assert!(!running.is_finished(), "the pipeline is still running");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    running.join().expect("joins").expect("runs");
    let expected: Vec<String> = counts_oracle(&rows).into_iter().take(2).collect();
    assert_eq!(sorted_values(closed), expected);
}
