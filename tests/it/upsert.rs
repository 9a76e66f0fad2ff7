//! The `upsert-kafka` source as the versioned table of an event-time
//! temporal join, against a real broker (tansu) and DataFusion.
//!
//! Versions and deletions (null values) of each key are produced with the
//! independent client, stamped with their event times, over three
//! partitions; a stream of readings joins the version valid at each row's
//! time. The oracle is "the latest version with version time <= row time,
//! and no version if that one is a deletion", by ROW_NUMBER in DataFusion,
//! on 1, 2 and 4 workers, with the values holding the key's columns
//! ('ALL', JSON keys) and without them ('EXCEPT_KEY', CSV keys).

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;

use crate::common::lines_of;
use crate::kafka::Broker;
use crate::windows::{ddl, events, json_lines, to_batch, Event, BASE};

/// One message: key, version time, and the volume (None: a deletion).
struct Version {
    sensor_id: i64,
    ts_ms: i64,
    volume: Option<i64>,
}

/// Versions of 5 sensors about every 2 s, one in seven a deletion,
/// starting 1.5 s after the stream so that early rows have none.
fn versions() -> Vec<Version> {
    (0..45i64)
        .map(|i| Version {
            sensor_id: (i * 7 + i / 3) % 5,
            ts_ms: BASE + 1500 + 2000 * i + i % 7,
            volume: if i % 7 == 3 { None } else { Some((i * 13) % 17) },
        })
        .collect()
}

/// DataFusion's answer: each row with the latest version at or before its
/// time, none when that version is a deletion.
fn oracle(a: &[Event], v: &[Version], kind: &str) -> Vec<String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("volume", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("deleted", DataType::Boolean, false),
    ]));
    let b = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(v.iter().map(|v| v.sensor_id))),
            Arc::new(Int64Array::from(v.iter().map(|v| v.volume).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from_iter_values(v.iter().map(|v| v.ts_ms)).with_timezone("UTC")),
            Arc::new(BooleanArray::from(v.iter().map(|v| v.volume.is_none()).collect::<Vec<_>>())),
        ],
    )
    .expect("versions");
    let ctx = weir_engine::session();
    ctx.register_table("a", Arc::new(MemTable::try_new(crate::windows::schema(), vec![vec![to_batch(a)]]).expect("a"))).expect("register");
    ctx.register_table("b", Arc::new(MemTable::try_new(schema, vec![vec![b]]).expect("b"))).expect("register");
    let inner_only = if kind == "INNER" { " AND NOT deleted" } else { "" };
    let query = format!(
        "SELECT sensor_id, ts, volume, CASE WHEN deleted THEN NULL ELSE version END AS version, \
                CASE WHEN deleted THEN NULL ELSE version_ts END AS version_ts FROM (\
           SELECT a.sensor_id, a.ts, a.volume, x.volume AS version, x.ts AS version_ts, x.deleted, \
                  ROW_NUMBER() OVER (PARTITION BY a.sensor_id, a.ts ORDER BY x.ts DESC) AS rn \
           FROM a {kind} JOIN b x ON a.sensor_id = x.sensor_id AND x.ts <= a.ts) WHERE rn = 1{inner_only}"
    );
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async { ctx.sql(&query).await.expect("oracle plans").collect().await.expect("oracle runs") });
    lines_of(&batches)
}

/// The messages of `v` for a table whose values hold the key's columns
/// (`with_key`, JSON keys) or not (CSV keys); plus two that cannot be
/// read: a value without a key and a deletion without a key.
fn messages(v: &[Version], with_key: bool) -> Vec<(Option<String>, Option<String>, i64)> {
    let mut out: Vec<(Option<String>, Option<String>, i64)> = v
        .iter()
        .map(|v| {
            let key = if with_key { format!("{{\"sensor_id\":{}}}", v.sensor_id) } else { v.sensor_id.to_string() };
            let value = v.volume.map(|vol| if with_key { format!("{{\"sensor_id\":{},\"volume\":{vol}}}", v.sensor_id) } else { format!("{{\"volume\":{vol}}}") });
            (Some(key), value, v.ts_ms)
        })
        .collect();
    out.push((None, Some("{\"sensor_id\":1,\"volume\":99}".into()), BASE + 95_000));
    out.push((None, None, BASE + 95_000));
    out
}

fn produce(broker: &Broker, topic: &str, messages: &[(Option<String>, Option<String>, i64)]) {
    let path = broker.dir.path().join(format!("{topic}-upserts.jsonl"));
    let text: String = messages.iter().map(|m| serde_json::to_string(&(&m.0, &m.1, m.2)).expect("json") + "\n").collect();
    std::fs::write(&path, text).expect("write input");
    let out = crate::kafka::client(&["produce-json", &broker.bootstrap(), topic, path.to_str().expect("utf8")]);
    assert!(out.status.success(), "produce-json: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn upsert_kafka_versions_and_deletions_join_as_datafusion_says() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let a = events(100, 5, &[]);
    let a_path = dir.path().join("a.json");
    std::fs::write(&a_path, json_lines(&a)).expect("write");
    let v = versions();
    for (topic, with_key) in [("rates_all", true), ("rates_except_key", false)] {
        broker.create_topic(topic, 3);
        produce(&broker, topic, &messages(&v, with_key));
        let layout = if with_key {
            "'key.format' = 'json', 'value.format' = 'json'"
        } else {
            "'key.format' = 'csv', 'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY'"
        };
        for kind in ["INNER", "LEFT"] {
            let expected = oracle(&a, &v, kind);
            let without = expected.iter().filter(|l| l.contains("\"version\":null")).count();
            assert!(kind == "INNER" || without > 10, "rows without a version (none yet, or deleted)");
            assert!(expected.len() > without + 40, "most rows find a version");
            for workers in [1, 2, 4] {
                let output = dir.path().join(format!("out-{topic}-{kind}-{workers}.json"));
                let sql = format!(
                    "{}CREATE TABLE v (sensor_id BIGINT NOT NULL, volume BIGINT, ts TIMESTAMP(3) METADATA FROM 'timestamp',
                       PRIMARY KEY (sensor_id) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '6' SECOND)
                       WITH ('connector' = 'upsert-kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{}',
                             'properties.group.id' = 'g-{topic}-{kind}-{workers}', {layout}, 'scan.bounded.mode' = 'latest-offset');
                     CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
                     INSERT INTO out SELECT a.sensor_id, a.ts, a.volume, x.volume AS version, x.ts AS version_ts
                       FROM a {kind} JOIN v FOR SYSTEM_TIME AS OF a.ts AS x ON a.sensor_id = x.sensor_id;",
                    ddl("a", &a_path),
                    broker.bootstrap(),
                    output.display()
                );
                let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
                assert!(plan.to_string().contains("a null value deletes its key"), "{plan}");
                let report = weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers)).expect("runs");
                let mut got: Vec<String> = std::fs::read_to_string(&output).expect("output").lines().map(str::to_string).collect();
                got.sort();
                assert_eq!(got, expected, "{topic} {kind} on {workers} workers");
                // The keyless value and the keyless deletion are counted.
                assert_eq!(report.malformed.get("v").copied().unwrap_or(0), 2, "{topic}: bad messages");
            }
        }
    }
}

#[test]
fn the_deletion_marker_stays_out_of_select_star_and_plain_reads_are_refused() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let table = format!(
        "CREATE TABLE v (sensor_id BIGINT, volume BIGINT, ts TIMESTAMP(3) METADATA FROM 'timestamp',
           PRIMARY KEY (sensor_id) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '6' SECOND)
           WITH ('connector' = 'upsert-kafka', 'topic' = 'rates', 'properties.bootstrap.servers' = '{}',
                 'key.format' = 'json', 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\n",
        broker.bootstrap(),
        dir.path().join("out.json").display()
    );
    let a = events(10, 5, &[]);
    let a_path = dir.path().join("a.json");
    std::fs::write(&a_path, json_lines(&a)).expect("write");
    let star = format!("{}{table}INSERT INTO out SELECT * FROM a JOIN v FOR SYSTEM_TIME AS OF a.ts AS x ON a.sensor_id = x.sensor_id;", ddl("a", &a_path));
    let plan = weir_engine::plan_pipeline(&star).unwrap_or_else(|e| panic!("{e}"));
    let columns: Vec<String> = plan.sinks.iter().flat_map(|s| s.schema.fields().iter().map(|f| f.name().clone())).collect();
    assert!(!columns.is_empty() && !columns.iter().any(|c| c.contains("__weir")), "{columns:?}");
    let plain = format!("{table}INSERT INTO out SELECT * FROM v;");
    let err = weir_engine::plan_pipeline(&plain).expect_err("a plain read of an upsert table");
    assert!(err.to_string().contains("upsert-kafka table"), "{err}");
    let keyless = table.replace("PRIMARY KEY (sensor_id) NOT ENFORCED, ", "");
    let err = weir_engine::plan_pipeline(&format!("{keyless}INSERT INTO out SELECT * FROM v;")).expect_err("no primary key");
    assert!(err.to_string().contains("PRIMARY KEY"), "{err}");
}
