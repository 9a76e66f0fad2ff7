//! End-to-end tests of the `weir` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use datafusion::datasource::MemTable;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir")).args(args).current_dir(root()).output().expect("weir runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn help_lists_the_commands() {
    let out = weir(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["run", "check", "connectors"] {
        assert!(help.contains(word), "{help}");
    }
    let out = weir(&["run", "--help"]);
    assert!(text(&out.stdout).contains("--workers"));
}

#[test]
fn check_prints_the_plan() {
    let out = weir(&["check", "examples/traffic.sql"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("source traffic: generator sensors=50 seed=7 events=20000 rate=1000/s disorder_ms=2000"), "{plan}");
    assert!(plan.contains("trains model congestion"), "{plan}");
    assert!(plan.contains("ml_predict congestion: features [speed, volume, occupancy]"), "{plan}");
    assert!(plan.contains("watermark: for ts as ts - INTERVAL '2' SECOND"), "{plan}");
    assert!(plan.contains("exchange: gather to worker 0"), "{plan}");
    assert!(plan.contains("filter"), "{plan}");
}

/// The main example, unpaced and written as JSON: its feature columns
/// against DataFusion running the same SELECT over the generator's events,
/// and a prediction from the sensor's model on every row.
#[test]
fn main_example_matches_datafusion() {
    let sql = std::fs::read_to_string(root().join("examples/traffic.sql")).expect("example");
    let sql = sql.replace("'rate' = '1000'", "'rate' = '0'").replace("'format' = 'table'", "'format' = 'json'");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("traffic.sql");
    std::fs::write(&path, &sql).expect("write");
    let out = weir(&["run", "--workers", "2", path.to_str().expect("utf8 path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The model's columns depend on what it has learned when the row is
    // scored; they must be consistent, and the rest must match exactly.
    // Two sinks print: the drift alerts, and the live rows.
    let stdout = text(&out.stdout);
    let (alerts, live): (Vec<&str>, Vec<&str>) = stdout.lines().partition(|l| l.contains("\"monitor\""));
    let alerts: Vec<serde_json::Value> = alerts.iter().map(|l| serde_json::from_str(l).expect("alert json")).collect();
    let (speed, model): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) = alerts.iter().partition(|a| a["monitor"] == "speed_drift");
    // The road works start at reading 12,000, minute 4 of event time: the
    // monitor raises one alert, for the minute that ends at 00:05.
    assert_eq!(speed.len(), 1, "one feature-drift alert: {speed:?}");
    assert_eq!(speed[0]["state"], "raised", "{}", speed[0]);
    assert_eq!(speed[0]["feature"], "speed", "{}", speed[0]);
    assert!(speed[0]["event_time"].as_str().is_some_and(|t| t.starts_with("2026-01-01T00:05:00")), "{}", speed[0]);
    assert!(speed[0]["statistic"].as_f64().is_some_and(|p| p > 1.0), "{}", speed[0]);
    // The model's detector fires for some sensors; each is a drift of its errors.
    assert!(!model.is_empty(), "the model's detector fires");
    for a in &model {
        assert_eq!((a["monitor"].as_str(), a["method"].as_str(), a["feature"].as_str(), a["state"].as_str()), (Some("congestion"), Some("ddm"), Some("error"), Some("drift")), "{a}");
    }
    let mut got: Vec<String> = live
        .into_iter()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).expect("json");
            let map = v.as_object_mut().expect("object");
            let p = map.remove("p_congested").and_then(|p| p.as_f64()).expect("probability");
            let predicted = map.remove("predicted_congested").and_then(|p| p.as_bool()).expect("prediction");
            // p is rounded to 3 places: 0.5 may be either side of it.
            let consistent = if predicted { p >= 0.4995 } else { p <= 0.5005 };
            assert!((0.0..=1.0).contains(&p) && consistent, "{line}");
            v.to_string()
        })
        .collect();
    got.sort();

    let options = weir_connectors::generator::GeneratorOptions {
        sensors: 50,
        events: 20_000,
        disorder_ms: 2000,
        seed: 7,
        drift_at: Some(12_000),
        ..Default::default()
    };
    let events = weir_connectors::generator::generate(&options, 0..20_000).expect("events");
    let ctx = weir_engine::session();
    let table = MemTable::try_new(events.schema(), vec![vec![events]]).expect("table");
    ctx.register_table("traffic", Arc::new(table)).expect("register");
    let view = sql.split("CREATE VIEW features AS").nth(1).and_then(|s| s.split(';').next()).expect("view text");
    let query = format!(
        "SELECT sensor_id, ts, round(speed, 1) AS speed_kmh, round(occupancy * 100, 1) AS occupancy_pct, level, congested \
         FROM ({view}) AS features WHERE level <> 'free'"
    );
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let batches = rt.block_on(async { ctx.sql(&query).await.expect("plans").collect().await.expect("runs") });
    let mut buf = Vec::new();
    for b in &batches {
        weir_connectors::encode::write_json(b, &mut buf).expect("encode");
    }
    let mut expected: Vec<String> = text(&buf)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json").to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("20000 rows from traffic"), "{stderr}");
    // It learns every reading its label joins, as the batch join pairs them.
    let labels_options = weir_connectors::generator::GeneratorOptions {
        stream: weir_connectors::generator::GeneratorStream::Labels,
        label_delay_ms: 5000,
        ..options
    };
    let labels = weir_connectors::generator::generate_stream(&labels_options, 0..20_000).expect("labels");
    let table = MemTable::try_new(labels.schema(), vec![vec![labels]]).expect("labels table");
    ctx.register_table("labels", Arc::new(table)).expect("register labels");
    let pairs = "SELECT count(*) AS n FROM traffic f JOIN labels l ON f.sensor_id = l.sensor_id AND l.reading_ts = f.ts \
                 AND l.ts BETWEEN f.ts AND f.ts + INTERVAL '10' SECOND";
    let counted = rt.block_on(async { ctx.sql(pairs).await.expect("plans").collect().await.expect("runs") });
    let learned = counted[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("count").value(0);
    assert!(learned >= 20_000, "every reading pairs with its label: {learned}");
    assert!(stderr.contains(&format!("model congestion: learned {learned} rows, scored 20000, 50 keys")), "{learned}: {stderr}");
}

#[test]
fn file_example_writes_exact_rows() {
    let out = weir(&["run", "--workers", "2", "examples/readings.sql"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.remove(0), "sensor_id,ts,speed,road");
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "1,2026-01-01T00:00:02.250Z,12.25,UNKNOWN",
            "2,2026-01-01T00:00:01Z,42.0,M25",
            "3,2026-01-01T00:00:01.500Z,,A1",
            "4,2026-01-01T00:00:04Z,49.9,B7",
        ]
    );
}

#[test]
fn bad_pipeline_exits_2_with_position() {
    let out = weir(&["check", "tests/golden/check/error_unknown_column.sql"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("error: column 'sped' not found"), "{err}");
    assert!(err.contains("--> tests/golden/check/error_unknown_column.sql:4:19"), "{err}");
    let out = weir(&["run", "tests/golden/check/error_unknown_connector.sql"]);
    assert_eq!(out.status.code(), Some(2));
    let out = weir(&["run", "no/such/file.sql"]);
    assert_eq!(out.status.code(), Some(2));
}

fn bad_records_pipeline(dir: &Path, on_error: &str) -> PathBuf {
    let sql = format!(
        "CREATE TABLE r (sensor_id BIGINT NOT NULL, ts_ms BIGINT NOT NULL, speed DOUBLE, road VARCHAR)
         WITH ('connector' = 'file', 'path' = 'examples/data/readings_bad.json', 'format' = 'json'{on_error});
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT sensor_id, speed FROM r;",
        dir.join("out.json").display()
    );
    let path = dir.join("bad.sql");
    std::fs::write(&path, sql).expect("write");
    path
}

#[test]
fn malformed_records_are_skipped_counted_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = bad_records_pipeline(dir.path(), "");
    let out = weir(&["run", "--workers", "2", sql.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("table 'r': skipped 2 malformed records"), "{err}");
    assert!(err.contains("readings_bad.json:3:"), "{err}");
    assert!(err.contains("readings_bad.json:4:"), "{err}");
    let written = std::fs::read_to_string(dir.path().join("out.json")).expect("out");
    let mut rows: Vec<&str> = written.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            "{\"sensor_id\":1,\"speed\":30.0}",
            "{\"sensor_id\":2,\"speed\":20.0}",
            "{\"sensor_id\":5,\"speed\":15.0}"
        ]
    );
}

#[test]
fn on_error_fail_stops_with_the_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = bad_records_pipeline(dir.path(), ", 'on_error' = 'fail'");
    let out = weir(&["run", "--workers", "1", sql.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("malformed record at examples/data/readings_bad.json:3"), "{err}");
}

#[test]
fn ctrl_c_flushes_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out.json");
    let sql = format!(
        "CREATE TABLE t WITH ('connector' = 'generator', 'rate' = '2000');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT sensor_id, ts, speed FROM t;",
        out_path.display()
    );
    let path = dir.path().join("forever.sql");
    std::fs::write(&path, sql).expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--workers", "2", path.to_str().expect("utf8")])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    crate::signals::wait_until("rows are written", || std::fs::read_to_string(&out_path).is_ok_and(|t| !t.is_empty()));
    crate::signals::signal(&child, "INT");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let rows = std::fs::read_to_string(&out_path).expect("out").lines().count();
    assert!(rows > 0);
    assert!(err.contains(&format!("wrote {rows} rows to out")), "{err} / {rows}");
}

/// `'follow' = 'true'`: lines appended while the pipeline runs are read,
/// and Ctrl-C flushes them; a sink with declared columns casts by position.
#[test]
fn follow_mode_reads_appended_lines_and_sink_casts() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("growing.json");
    let output = dir.path().join("out.csv");
    std::fs::write(&input, "{\"id\": 1, \"speed\": 10.7}\n").expect("write");
    let sql = format!(
        "CREATE TABLE g (id BIGINT NOT NULL, speed DOUBLE)
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json', 'follow' = 'true');
         CREATE TABLE out (id VARCHAR, speed INT, fast BOOLEAN)
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'csv');
         INSERT INTO out SELECT id, speed, speed > 50 FROM g;",
        input.display(),
        output.display()
    );
    let path = dir.path().join("follow.sql");
    std::fs::write(&path, sql).expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--workers", "2", path.to_str().expect("utf8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The first line is read and written, then more lines arrive (a line
    // cut in two parts is the file source's own unit test).
    let written = || std::fs::read_to_string(&output).map(|t| t.lines().count()).unwrap_or(0);
    crate::signals::wait_until("the first row is written", || written() >= 2);
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).expect("open");
        writeln!(f, "{{\"id\": 2, \"speed\": 99.2}}\n{{\"id\": 3, \"speed\": null}}").expect("append");
    }
    crate::signals::wait_until("the appended rows are written", || written() >= 4);
    crate::signals::signal(&child, "INT");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&output).expect("output");
    let mut lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.remove(0), "id,speed,fast");
    lines.sort();
    assert_eq!(lines, vec!["1,10,false", "2,99,true", "3,,"]);
}

#[test]
fn model_export_writes_json_and_safetensors_from_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot = dir.path().join("level.json");
    let pipeline = dir.path().join("p.sql");
    std::fs::write(
        &pipeline,
        format!(
            "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '5000', 'rate' = '0', 'sensors' = '3');
             CREATE MODEL level INPUT (volume DOUBLE, occupancy DOUBLE) OUTPUT (level STRING)
               WITH ('task' = 'classification', 'algorithm' = 'mlp', 'hidden_layers' = '6', 'classes' = 'free, slow, jammed',
                     'scaler' = 'standard', 'partition_by' = 'sensor_id', 'device' = 'cpu', 'snapshot.path' = '{}');
             CREATE MODEL unsaved INPUT (volume DOUBLE) OUTPUT (speed DOUBLE) WITH ('task' = 'regression');
             INSERT INTO level SELECT sensor_id, CAST(volume AS DOUBLE) AS volume, occupancy,
               CASE WHEN speed < 30 THEN 'jammed' WHEN speed < 60 THEN 'slow' ELSE 'free' END AS level FROM traffic;
             INSERT INTO unsaved SELECT CAST(volume AS DOUBLE) AS volume, speed FROM traffic;",
            snapshot.display()
        ),
    )
    .expect("write pipeline");
    let p = pipeline.to_str().expect("utf-8 path");
    // Before any run there is nothing to export, and the message says so.
    let none = weir(&["model", "export", p, "level"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("run the pipeline first"), "{}", text(&none.stderr));
    assert!(weir(&["run", p, "--workers", "2"]).status.success());

    let json = weir(&["model", "export", p, "level"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON export");
    assert_eq!(doc["format"], "weir-model/2");
    assert_eq!(doc["layers"], serde_json::json!([2, 6, 3]));
    assert_eq!(doc["keys"].as_array().map(Vec::len), Some(3));

    let out = dir.path().join("level.safetensors");
    let st = weir(&["model", "export", p, "level", "--format", "safetensors", "--output", out.to_str().expect("utf-8")]);
    assert!(st.status.success(), "{}", text(&st.stderr));
    let bytes = std::fs::read(&out).expect("safetensors written");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("a valid safetensors file");
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).expect("metadata");
    let meta = metadata.metadata().clone().expect("metadata map");
    assert_eq!(meta["format"], "weir-model-tensors/1");
    assert_eq!(meta["classes"], r#"["free","slow","jammed"]"#);
    let keys: Vec<Option<String>> = serde_json::from_str(&meta["keys"]).expect("keys");
    for (name, shape) in [
        ("layers.0.weight", vec![3, 6, 2]),
        ("layers.0.bias", vec![3, 6]),
        ("layers.1.weight", vec![3, 3, 6]),
        ("layers.1.bias", vec![3, 3]),
        ("scaler.mean", vec![3, 2]),
        ("scaler.count", vec![3]),
    ] {
        assert_eq!(tensors.tensor(name).expect(name).shape(), shape.as_slice(), "{name}");
    }
    // The tensors hold the snapshot's numbers, key by key.
    let w: Vec<f32> = tensors.tensor("layers.1.weight").expect("w").data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    for (k, key) in keys.iter().enumerate() {
        let entry = doc["keys"].as_array().and_then(|ks| ks.iter().find(|e| e["key"].as_str() == key.as_deref())).expect("key in JSON");
        let second: Vec<f32> = entry["weights"].as_array().expect("weights")[12..].iter().map(|v| v.as_f64().unwrap_or(f64::NAN) as f32).collect();
        assert_eq!(&w[k * 18..(k + 1) * 18], second.as_slice(), "key {key:?}");
    }

    let unsaved = weir(&["model", "export", p, "unsaved"]);
    assert_eq!(unsaved.status.code(), Some(1));
    assert!(text(&unsaved.stderr).contains("no 'snapshot.path' and no checkpoint holds it"), "{}", text(&unsaved.stderr));
}

/// `weir check p.sql | head`: a reader that goes away early is not a crash.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    for args in [&["check", "examples/traffic.sql"][..], &["connectors"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weir runs");
        drop(child.stdout.take()); // the reader is gone before weir writes
        let out = child.wait_with_output().expect("weir exits");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {stderr}");
    }
}

/// `weir demo`: the main example through a Kafka-protocol broker that the
/// command starts itself (tansu, which the test command installs), with
/// everything produced first and read to the end.
#[test]
fn demo_runs_the_main_example_through_a_local_kafka_broker() {
    let out = weir(&["demo", "--bounded", "--rate", "0", "--workers", "2"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("listening on 127.0.0.1:"), "it says where to attach: {stderr}");
    assert!(stderr.contains("20000 rows from traffic"), "every produced event is read back: {stderr}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("predicted_congested"), "live rows are printed");
    // The road works' drift alert, for the minute that ends at 00:05, as
    // when the example reads the generator directly.
    let alert = stdout.lines().find(|l| l.starts_with("speed_drift")).unwrap_or_else(|| panic!("no speed_drift alert: {stdout}"));
    assert!(alert.contains("2026-01-01T00:05:00") && alert.contains("raised"), "{alert}");
}
