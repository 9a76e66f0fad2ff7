//! Odd messages and a broker that dies, against the real broker (tansu) and
//! the independent client: a message never stops the pipeline or shifts
//! onto another row, and a lost broker is an error within the delivery
//! timeout, never a hang.

use std::process::{Command, Stdio};

use crate::kafka::{json, oracle, pipeline, readings, run, Broker};
use crate::signals::exit_code;

const BOUNDED: &str = ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'dlq.topic' = 'dead'";

#[test]
fn a_message_with_two_records_is_dead_lettered_and_the_others_written() {
    let broker = Broker::start();
    for topic in ["traffic", "dead", "features"] {
        broker.create_topic(topic, 1);
    }
    let input = readings(100);
    let mut lines: Vec<String> = input.iter().map(json).collect();
    let two = format!("{} {}", json(&input[0]), json(&input[1]));
    lines.insert(40, two.clone());
    // And a record missing a comma, which arrow's decoder alone accepts.
    lines.insert(60, "{\"sensor_id\": 6 \"ts\": \"2026-01-01T00:00:00Z\", \"speed\": 1.0, \"volume\": 1}".into());
    broker.produce("traffic", &lines);
    let report = run(&pipeline(&broker, BOUNDED, "features", "SELECT * FROM traffic"), 1);
    assert_eq!(report.rows_read.get("traffic").copied(), Some(100));
    assert_eq!(report.malformed.get("traffic").copied(), Some(2));
    let mut got: Vec<String> = broker.consume("features", 100).into_iter().map(|(_, _, v)| v).collect();
    got.sort();
    assert_eq!(got, oracle(&input, "SELECT * FROM traffic"));
    let dead: Vec<String> = broker.consume("dead", 2).into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(dead[0], two);
    assert!(dead[1].contains("\"sensor_id\": 6 \"ts\""));
}

#[test]
fn csv_values_with_quoted_newlines_and_null_rows_keep_their_keys() {
    let broker = Broker::start();
    for topic in ["notes", "out", "single"] {
        broker.create_topic(topic, 2);
    }
    // The source: one CSV record per message, quoted newlines and all.
    let notes: Vec<(i64, Option<&str>)> =
        (0..40).map(|i| (i, match i % 4 { 0 => Some("plain"), 1 => Some("two\nlines"), 2 => Some("a \"quote\", and a comma"), _ => None })).collect();
    let messages: Vec<(Option<String>, Option<String>)> = notes
        .iter()
        .map(|(id, note)| {
            let field = note.map(|n| format!("\"{}\"", n.replace('"', "\"\""))).unwrap_or_default();
            (Some(id.to_string()), Some(format!("{id},{field}")))
        })
        .collect();
    broker.produce_pairs("notes", &messages);
    let b = broker.bootstrap();
    let sql = format!(
        "CREATE TABLE notes (id BIGINT NOT NULL, note VARCHAR) WITH ('connector' = 'kafka', 'topic' = 'notes', \
           'properties.bootstrap.servers' = '{b}', 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '{b}', 'format' = 'csv', 'key.fields' = 'id');
         CREATE TABLE single WITH ('connector' = 'kafka', 'topic' = 'single', 'properties.bootstrap.servers' = '{b}', 'format' = 'csv');
         INSERT INTO out SELECT id, note FROM notes;
         INSERT INTO single SELECT note FROM notes;"
    );
    let report = run(&sql, 2);
    assert_eq!(report.malformed.get("notes").copied(), Some(0));
    // The sink: every message is its own row, under its own key.
    let encoded = |note: Option<&str>| match note {
        Some(n) if n.contains(['\n', '"', ',']) => format!("\"{}\"", n.replace('"', "\"\"")),
        Some(n) => n.to_string(),
        None => String::new(),
    };
    let got = broker.consume_pairs("out", 40);
    assert_eq!(got.len(), 40);
    for (_, key, value) in got {
        let key = key.expect("keyed");
        let id: i64 = key.trim_start_matches("{\"id\":").trim_end_matches('}').parse().expect("an id key");
        let expected = format!("{id},{}", encoded(notes[id as usize].1));
        assert_eq!(value.as_deref(), Some(expected.as_str()), "key {key}");
    }
    // One column: a NULL row is a message of its own (arrow's CSV writer
    // quotes the empty field, `""`), never a missing one.
    let mut got: Vec<String> = broker.consume_pairs("single", 40).into_iter().map(|(_, _, v)| v.unwrap_or_default()).collect();
    got.sort();
    let mut expected: Vec<String> = notes.iter().map(|(_, n)| if n.is_some() { encoded(*n) } else { "\"\"".to_string() }).collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn a_broker_killed_mid_produce_fails_the_run_within_the_delivery_timeout() {
    let mut broker = Broker::start();
    broker.create_topic("out", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "CREATE TABLE t WITH ('connector' = 'generator', 'rate' = '2000');
         CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '{}',
           'properties.delivery.timeout.ms' = '3000', 'properties.request.timeout.ms' = '1000', 'format' = 'json');
         INSERT INTO out SELECT sensor_id, ts, speed FROM t;",
        broker.bootstrap()
    );
    let path = dir.path().join("produce.sql");
    std::fs::write(&path, sql).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--workers", "2", "--metrics-addr", "off", path.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Messages arrive; then the broker dies under the producer.
    assert_eq!(broker.consume("out", 100).len(), 100);
    broker.kill();
    assert_eq!(exit_code(&mut child), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert!(err.contains("table 'out'") && (err.contains("delivering to 'out'") || err.contains("flushing 'out'")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
