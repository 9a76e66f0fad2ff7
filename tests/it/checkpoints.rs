//! Consistent checkpoints: a pipeline killed (SIGKILL) at random moments
//! and restarted, again and again, writes exactly what one uninterrupted
//! run writes; damaged checkpoints are skipped for the one before; a
//! pipeline changed in a way its state cannot follow is refused, naming
//! the statement and the operator; `--fresh` starts anew.
//!
//! The oracle is the same pipeline run once without checkpoints. Floating
//! sums are rounded: with two workers the order in which rows of one key
//! arrive from the two readers, and so the last bits of a sum, differ
//! between any two runs, checkpointed or not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Windows (tumbling and sliding), `OVER` frames of every kind, an
/// interval join, a windowed drift monitor, a per-key model learning
/// in event-time order (saved to its `'snapshot.path'` file as it
/// learns), a per-key model scoring every row in event time (its
/// predictions are compared number for number) and a point detector per
/// key (in event-time order, since its table has a watermark), from
/// `source`, into files under `out`. The windowed monitor's reference is an
/// event-time range and its statistic does not depend on the order of a
/// window's values, so its alerts are the same in any two runs;
/// `alert_time` is the wall clock and is left out.
fn pipeline(source: &str, out: &Path, settings: &str) -> String {
    let file = |name: &str| out.join(name).display().to_string();
    format!(
        "{settings}
        {source}
        CREATE TABLE windows WITH ('connector' = 'file', 'path' = '{w}', 'format' = 'json');
        CREATE TABLE hops WITH ('connector' = 'file', 'path' = '{h}', 'format' = 'csv');
        CREATE TABLE features WITH ('connector' = 'file', 'path' = '{f}', 'format' = 'json');
        CREATE TABLE pairs WITH ('connector' = 'file', 'path' = '{p}', 'format' = 'json');
        CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{a}', 'format' = 'json');
        CREATE TABLE predictions WITH ('connector' = 'file', 'path' = '{q}', 'format' = 'json');
        CREATE TABLE point_alerts WITH ('connector' = 'file', 'path' = '{d}', 'format' = 'json');
        CREATE MONITOR speed_shift ON traffic (speed, occupancy)
          WITH ('method' = 'page_hinkley', 'threshold' = '20', 'partition_by' = 'sensor_id');
        INSERT INTO point_alerts SELECT key, feature, state, row_index, event_time, ROUND(statistic, 6) AS statistic FROM speed_shift;
        CREATE MODEL jam INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
          WITH ('task' = 'classification', 'scaler' = 'standard', 'device' = 'cpu', 'partition_by' = 'sensor_id', 'scoring' = 'event-time');
        INSERT INTO jam SELECT sensor_id, ts, speed, occupancy, congested FROM traffic;
        INSERT INTO predictions SELECT sensor_id, ts, speed, occupancy, prediction, probability
          FROM ML_PREDICT(TABLE traffic, MODEL jam, DESCRIPTOR(speed, occupancy));
        CREATE MONITOR drift ON traffic (speed, occupancy)
          WITH ('method' = 'psi', 'window' = '1 minute', 'slide' = '30 s', 'threshold' = '0.1', 'partition_by' = 'sensor_id',
                'reference.start' = '2026-01-01 00:00:00', 'reference.end' = '2026-01-01 00:02:00', 'device' = 'cpu');
        INSERT INTO alerts
          SELECT key, feature, state, window_start, window_end, n_reference, n_current, ROUND(statistic, 6) AS statistic FROM drift;
        INSERT INTO windows
          SELECT sensor_id, window_start, window_end, COUNT(*) AS n, ROUND(AVG(speed), 6) AS speed, MAX(volume) AS volume, ROUND(SUM(occupancy), 6) AS occupancy
          FROM TUMBLE(traffic, ts, INTERVAL '10' SECOND) GROUP BY sensor_id, window_start, window_end;
        INSERT INTO hops
          SELECT window_start, window_end, COUNT(*) AS n, MIN(speed) AS slowest
          FROM HOP(traffic, ts, INTERVAL '5' SECOND, INTERVAL '15' SECOND) GROUP BY window_start, window_end;
        INSERT INTO features
          SELECT sensor_id, ts, speed,
            LAG(speed, 2) OVER (PARTITION BY sensor_id ORDER BY ts) AS back2,
            ROUND(SUM(speed) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW), 6) AS sum5,
            MAX(volume) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '20' SECOND PRECEDING AND CURRENT ROW) AS max20,
            COUNT(*) OVER (PARTITION BY sensor_id ORDER BY ts) AS seen
          FROM traffic;
        INSERT INTO pairs
          SELECT a.sensor_id, a.ts AS first_ts, b.ts AS second_ts, b.speed - a.speed AS change
          FROM traffic a JOIN traffic b ON a.sensor_id = b.sensor_id
            AND b.ts > a.ts AND b.ts <= a.ts + INTERVAL '3' SECOND;
        CREATE MODEL slow INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (slow BOOLEAN)
          WITH ('task' = 'classification', 'optimizer' = 'adam', 'scaler' = 'standard', 'device' = 'cpu',
                'partition_by' = 'sensor_id', 'snapshot.path' = '{m}', 'snapshot.interval' = '50 ms');
        INSERT INTO slow SELECT sensor_id, ts, speed, occupancy, speed < 50 AND volume > 5 AS slow FROM traffic;",
        m = file(MODEL),
        w = file("windows.json"),
        h = file("hops.csv"),
        f = file("features.json"),
        p = file("pairs.json"),
        a = file("alerts.json"),
        q = file("predictions.json"),
        d = file("point_alerts.json"),
    )
}

/// The throttled generator: `events` readings at `rate` a second, up to
/// 2 s out of order.
fn generator(events: u64, rate: u64) -> String {
    format!(
        "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL,
           occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
         WITH ('connector' = 'generator', 'sensors' = '20', 'rate' = '{rate}', 'events' = '{events}', 'disorder_ms' = '2000', 'seed' = '11');"
    )
}

const OUTPUTS: [&str; 7] = ["windows.json", "hops.csv", "features.json", "pairs.json", "alerts.json", "predictions.json", "point_alerts.json"];

/// A file's lines, sorted (none if it is missing).
fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// The model's `'snapshot.path'` file.
const MODEL: &str = "slow.model.json";

/// Every output file's lines, sorted (a CSV header once), then the model
/// file's rows learned and each key's saved model, sorted by key.
fn outputs(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = OUTPUTS.iter().map(|name| (name.to_string(), sorted_lines(&dir.join(name)))).collect();
    let model = std::fs::read_to_string(dir.join(MODEL)).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    all.push((MODEL.to_string(), model_lines(&model)));
    all
}

/// A model snapshot document's rows learned and keys, sorted by key.
fn model_lines(model: &serde_json::Value) -> Vec<String> {
    let mut lines: Vec<String> = model["keys"].as_array().into_iter().flatten().map(|k| k.to_string()).collect();
    lines.sort();
    if let Some(rows) = model["rows_learned"].as_u64() {
        lines.insert(0, format!("rows_learned {rows}"));
    }
    lines
}

fn checkpoint_settings(dir: &Path, interval: &str, retained: usize) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '{interval}';
         SET 'state.checkpoints.dir' = '{}';
         SET 'state.checkpoints.num-retained' = '{retained}';",
        dir.display()
    )
}

fn weir(pipeline: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weir"));
    c.args(["run", pipeline.to_str().expect("utf8"), "--workers", "2", "--metrics-addr", "off"]).args(extra);
    c
}

/// The ids of the complete checkpoints in `dir`.
fn complete(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("_manifest.json").exists())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("chk-")).and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// A small deterministic generator of kill moments.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The uninterrupted run's outputs, the oracle.
fn uninterrupted(source: &str, root: &Path) -> Vec<(String, Vec<String>)> {
    let out = root.join("uninterrupted");
    std::fs::create_dir_all(&out).expect("dir");
    let path = root.join("uninterrupted.sql");
    std::fs::write(&path, pipeline(source, &out, "")).expect("write");
    let status = weir(&path, &["--quiet"]).status().expect("weir runs");
    assert!(status.success(), "the uninterrupted run failed");
    let got = outputs(&out);
    assert!(got.iter().all(|(_, lines)| !lines.is_empty()), "every output has rows: {:?}", got.iter().map(|(n, l)| (n, l.len())).collect::<Vec<_>>());
    got
}

/// Kills `weir run` (SIGKILL) `kills` times, each time after it completed
/// a checkpoint newer than any before plus a seeded random delay (so some
/// kills land while a checkpoint is being written), and every other
/// restart also once 20 to 120 ms after it starts, while it restores;
/// then lets it finish; returns the outputs.
fn killed_and_restarted(source: &str, root: &Path, kills: usize, seed: u64) -> Vec<(String, Vec<String>)> {
    let out = root.join("killed");
    let checkpoints = root.join("checkpoints");
    std::fs::create_dir_all(&out).expect("dir");
    let path = root.join("killed.sql");
    std::fs::write(&path, pipeline(source, &out, &checkpoint_settings(&checkpoints, "150 ms", 2))).expect("write");
    let mut rng = Lcg(seed);
    let mut killed = 0;
    let mut newest = 0;
    let started = Instant::now();
    let mut in_recovery = 0;
    while killed < kills {
        if killed % 2 == 1 {
            // Every other restart is first killed while it starts and
            // restores, before it can complete a checkpoint of its own.
            let mut child = weir(&path, &["--quiet"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("weir runs");
            std::thread::sleep(Duration::from_millis(20 + rng.below(100)));
            let before = complete(&checkpoints).last().copied().unwrap_or(0);
            if child.try_wait().ok().flatten().is_none() && before == newest {
                in_recovery += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
            newest = complete(&checkpoints).last().copied().unwrap_or(newest);
        }
        let mut child = weir(&path, &["--quiet"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("weir runs");
        // Poll for a checkpoint newer than the last one seen.
        let ended = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if complete(&checkpoints).last().is_some_and(|id| *id > newest) {
                break None;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "no new checkpoint in 120 s");
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(status) = ended {
            let stderr = child.stderr.take().map(std::io::read_to_string).and_then(Result::ok).unwrap_or_default();
            assert!(status.success(), "a restarted run failed: {stderr}");
            break;
        }
        newest = complete(&checkpoints).last().copied().unwrap_or(newest);
        std::thread::sleep(Duration::from_millis(rng.below(250)));
        let _ = child.kill();
        let _ = child.wait();
        killed += 1;
    }
    assert!(killed >= kills.min(2), "the run ended before it was killed twice: make it longer");
    assert!(in_recovery >= 1, "no run was killed while it restored");
    let last = weir(&path, &[]).output().expect("weir runs");
    let stderr = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "the last run failed: {stderr}");
    assert!(stderr.contains("resuming from checkpoint"), "the last run resumes: {stderr}");
    outputs(&out)
}

/// Flink's end-to-end check of exactly-once, per key: the features'
/// `seen` (`COUNT(*) OVER` each sensor's rows in time order, a RANGE
/// frame, so rows of equal time share the count of all up to them) must
/// step through each sensor's rows with nothing lost or repeated: sorted,
/// each value `v` that appears `c` times is the previous value plus `c`.
/// Done before the comparison with the uninterrupted run, which it
/// implies, so that a failure names the key.
fn assert_sequences(got: &[(String, Vec<String>)]) {
    let lines = got.iter().find(|(name, _)| name.starts_with("features")).map(|(_, l)| l.as_slice()).unwrap_or_default();
    assert!(!lines.is_empty(), "no features rows");
    let mut seen: std::collections::BTreeMap<i64, Vec<i64>> = std::collections::BTreeMap::new();
    for line in lines {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let (key, n) = (row["sensor_id"].as_i64(), row["seen"].as_i64());
        seen.entry(key.expect("sensor_id")).or_default().push(n.expect("seen"));
    }
    for (key, mut ns) in seen {
        ns.sort_unstable();
        let mut previous = 0;
        for group in ns.chunk_by(|a, b| a == b) {
            let (v, c) = (group[0], group.len() as i64);
            assert!(v == previous + c, "sensor {key}: {c} rows counted {v} after {previous}: rows lost or repeated");
            previous = v;
        }
    }
}

fn assert_same(got: &[(String, Vec<String>)], expected: &[(String, Vec<String>)]) {
    assert_sequences(got);
    for ((name, got), (_, want)) in got.iter().zip(expected) {
        if got == want {
            continue;
        }
        // Both are sorted: the differences, for the message.
        let (g, w): (std::collections::BTreeSet<&String>, std::collections::BTreeSet<&String>) = (got.iter().collect(), want.iter().collect());
        let missing: Vec<&&String> = w.difference(&g).take(3).collect();
        let extra: Vec<&&String> = g.difference(&w).take(3).collect();
        panic!("{name}: {} lines, expected {}; missing e.g. {missing:?}, extra e.g. {extra:?}", got.len(), want.len());
    }
}

#[test]
fn a_generator_pipeline_killed_at_random_moments_writes_what_an_uninterrupted_run_writes() {
    let root = tempfile::tempdir().expect("tempdir");
    let source = generator(24_000, 6_000);
    let expected = uninterrupted(&source, root.path());
    let got = killed_and_restarted(&source, root.path(), 5, 7);
    assert_same(&got, &expected);
}

/// A file read in byte-range splits, paced by killing the run right
/// after each checkpoint: the file is the same on every restart, the
/// positions are byte offsets.
#[test]
fn a_file_pipeline_killed_and_resumed_writes_each_row_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let input = root.path().join("traffic.json");
    let mut lines = String::new();
    let base = 1_767_225_600_000i64;
    for i in 0..100_000i64 {
        // Up to 1.5 s out of order, 10 ms apart.
        let ts = base + i * 10 - (i * 7919 % 150) * 10;
        lines.push_str(&format!(
            "{{\"sensor_id\": {}, \"ts\": \"{}\", \"speed\": {}, \"volume\": {}, \"occupancy\": {}, \"congested\": false}}\n",
            i % 13,
            crate::common::rfc3339(ts),
            // Speeds shift halfway, for the monitor.
            (i * 37 % 1000) as f64 / 10.0 + if i >= 50_000 { 30.0 } else { 0.0 },
            i % 17,
            (i % 100) as f64 / 100.0
        ));
    }
    std::fs::write(&input, lines).expect("write input");
    let source = format!(
        "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL,
           occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
         WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');",
        input.display()
    );
    let expected = uninterrupted(&source, root.path());
    // A file is read at full speed: checkpoint often, kill at once.
    let out = root.path().join("killed");
    let checkpoints = root.path().join("checkpoints");
    let path = root.path().join("killed.sql");
    std::fs::create_dir_all(&out).expect("dir");
    std::fs::write(&path, pipeline(&source, &out, &checkpoint_settings(&checkpoints, "5 ms", 1))).expect("write");
    let kills = killed_after_each_checkpoint(&path, &|| complete(&checkpoints).last().copied(), 6);
    assert!(kills >= 3, "killed {kills} times: the file is read too fast to test resuming");
    assert_same(&outputs(&out), &expected);
    // A finished pipeline left a last checkpoint: running it again reads
    // nothing and writes nothing.
    let again = weir(&path, &[]).output().expect("weir runs");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("read 0 rows from traffic"), "{stderr}");
    assert_same(&outputs(&out), &expected);
    // `weir model export` reads the model out of the last checkpoint: the
    // same model as the file the finished run saved.
    let export = Command::new(env!("CARGO_BIN_EXE_weir")).args(["model", "export", path.to_str().expect("utf8"), "slow"]).output().expect("weir runs");
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(export.status.success() && stderr.contains("from checkpoint"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&export.stdout).expect("a JSON model");
    let file = expected.iter().find(|(name, _)| name == MODEL).map(|(_, lines)| lines.clone()).unwrap_or_default();
    assert!(!file.is_empty() && model_lines(&doc) == file, "the checkpoint's model differs from the file's");
}

/// Nexmark: each split's next event index is its position; a window
/// join of two generated tables and a keyed window over a third, killed
/// after each checkpoint, write what one run writes.
#[test]
fn a_nexmark_pipeline_killed_after_each_checkpoint_writes_each_result_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let table = |name: &str, kind: &str, columns: &str| {
        format!(
            "CREATE TABLE {name} ({columns}, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
               WITH ('connector' = 'nexmark', 'nexmark.table.type' = '{kind}', 'nexmark.event.num' = '400000');"
        )
    };
    let pipeline = |out: &Path, settings: &str| {
        format!(
            "{settings}
            {}
            {}
            {}
            CREATE TABLE q8 WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
            CREATE TABLE hot WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
            INSERT INTO q8 SELECT P.id, P.name, P.starttime FROM (
                SELECT id, name, window_start AS starttime, window_end AS endtime
                FROM TUMBLE(person, date_time, INTERVAL '10' SECOND) GROUP BY id, name, window_start, window_end) P
              JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
                FROM TUMBLE(auction, date_time, INTERVAL '10' SECOND) GROUP BY seller, window_start, window_end) A
              ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
            INSERT INTO hot SELECT auction, window_start, COUNT(*) AS n, MAX(price) AS top
              FROM TUMBLE(bid, date_time, INTERVAL '2' SECOND) GROUP BY auction, window_start, window_end;",
            table("person", "Person", "id BIGINT, name STRING, date_time TIMESTAMP"),
            table("auction", "Auction", "id BIGINT, seller BIGINT, date_time TIMESTAMP"),
            table("bid", "Bid", "auction BIGINT, price BIGINT, date_time TIMESTAMP"),
            out.join("q8.json").display(),
            out.join("hot.json").display(),
        )
    };
    let read = |dir: &Path| -> Vec<Vec<String>> { ["q8.json", "hot.json"].iter().map(|f| sorted_lines(&dir.join(f))).collect() };
    let once = root.path().join("once");
    std::fs::create_dir_all(&once).expect("dir");
    let path = root.path().join("once.sql");
    std::fs::write(&path, pipeline(&once, "")).expect("write");
    assert!(weir(&path, &["--quiet"]).status().expect("weir runs").success(), "the uninterrupted run failed");
    let expected = read(&once);
    assert!(expected.iter().all(|lines| lines.len() > 10), "every output has rows: {:?}", expected.iter().map(Vec::len).collect::<Vec<_>>());
    let out = root.path().join("killed");
    let checkpoints = root.path().join("checkpoints");
    std::fs::create_dir_all(&out).expect("dir");
    let path = root.path().join("killed.sql");
    std::fs::write(&path, pipeline(&out, &checkpoint_settings(&checkpoints, "5 ms", 1))).expect("write");
    let kills = killed_after_each_checkpoint(&path, &|| complete(&checkpoints).last().copied(), 5);
    assert!(kills >= 2, "killed {kills} times: the events are generated too fast to test resuming");
    let got = read(&out);
    for (name, (got, want)) in ["q8.json", "hot.json"].iter().zip(got.iter().zip(&expected)) {
        assert!(got == want, "{name}: {} lines, expected {}", got.len(), want.len());
    }
}

/// Runs `weir run` on `path` and kills it (SIGKILL) as soon as it
/// completes a checkpoint newer than the last (`newest`: the newest
/// complete one's id), `kills` times (fewer if a run finishes first),
/// then runs it to its end; returns the kills. A kill may land on a run
/// that is writing its last checkpoint and exiting: the next run resumes
/// from that one.
fn killed_after_each_checkpoint(path: &Path, newest: &dyn Fn() -> Option<u64>, kills: usize) -> usize {
    let mut killed = 0;
    while killed < kills {
        let before = newest().unwrap_or(0);
        let mut child = weir(path, &["--quiet"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("weir runs");
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if newest().is_some_and(|id| id > before) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if let Some(status) = status {
            let stderr = child.stderr.take().map(std::io::read_to_string).and_then(Result::ok).unwrap_or_default();
            assert!(status.success(), "a run failed: {stderr}");
            return killed;
        }
        let _ = child.kill();
        let _ = child.wait();
        killed += 1;
    }
    let last = weir(path, &[]).output().expect("weir runs");
    let stderr = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "the last run failed: {stderr}");
    assert!(stderr.contains("resuming from checkpoint"), "the last run resumes: {stderr}");
    killed
}

/// Kafka: each partition's offsets are in the checkpoint; after the last
/// run the consumer group has committed everything; an exactly-once Kafka
/// sink's topic holds each result once.
#[test]
fn a_kafka_pipeline_killed_after_each_checkpoint_writes_each_result_once() {
    use crate::kafka::{json, readings, Broker, DDL_COLUMNS};
    let broker = Broker::start();
    broker.create_topic("traffic", 3);
    let input = readings(20_000);
    broker.produce("traffic", &input.iter().map(json).collect::<Vec<_>>());
    let source = format!(
        "CREATE TABLE traffic ({DDL_COLUMNS}, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'kafka',
           'topic' = 'traffic', 'properties.bootstrap.servers' = '{}', 'format' = 'json', 'properties.group.id' = 'checkpointed',
           'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');",
        broker.bootstrap()
    );
    let queries = |out: &Path| {
        format!(
            "CREATE TABLE windows WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             CREATE TABLE features WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             INSERT INTO windows SELECT sensor_id, window_start, COUNT(*) AS n, SUM(volume) AS volume, ROUND(AVG(speed), 6) AS speed
               FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE) GROUP BY sensor_id, window_start, window_end;
             INSERT INTO features SELECT sensor_id, ts, LAG(speed) OVER (PARTITION BY sensor_id ORDER BY ts) AS prev,
               SUM(volume) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS v4 FROM traffic;
             CREATE TABLE predictions WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             CREATE TABLE point_alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             CREATE MODEL busy INPUT (speed DOUBLE, volume DOUBLE) OUTPUT (busy BOOLEAN)
               WITH ('task' = 'classification', 'scaler' = 'standard', 'device' = 'cpu', 'partition_by' = 'sensor_id', 'scoring' = 'event-time');
             INSERT INTO busy SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, volume > 11 AS busy FROM traffic;
             CREATE VIEW scored AS SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume FROM traffic;
             INSERT INTO predictions SELECT sensor_id, ts, prediction, probability
               FROM ML_PREDICT(TABLE scored, MODEL busy, DESCRIPTOR(speed, volume));
             CREATE MONITOR speed_shift ON traffic (speed) WITH ('method' = 'page_hinkley', 'threshold' = '5', 'partition_by' = 'sensor_id');
             INSERT INTO point_alerts SELECT key, feature, state, row_index, event_time, ROUND(statistic, 6) AS statistic FROM speed_shift;",
            out.join("windows.json").display(),
            out.join("features.json").display(),
            out.join("predictions.json").display(),
            out.join("point_alerts.json").display()
        )
    };
    // The same windows, published exactly once to a topic.
    let published = format!(
        "CREATE TABLE published WITH ('connector' = 'kafka', 'topic' = 'published', 'properties.bootstrap.servers' = '{}',
           'format' = 'json', 'key.fields' = 'sensor_id', 'sink.delivery-guarantee' = 'exactly-once');
         INSERT INTO published SELECT sensor_id, window_start, COUNT(*) AS n, SUM(volume) AS volume, ROUND(AVG(speed), 6) AS speed
           FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE) GROUP BY sensor_id, window_start, window_end;",
        broker.bootstrap()
    );
    broker.create_topic("published", 3);
    let root = tempfile::tempdir().expect("tempdir");
    // Windows, OVER rows, a per-key model's predictions in event time
    // (number for number) and a point detector's alerts.
    const FILES: [&str; 4] = ["windows.json", "features.json", "predictions.json", "point_alerts.json"];
    let read = |dir: &Path| -> Vec<Vec<String>> { FILES.iter().map(|f| sorted_lines(&dir.join(f))).collect() };
    let once = root.path().join("once");
    std::fs::create_dir_all(&once).expect("dir");
    let sql = source.replace("'checkpointed'", "'once'") + &queries(&once);
    let path = root.path().join("once.sql");
    std::fs::write(&path, sql).expect("write");
    assert!(weir(&path, &["--quiet"]).status().expect("runs").success());
    let expected = read(&once);
    assert!(expected.iter().all(|l| !l.is_empty()));

    let out = root.path().join("killed");
    let checkpoints = root.path().join("checkpoints");
    std::fs::create_dir_all(&out).expect("dir");
    let path = root.path().join("killed.sql");
    // Exactly once needs checkpoints: refused without them, before the run.
    let unchecked = root.path().join("unchecked.sql");
    std::fs::write(&unchecked, format!("{source}\n{published}")).expect("write");
    let refused = weir(&unchecked, &["--quiet"]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("INSERT INTO published") && stderr.contains("must checkpoint"), "{stderr}");
    std::fs::write(&path, format!("{}\n{source}\n{}\n{published}", checkpoint_settings(&checkpoints, "20 ms", 1), queries(&out))).expect("write");
    let kills = killed_after_each_checkpoint(&path, &|| complete(&checkpoints).last().copied(), 6);
    assert!(kills >= 3, "killed {kills} times: the topic is read too fast to test resuming");
    let got = read(&out);
    for (name, (g, e)) in FILES.iter().zip(got.iter().zip(&expected)) {
        assert!(g == e, "{name}: {} rows, expected {}", g.len(), e.len());
    }
    // Read with a plain consumer, the topic holds each window once.
    let messages = broker.consume_all("published");
    let mut values: Vec<String> = messages.iter().map(|(_, _, _, v)| v.clone()).collect();
    values.sort();
    let (g, w): (std::collections::BTreeSet<&String>, std::collections::BTreeSet<&String>) = (values.iter().collect(), expected[0].iter().collect());
    assert!(
        values == expected[0],
        "published: {} messages, expected {}; missing e.g. {:?}, extra e.g. {:?}",
        values.len(),
        expected[0].len(),
        w.difference(&g).take(3).collect::<Vec<_>>(),
        g.difference(&w).take(3).collect::<Vec<_>>()
    );
    assert!(messages.iter().all(|(_, _, headers, _)| headers.contains("weir.checkpoint") && headers.contains("weir.writer")));
    assert_eq!(broker.committed("checkpointed", "traffic").iter().sum::<i64>(), 20_000, "the group committed every offset");
}

/// What `weir checkpoints DIR` prints (it must succeed).
fn list(dir: &Path) -> String {
    let listed = Command::new(env!("CARGO_BIN_EXE_weir")).args(["checkpoints", dir.to_str().expect("utf8")]).output().expect("runs");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    String::from_utf8_lossy(&listed.stdout).into_owned()
}

/// Runs `sql` in this process with checkpoints in `dir`.
fn run_in_process(sql: &str, fresh: bool) -> Result<weir_engine::RunReport, weir_engine::EngineError> {
    let plan = weir_engine::plan_pipeline(sql)?;
    let options = weir_engine::RunOptions { name: "checkpoints".into(), fresh, ..weir_engine::RunOptions::default() }.workers(2);
    weir_engine::run(plan, options)
}

fn bounded_pipeline(root: &Path, checkpoints: &Path, window: &str) -> (String, PathBuf) {
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("dir");
    let sql = format!(
        "{}
         {}
         CREATE TABLE windows WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO windows SELECT sensor_id, window_start, COUNT(*) AS n
           FROM TUMBLE(traffic, ts, INTERVAL '{window}' SECOND) GROUP BY sensor_id, window_start, window_end;",
        checkpoint_settings(checkpoints, "1 s", 2),
        generator(3000, 0),
        out.join("windows.json").display()
    );
    (sql, out.join("windows.json"))
}

#[test]
fn a_changed_pipeline_is_refused_by_name_and_fresh_starts_anew() {
    let root = tempfile::tempdir().expect("tempdir");
    let checkpoints = root.path().join("checkpoints");
    let (sql, out) = bounded_pipeline(root.path(), &checkpoints, "10");
    let first = run_in_process(&sql, false).expect("first run");
    assert_eq!(first.checkpoints.as_ref().and_then(|c| c.last), complete(&checkpoints).last().copied(), "a last checkpoint");
    let written = std::fs::read_to_string(&out).expect("output");
    // The same pipeline: resumes at the end, reads nothing.
    let again = run_in_process(&sql, false).expect("second run");
    assert_eq!(again.rows_read["traffic"], 0);
    assert!(again.checkpoints.as_ref().is_some_and(|c| c.restored.is_some()));
    assert_eq!(std::fs::read_to_string(&out).expect("output"), written);
    // Another window size: the window operator's state no longer fits.
    let (changed, _) = bounded_pipeline(root.path(), &checkpoints, "20");
    let e = run_in_process(&changed, false).expect_err("refused").to_string();
    assert!(e.contains("INSERT INTO windows (line") && e.contains("window aggregate") && e.contains("--fresh"), "{e}");
    // With --fresh it runs, after the old checkpoints.
    let fresh = run_in_process(&changed, true).expect("fresh run");
    assert_eq!(fresh.rows_read["traffic"], 3000);
    assert!(fresh.checkpoints.as_ref().is_some_and(|c| c.restored.is_none()));
}

#[test]
fn a_damaged_checkpoint_is_skipped_for_the_one_before() {
    let root = tempfile::tempdir().expect("tempdir");
    let checkpoints = root.path().join("checkpoints");
    let (sql, out) = bounded_pipeline(root.path(), &checkpoints, "10");
    run_in_process(&sql, false).expect("first run");
    let expected = std::fs::read_to_string(&out).expect("output");
    let ids = complete(&checkpoints);
    let newest = *ids.last().expect("a checkpoint");
    // Cut the newest checkpoint's state short: it no longer matches its
    // manifest, and must not be used.
    let state = checkpoints.join(format!("chk-{newest:010}")).join("state.bin");
    let bytes = std::fs::read(&state).expect("state");
    std::fs::write(&state, &bytes[..bytes.len() / 2]).expect("cut");
    let text = list(&checkpoints);
    assert!(text.contains(&format!("checkpoint {newest}: damaged")), "{text}");
    let path = root.path().join("p.sql");
    std::fs::write(&path, &sql).expect("write");
    let run = weir(&path, &[]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("checkpoint {newest} in")) && stderr.contains("damaged"), "a warning: {stderr}");
    match ids.len() {
        // Only the final checkpoint existed: the run starts from scratch
        // and, appending, writes every window once more.
        1 => assert_eq!(std::fs::read_to_string(&out).expect("output"), format!("{expected}{expected}")),
        // The one before: its length of the file is restored, the rest
        // written again.
        _ => {
            assert!(stderr.contains("resuming from checkpoint"), "{stderr}");
            let mut got: Vec<String> = std::fs::read_to_string(&out).expect("output").lines().map(str::to_string).collect();
            let mut want: Vec<String> = expected.lines().map(str::to_string).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
    }
}

#[test]
fn weir_checkpoints_lists_each_checkpoint_with_its_positions() {
    let root = tempfile::tempdir().expect("tempdir");
    let checkpoints = root.path().join("checkpoints");
    let (sql, _) = bounded_pipeline(root.path(), &checkpoints, "10");
    run_in_process(&sql, false).expect("run");
    let text = list(&checkpoints);
    let newest = complete(&checkpoints).last().copied().expect("a checkpoint");
    assert!(text.contains(&format!("checkpoint {newest}: completed 20")), "{text}");
    assert!(text.contains("CREATE TABLE traffic (its reader on worker 0): event 3"), "the generator's position: {text}");
    assert!(text.contains("CREATE TABLE windows (its writer on worker 0): "), "the file's length: {text}");
}

#[test]
fn a_model_trained_by_two_inserts_is_refused_before_the_run() {
    let root = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "{}
         {}
         CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification', 'partition_by' = 'sensor_id');
         INSERT INTO m SELECT sensor_id, speed, congested FROM traffic WHERE speed < 50;
         INSERT INTO m SELECT sensor_id, speed, congested FROM traffic WHERE speed >= 50;",
        checkpoint_settings(&root.path().join("c"), "1 s", 1),
        generator(100, 0)
    );
    let e = run_in_process(&sql, false).expect_err("refused").to_string();
    assert!(e.contains("INSERT INTO m (line") && e.contains("trains model 'm', which the INSERT at line") && e.contains("UNION ALL"), "{e}");
}

/// Checkpoints in an S3-compatible store (moto's server): a pipeline
/// killed after each checkpoint resumes from the bucket and writes what
/// one run writes; `weir checkpoints s3://…` lists them; a bucket that is
/// not there is an error naming it. The `OVER` frames are RANGE frames,
/// which do not depend on the arrival order of rows with equal times (a
/// `LAG` over two such rows does, in any two runs, checkpointed or not).
#[test]
fn a_pipeline_checkpointing_to_s3_is_killed_and_resumes_from_the_bucket() {
    let moto = crate::moto::Moto::start();
    moto.bucket("weir");
    let root = tempfile::tempdir().expect("tempdir");
    let queries = |out: &Path| {
        format!(
            "{}
             CREATE TABLE windows WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             CREATE TABLE features WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             INSERT INTO windows SELECT sensor_id, window_start, COUNT(*) AS n, MAX(volume) AS volume, ROUND(AVG(speed), 6) AS speed
               FROM TUMBLE(traffic, ts, INTERVAL '10' SECOND) GROUP BY sensor_id, window_start, window_end;
             INSERT INTO features SELECT sensor_id, ts, COUNT(*) OVER (PARTITION BY sensor_id ORDER BY ts) AS seen,
               MAX(speed) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '20' SECOND PRECEDING AND CURRENT ROW) AS max20
               FROM traffic;",
            generator(9000, 3000),
            out.join("windows.json").display(),
            out.join("features.json").display()
        )
    };
    let read = |dir: &Path| -> Vec<Vec<String>> { ["windows.json", "features.json"].iter().map(|f| sorted_lines(&dir.join(f))).collect() };
    let once = root.path().join("once");
    std::fs::create_dir_all(&once).expect("dir");
    let path = root.path().join("once.sql");
    std::fs::write(&path, queries(&once)).expect("write");
    assert!(weir(&path, &["--quiet"]).status().expect("weir runs").success(), "the uninterrupted run failed");
    let expected = read(&once);
    assert!(expected.iter().all(|l| !l.is_empty()));

    let url = "s3://weir/runs/traffic";
    let listed = || {
        let out = Command::new(env!("CARGO_BIN_EXE_weir")).args(["checkpoints", url]).envs(moto.env()).output().expect("runs");
        assert!(out.status.success(), "weir checkpoints {url}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let newest = || {
        listed()
            .lines()
            .filter(|l| l.contains(": completed "))
            .filter_map(|l| l.strip_prefix("checkpoint ").and_then(|r| r.split(':').next()).and_then(|n| n.parse().ok()))
            .max()
    };
    assert!(listed().contains("no checkpoints"), "the bucket starts empty");
    let out = root.path().join("killed");
    std::fs::create_dir_all(&out).expect("dir");
    let settings = format!(
        "{} SET 'execution.checkpointing.interval' = '100 ms'; SET 'state.checkpoints.dir' = '{url}';",
        moto.settings()
    );
    let path = root.path().join("killed.sql");
    std::fs::write(&path, format!("{settings}\n{}", queries(&out))).expect("write");
    let kills = killed_after_each_checkpoint(&path, &newest, 3);
    assert!(kills >= 2, "killed {kills} times: the generator ends too soon to test resuming");
    let named = |lines: Vec<Vec<String>>| -> Vec<(String, Vec<String>)> { ["windows", "features"].iter().map(|n| n.to_string()).zip(lines).collect() };
    assert_same(&named(read(&out)), &named(expected));
    let text = listed();
    assert!(text.contains("CREATE TABLE traffic (its reader on worker 1): event ") && text.contains(": completed "), "{text}");

    let missing = root.path().join("missing.sql");
    std::fs::write(&missing, format!("{}\n{}", settings.replace("s3://weir/", "s3://no-such-bucket/"), queries(&out))).expect("write");
    let failed = weir(&missing, &["--quiet"]).output().expect("weir runs");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && stderr.contains("s3://no-such-bucket/runs/traffic") && !stderr.contains("panicked"), "{stderr}");
}
