//! Kafka connectors against a real Kafka-protocol broker (tansu), with an
//! independent client (Python's confluent-kafka) producing the input and
//! reading the results. `scripts/test.sh` installs both; each test starts
//! its own broker on a free loopback port, with its own storage.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;

use crate::common::{lines_of, rfc3339};

/// A tansu broker on loopback, killed when dropped.
pub(crate) struct Broker {
    child: Child,
    port: u16,
    pub(crate) dir: tempfile::TempDir,
}

fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cached = home.join(".cache/weir/tools/bin/tansu");
    assert!(cached.exists(), "the Kafka tests need the tansu broker: run `bash scripts/test.sh`, which installs it, or set WEIR_TANSU");
    cached
}

impl Broker {
    pub(crate) fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Self::spawn(dir.path(), port);
        let broker = Broker { child, port, dir };
        broker.wait_listening();
        broker
    }

    /// Kills the broker process (as a crash would).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Produces messages given as (key, value), values free to hold
    /// newlines, with the independent client.
    pub(crate) fn produce_pairs(&self, topic: &str, messages: &[(Option<String>, Option<String>)]) {
        let path = self.dir.path().join(format!("{topic}-pairs.jsonl"));
        let text: String = messages.iter().map(|m| serde_json::to_string(&[&m.0, &m.1]).expect("json") + "\n").collect();
        std::fs::write(&path, text).expect("write input");
        let out = client(&["produce-json", &self.bootstrap(), topic, path.to_str().expect("utf8")]);
        assert!(out.status.success(), "produce-json: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Reads `count` messages as (partition, key, value), with the
    /// independent client; a value may hold newlines.
    pub(crate) fn consume_pairs(&self, topic: &str, count: usize) -> Vec<(u32, Option<String>, Option<String>)> {
        let out = client(&["consume-json", &self.bootstrap(), topic, &count.to_string()]);
        assert!(out.status.success(), "consume-json: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON message")).collect()
    }

    /// Stops the broker process and starts it again on the same port and
    /// storage.
    fn restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        self.child = Self::spawn(self.dir.path(), self.port);
        self.wait_listening();
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "tansu did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(dir: &Path, port: u16) -> Child {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("broker.log")).expect("log");
        Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "sqlite://broker.db"])
            .current_dir(dir)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start tansu")
    }

    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    pub(crate) fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(tansu())
            .args(["topic", "create", name, "--partitions", &partitions.to_string(), "--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .current_dir(self.dir.path())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "creating topic {name}: {}", self.log());
    }

    /// Produces each line of `lines` as a message, with the independent client.
    pub(crate) fn produce(&self, topic: &str, lines: &[String]) {
        let path = self.dir.path().join(format!("{topic}-input.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").expect("write input");
        let out = client(&["produce", &self.bootstrap(), topic, path.to_str().expect("utf8")]);
        assert!(out.status.success(), "produce: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Produces each line to partition `partition`, with the independent client.
    pub(crate) fn produce_to(&self, topic: &str, partition: u32, lines: &[String]) {
        let path = self.dir.path().join(format!("{topic}-{partition}-input.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").expect("write input");
        let out = client(&["produce", &self.bootstrap(), topic, path.to_str().expect("utf8"), &partition.to_string()]);
        assert!(out.status.success(), "produce: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The offsets `group` has committed for each partition of `topic`
    /// (negative where none), read with the independent client.
    pub(crate) fn committed(&self, group: &str, topic: &str) -> Vec<i64> {
        let out = client(&["committed", &self.bootstrap(), group, topic]);
        assert!(out.status.success(), "committed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('\t').nth(1).and_then(|o| o.parse().ok()))
            .collect()
    }

    /// Reads `count` messages as (partition, key, value), with the
    /// independent client.
    pub(crate) fn consume(&self, topic: &str, count: usize) -> Vec<(u32, String, String)> {
        self.consume_with_headers(topic, count).into_iter().map(|(p, k, _, v)| (p, k, v)).collect()
    }

    /// Reads `count` messages as (partition, key, headers as JSON, value).
    fn consume_with_headers(&self, topic: &str, count: usize) -> Vec<(u32, String, String, String)> {
        Self::messages(client(&["consume", &self.bootstrap(), topic, &count.to_string()]))
    }

    /// Reads every message of `topic` (until none came for 5 s) as
    /// (partition, key, headers as JSON, value).
    pub(crate) fn consume_all(&self, topic: &str) -> Vec<(u32, String, String, String)> {
        Self::messages(client(&["consume-all", &self.bootstrap(), topic]))
    }

    fn messages(out: std::process::Output) -> Vec<(u32, String, String, String)> {
        assert!(out.status.success(), "consume: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .expect("utf8")
            .lines()
            .map(|l| {
                let mut parts = l.splitn(4, '\t');
                let partition = parts.next().and_then(|p| p.parse().ok()).expect("partition");
                let key = parts.next().unwrap_or_default().to_string();
                let headers = parts.next().unwrap_or_default().to_string();
                (partition, key, headers, parts.next().unwrap_or_default().to_string())
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kafka/client.py");
    let python = std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(python).arg(script).args(args).output().expect("run the Python Kafka client")
}

pub(crate) struct Reading {
    pub(crate) sensor_id: i64,
    pub(crate) ts_ms: i64,
    pub(crate) speed: f64,
    pub(crate) volume: i64,
}

pub(crate) fn readings(n: usize) -> Vec<Reading> {
    (0..n as i64)
        .map(|i| Reading {
            sensor_id: (i * 7) % 13,
            ts_ms: 1_767_225_600_000 + i * 250,
            speed: ((i * 37) % 1300) as f64 / 10.0,
            volume: (i * 31) % 23,
        })
        .collect()
}

pub(crate) fn json(r: &Reading) -> String {
    format!(
        "{{\"sensor_id\": {}, \"ts\": \"{}\", \"speed\": {:?}, \"volume\": {}}}",
        r.sensor_id,
        rfc3339(r.ts_ms),
        r.speed,
        r.volume
    )
}

pub(crate) const DDL_COLUMNS: &str = "sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL";
const QUERY: &str = "SELECT sensor_id, ts, speed * 3.6 AS speed_ms, volume * 2 AS double_volume FROM traffic WHERE volume > 3";

pub(crate) fn oracle(rows: &[Reading], query: &str) -> Vec<String> {
    lines_of(&oracle_batches(rows, query))
}

/// DataFusion's batch engine running `query` over `rows` as table `traffic`.
pub(crate) fn oracle_batches(rows: &[Reading], query: &str) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("speed", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.sensor_id))),
        Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.ts_ms)).with_timezone("UTC")),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.speed))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.volume))),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch");
    let ctx = weir_engine::session();
    ctx.register_table("traffic", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table"))).expect("register");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async { ctx.sql(query).await.expect("plans").collect().await.expect("runs") })
}

pub(crate) fn pipeline(broker: &Broker, source_options: &str, sink_topic: &str, query: &str) -> String {
    format!(
        "CREATE TABLE traffic ({DDL_COLUMNS}) WITH ('connector' = 'kafka', 'topic' = 'traffic', \
           'properties.bootstrap.servers' = '{b}', 'format' = 'json'{source_options});\n\
         CREATE TABLE features WITH ('connector' = 'kafka', 'topic' = '{sink_topic}', \
           'properties.bootstrap.servers' = '{b}', 'format' = 'json', 'key.fields' = 'sensor_id');\n\
         INSERT INTO features {query};",
        b = broker.bootstrap()
    )
}

pub(crate) fn run(sql: &str, workers: usize) -> weir_engine::RunReport {
    let plan = weir_engine::plan_pipeline(sql).unwrap_or_else(|e| panic!("{e}"));
    weir_engine::run(plan, weir_engine::RunOptions::default().workers(workers)).expect("the pipeline runs")
}

#[test]
fn round_trip_through_kafka_matches_datafusion_and_keys_stay_in_one_partition() {
    let broker = Broker::start();
    broker.create_topic("traffic", 3);
    let input = readings(3000);
    let mut lines: Vec<String> = input.iter().map(json).collect();
    // Malformed messages are counted and skipped, never stop the pipeline.
    lines.insert(100, "{\"sensor_id\": \"x\"}".into());
    lines.insert(2000, "not json at all".into());
    broker.produce("traffic", &lines);
    let expected = oracle(&input, QUERY);
    for workers in [1, 2] {
        let topic = format!("features-{workers}");
        broker.create_topic(&topic, 3);
        let sql = pipeline(&broker, ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'", &topic, QUERY);
        let report = run(&sql, workers);
        assert_eq!(report.rows_read.get("traffic").copied(), Some(3000), "{workers} workers");
        assert_eq!(report.malformed.get("traffic").copied(), Some(2));
        let messages = broker.consume(&topic, expected.len());
        let mut got: Vec<String> = messages.iter().map(|(_, _, v)| v.clone()).collect();
        got.sort();
        assert_eq!(got, expected, "{workers} workers");
        // One sensor's rows all went to one partition.
        let mut partition_of = std::collections::HashMap::new();
        for (partition, key, _) in &messages {
            assert!(key.starts_with("{\"sensor_id\":"), "keyed by the sensor: {key}");
            assert_eq!(*partition_of.entry(key.clone()).or_insert(*partition), *partition, "{key}");
        }
    }
}

#[test]
fn csv_round_trip_through_kafka_matches_datafusion() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("features-csv", 2);
    let input = readings(1000);
    let mut lines: Vec<String> =
        input.iter().map(|r| format!("{},{},{:?},{}", r.sensor_id, rfc3339(r.ts_ms), r.speed, r.volume)).collect();
    lines.insert(500, "7,yesterday,fast,many".into());
    broker.produce("traffic", &lines);
    let sql = pipeline(&broker, ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'", "features-csv", QUERY)
        .replace("'format' = 'json'", "'format' = 'csv'");
    let report = run(&sql, 2);
    assert_eq!(report.rows_read.get("traffic").copied(), Some(1000));
    assert_eq!(report.malformed.get("traffic").copied(), Some(1));
    // The oracle's rows, written by the same CSV encoder the sink uses.
    let batches = oracle_batches(&input, QUERY);
    let mut buf = Vec::new();
    for b in &batches {
        weir_connectors::encode::write_csv(b, false, &mut buf).expect("encode");
    }
    let mut expected: Vec<String> = String::from_utf8(buf).expect("utf8").lines().map(str::to_string).collect();
    expected.sort();
    let mut got: Vec<String> = broker.consume("features-csv", expected.len()).into_iter().map(|(_, _, v)| v).collect();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn malformed_messages_go_to_the_dead_letter_topic_unchanged_with_headers() {
    let broker = Broker::start();
    broker.create_topic("traffic", 1);
    broker.create_topic("dead", 1);
    broker.create_topic("features", 1);
    let input = readings(50);
    let mut lines: Vec<String> = input.iter().map(json).collect();
    lines.insert(10, "{\"sensor_id\": \"not a number\"}".into());
    lines.insert(30, "not json".into());
    broker.produce("traffic", &lines);
    let options = ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'dlq.topic' = 'dead'";
    let report = run(&pipeline(&broker, options, "features", QUERY), 1);
    assert_eq!(report.malformed.get("traffic").copied(), Some(2));
    assert_eq!(broker.consume("features", oracle(&input, QUERY).len()).len(), oracle(&input, QUERY).len());
    let dead = broker.consume_with_headers("dead", 2);
    let values: Vec<&str> = dead.iter().map(|(_, _, _, v)| v.as_str()).collect();
    assert_eq!(values, vec!["{\"sensor_id\": \"not a number\"}", "not json"], "unchanged, in order");
    // Prometheus counts them (pipeline "main" may be shared with other tests).
    let dead_lettered: f64 = weir_engine::metrics::metrics().values("weir_source_dead_lettered_records_total", "main").iter().sum();
    assert!(dead_lettered >= 2.0, "{dead_lettered}");
    // With 'on_error' = 'fail' the first one stops the pipeline, naming it.
    let failing = pipeline(&broker, ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'on_error' = 'fail'", "features", QUERY);
    let plan = weir_engine::plan_pipeline(&failing).unwrap_or_else(|e| panic!("{e}"));
    let err = weir_engine::run(plan, weir_engine::RunOptions::default().workers(1)).expect_err("stops at the malformed message").to_string();
    assert!(err.contains("traffic/0@10"), "{err}");
    for ((_, _, headers, _), offset) in dead.iter().zip([10, 30]) {
        assert!(headers.contains("\"weir.source.topic\": \"traffic\""), "{headers}");
        assert!(headers.contains("\"weir.source.partition\": \"0\""), "{headers}");
        assert!(headers.contains(&format!("\"weir.source.offset\": \"{offset}\"")), "{headers}");
        assert!(headers.contains("\"weir.error\": "), "{headers}");
    }
}

#[test]
fn a_broker_that_goes_away_and_comes_back_loses_nothing() {
    let mut broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("features", 2);
    let input = readings(600);
    let lines: Vec<String> = input.iter().map(json).collect();
    broker.produce("traffic", &lines[..300]);
    let sql = pipeline(&broker, ", 'scan.startup.mode' = 'earliest-offset'", "features", "SELECT * FROM traffic");
    let plan = weir_engine::plan_pipeline(&sql).unwrap_or_else(|e| panic!("{e}"));
    let options = weir_engine::RunOptions::default().workers(2);
    let stop = Arc::clone(&options.stop);
    let running = std::thread::spawn(move || weir_engine::run(plan, options));
    // The first half arrives, then the broker is down for a while.
    assert_eq!(broker.consume("features", 300).len(), 300);
    broker.restart(Duration::from_secs(2));
    broker.produce("traffic", &lines[300..]);
    if running.is_finished() {
        panic!("the pipeline ended during the outage: {:?}", running.join().map(|r| r.map(|_| ())));
    }
    let all = broker.consume("features", 600);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let report = running.join().expect("joins").expect("the pipeline survives the outage");
    assert_eq!(report.rows_read.get("traffic").copied(), Some(600), "each message read once");
    let mut got: Vec<String> = all.into_iter().map(|(_, _, v)| v).collect();
    got.sort();
    assert_eq!(got, oracle(&input, "SELECT * FROM traffic"), "nothing lost, nothing repeated");
}

#[test]
fn startup_and_bounded_modes() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    let input = readings(500);
    broker.produce("traffic", &input.iter().map(json).collect::<Vec<_>>());
    let count = |options: &str, topic: &str| {
        broker.create_topic(topic, 1);
        run(&pipeline(&broker, options, topic, "SELECT * FROM traffic"), 2).rows_read.get("traffic").copied().unwrap_or(0)
    };
    // latest-offset starts at the end: a bounded read then has nothing.
    assert_eq!(count(", 'scan.startup.mode' = 'latest-offset', 'scan.bounded.mode' = 'latest-offset'", "a"), 0);
    assert_eq!(count(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'", "b"), 500);
    // group-offsets without commits starts at the earliest.
    assert_eq!(count(", 'properties.group.id' = 'fresh', 'scan.bounded.mode' = 'latest-offset'", "c"), 500);
}

/// The timestamp modes and bounded group-offsets: messages stamped one a
/// second from T0 (the client stamps each with its "ts_ms").
#[test]
fn timestamp_and_group_offset_bounds() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    let t0 = 1_767_225_600_000i64;
    let stamped = |from: usize, to: usize| -> Vec<String> {
        readings(to).iter().skip(from).enumerate().map(|(i, r)| json(r).replacen('{', &format!("{{\"ts_ms\": {}, ", t0 + (from + i) as i64 * 1000), 1)).collect()
    };
    broker.produce("traffic", &stamped(0, 100));
    let count = |options: &str, topic: &str| {
        broker.create_topic(topic, 1);
        run(&pipeline(&broker, options, topic, "SELECT * FROM traffic"), 2).rows_read.get("traffic").copied().unwrap_or(0)
    };
    // From the first message at or after T0 + 30 s: 70 of 100.
    let from = format!(", 'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{}', 'scan.bounded.mode' = 'latest-offset'", t0 + 30_000);
    assert_eq!(count(&from, "a"), 70);
    // Up to (not including) the first message at or after T0 + 60 s: 60.
    let until = format!(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'timestamp', 'scan.bounded.timestamp-millis' = '{}'", t0 + 60_000);
    assert_eq!(count(&until, "b"), 60);
    // A group that committed everything up to here; then 50 more arrive.
    assert_eq!(count(", 'properties.group.id' = 'reader', 'scan.bounded.mode' = 'latest-offset'", "c"), 100);
    broker.produce("traffic", &stamped(100, 150));
    // Bounded by that group's offsets, from the earliest: the first 100 only.
    assert_eq!(count(", 'properties.group.id' = 'reader', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'group-offsets'", "d"), 100);
}

/// Flink's 'raw' format: each whole value is one STRING column, and a
/// one-column result is written as the values.
#[test]
fn raw_values_round_trip() {
    let broker = Broker::start();
    broker.create_topic("lines", 2);
    broker.create_topic("upper", 1);
    let lines: Vec<String> = (0..300).map(|i| format!("sensor {i} says {}", ["ok", "slow", "jam"][i % 3])).collect();
    broker.produce("lines", &lines);
    let b = broker.bootstrap();
    let sql = format!(
        "CREATE TABLE lines (line STRING) WITH ('connector' = 'kafka', 'topic' = 'lines', 'properties.bootstrap.servers' = '{b}', \
           'format' = 'raw', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');\n\
         CREATE TABLE upper WITH ('connector' = 'kafka', 'topic' = 'upper', 'properties.bootstrap.servers' = '{b}', 'format' = 'raw');\n\
         INSERT INTO upper SELECT upper(line) FROM lines WHERE line NOT LIKE '%ok';"
    );
    let report = run(&sql, 2);
    assert_eq!(report.rows_read.get("lines").copied(), Some(300));
    let mut expected: Vec<String> = lines.iter().filter(|l| !l.ends_with("ok")).map(|l| l.to_uppercase()).collect();
    let mut got: Vec<String> = broker.consume("upper", expected.len()).into_iter().map(|(_, _, v)| v).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    let wrong = format!("CREATE TABLE lines (line STRING, n BIGINT) WITH ('connector' = 'kafka', 'topic' = 'lines', 'properties.bootstrap.servers' = '{b}', 'format' = 'raw');\n\
        CREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT * FROM lines;");
    let err = weir_engine::plan_pipeline(&wrong).expect_err("two columns cannot be raw").to_string();
    assert!(err.contains("exactly one"), "{err}");
}

/// The drift issue's end-to-end check: the generator's road works (from
/// event 30,000, 00:50 of event time: free-flow speeds 25% lower) raise one
/// feature-drift alert, in the first window after the drift point and none
/// before it, and the alert reaches a Kafka topic, read back with the
/// independent client. A fixed seed; the threshold is set between the
/// largest PSI before the drift on this stream (0.33, an incident) and the
/// smallest after it (2.9).
#[test]
fn drift_alerts_reach_a_kafka_topic_after_the_drift_point_and_not_before() {
    let broker = Broker::start();
    broker.create_topic("alerts", 1);
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'sensors' = '10', 'events' = '60000', 'rate' = '0', 'seed' = '3', 'drift_at' = '30000');
         CREATE MONITOR speed_drift ON traffic (speed)
           WITH ('method' = 'psi', 'reference.rows' = '6000', 'window' = '5 minutes', 'threshold' = '1.0');
         CREATE TABLE alerts WITH ('connector' = 'kafka', 'topic' = 'alerts', 'properties.bootstrap.servers' = '{}', 'format' = 'json');
         INSERT INTO alerts SELECT * FROM speed_drift;",
        broker.bootstrap()
    );
    let report = run(&sql, 2);
    assert_eq!(report.rows_written, vec![("alerts".to_string(), 1)], "exactly one alert");
    let messages = broker.consume("alerts", 1);
    let alert: serde_json::Value = serde_json::from_str(&messages[0].2).expect("alert JSON");
    assert_eq!(alert["monitor"], "speed_drift");
    assert_eq!(alert["feature"], "speed");
    assert_eq!(alert["method"], "psi");
    assert_eq!(alert["state"], "raised");
    // 30,000 events of 10 sensors, one reading per sensor per second: the
    // drift starts at 00:50:00, so the first window after it is 00:50-00:55.
    let start = alert["window_start"].as_str().expect("window_start");
    assert!(start.starts_with("2026-01-01T00:50:00"), "{alert}");
    assert!(alert["statistic"].as_f64().expect("statistic") > 1.0, "{alert}");
    assert_eq!(alert["n_reference"].as_i64(), Some(6000));
    assert_eq!(alert["n_current"].as_i64(), Some(3000));
}

/// The main example itself (examples/traffic.sql, unpaced) with its alert
/// table pointed at a Kafka topic: the monitor's alert for the road works
/// and the models' own drift alerts arrive there.
#[test]
fn the_main_example_emits_its_drift_alerts_to_kafka() {
    let broker = Broker::start();
    broker.create_topic("drift-alerts", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/traffic.sql")).expect("example");
    let live = format!("CREATE TABLE live WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json')", dir.path().join("live.json").display());
    let alerts = format!(
        "CREATE TABLE drift_alerts WITH ('connector' = 'kafka', 'topic' = 'drift-alerts', 'properties.bootstrap.servers' = '{}', 'format' = 'json')",
        broker.bootstrap()
    );
    let sql = example
        .replace("'rate' = '1000'", "'rate' = '0'")
        .replace("CREATE TABLE live WITH ('connector' = 'stdout', 'format' = 'table')", &live)
        .replace("CREATE TABLE drift_alerts WITH ('connector' = 'stdout', 'format' = 'table')", &alerts);
    assert!(sql.contains("'connector' = 'kafka'") && !sql.contains("'stdout'"), "the example's sinks changed: {sql}");
    let report = run(&sql, 2);
    let written = report.rows_written.iter().find(|(t, _)| t == "drift_alerts").map(|(_, n)| *n).expect("drift_alerts");
    let messages = broker.consume("drift-alerts", written as usize);
    let alerts: Vec<serde_json::Value> = messages.iter().map(|(_, _, v)| serde_json::from_str(v).expect("alert JSON")).collect();
    let speed: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["monitor"] == "speed_drift").collect();
    assert_eq!(speed.len(), 1, "{alerts:?}");
    assert_eq!(speed[0]["state"], "raised");
    assert!(speed[0]["event_time"].as_str().is_some_and(|t| t.starts_with("2026-01-01T00:05:00")), "{}", speed[0]);
    assert!(alerts.iter().any(|a| a["monitor"] == "congestion" && a["state"] == "drift"), "{alerts:?}");
}

/// Avro values both ways: records written by the independent client
/// (fastavro, schemaless, the table's inline schema) are read, transformed
/// and written as Avro with the sink's schema, and read back by fastavro;
/// a message that is not a record is counted and skipped.
#[test]
fn avro_round_trip_through_kafka_matches_datafusion() {
    let broker = Broker::start();
    broker.create_topic("traffic", 2);
    broker.create_topic("features-avro", 2);
    let input = readings(800);
    let reading_schema = r#"{"type": "record", "name": "reading", "fields": [
        {"name": "sensor_id", "type": "long"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "speed", "type": "double"},
        {"name": "volume", "type": "long"}]}"#;
    let feature_schema = r#"{"type": "record", "name": "feature", "fields": [
        {"name": "sensor_id", "type": "long"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "speed_ms", "type": "double"},
        {"name": "double_volume", "type": "long"}]}"#;
    let dir = broker.dir.path();
    std::fs::write(dir.join("reading.avsc"), reading_schema).expect("schema");
    std::fs::write(dir.join("feature.avsc"), feature_schema).expect("schema");
    let mut lines: Vec<String> = input
        .iter()
        .map(|r| format!("{{\"sensor_id\": {}, \"ts\": {}, \"speed\": {:?}, \"volume\": {}}}", r.sensor_id, r.ts_ms, r.speed, r.volume))
        .collect();
    lines.insert(400, "not an avro record".into());
    std::fs::write(dir.join("avro-input.jsonl"), lines.join("\n") + "\n").expect("input");
    let path = |name: &str| dir.join(name).to_str().expect("utf8").to_string();
    let out = client(&["produce-avro", &broker.bootstrap(), "traffic", &path("reading.avsc"), &path("avro-input.jsonl")]);
    assert!(out.status.success(), "produce-avro: {}", String::from_utf8_lossy(&out.stderr));
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let sql = format!(
        "CREATE TABLE traffic ({DDL_COLUMNS}) WITH ('connector' = 'kafka', 'topic' = 'traffic', \
           'properties.bootstrap.servers' = '{b}', 'format' = 'avro', 'avro.schema' = '{r}', \
           'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');\n\
         CREATE TABLE features WITH ('connector' = 'kafka', 'topic' = 'features-avro', \
           'properties.bootstrap.servers' = '{b}', 'format' = 'avro', 'avro.schema' = '{f}', 'key.fields' = 'sensor_id');\n\
         INSERT INTO features {QUERY};",
        b = broker.bootstrap(),
        r = one_line(reading_schema),
        f = one_line(feature_schema),
    );
    let report = run(&sql, 2);
    assert_eq!(report.rows_read.get("traffic").copied(), Some(800));
    assert_eq!(report.malformed.get("traffic").copied(), Some(1));
    // The oracle's rows as plain JSON values, timestamps in epoch ms.
    let batches = oracle_batches(&input, QUERY);
    let mut expected: Vec<serde_json::Value> = Vec::new();
    for b in &batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().expect("ids");
        let ts = b.column(1).as_any().downcast_ref::<TimestampMillisecondArray>().expect("ts");
        let speed = b.column(2).as_any().downcast_ref::<Float64Array>().expect("speed");
        let volume = b.column(3).as_any().downcast_ref::<Int64Array>().expect("volume");
        for i in 0..b.num_rows() {
            expected.push(serde_json::json!({"sensor_id": ids.value(i), "ts": ts.value(i), "speed_ms": speed.value(i), "double_volume": volume.value(i)}));
        }
    }
    let out = client(&["consume-avro", &broker.bootstrap(), "features-avro", &path("feature.avsc"), &expected.len().to_string()]);
    assert!(out.status.success(), "consume-avro: {}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    let mut expected: Vec<String> = expected.iter().map(|v| serde_json::to_string(v).expect("json")).collect();
    got.sort();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}
