//! `CREATE MONITOR`: drift detectors over columns, read as alert streams.
//!
//! The detectors themselves match River's detection indices (operators'
//! `tests/drift.rs`); here the oracle is the same detector applied directly
//! to each key's sequence, which checks what the engine adds (keys,
//! ordering, row indices, the alert columns).

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use weir_connectors::generator::{GeneratorOptions, generate};
use weir_engine::{RunOptions, plan_pipeline, run};
use weir_operators::drift::{DetectorSpec, Mode, State};

const EVENTS: u64 = 20_000;

fn alerts(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("alert JSON")).collect()
}

#[test]
fn monitor_alerts_match_the_detector_applied_to_each_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("alerts.json");
    // Speeds rise by 30 km/h for even sensors from event 8000 on.
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '{EVENTS}', 'rate' = '0', 'sensors' = '6', 'seed' = '5');
         CREATE VIEW shifted AS SELECT sensor_id, ts,
           CASE WHEN sensor_id % 2 = 0 AND ts >= TIMESTAMP '2026-01-01 00:06:40' THEN speed + 30 ELSE speed END AS speed
           FROM traffic;
         CREATE MONITOR speed_drift ON shifted (speed) WITH ('method' = 'page_hinkley', 'threshold' = '200', 'partition_by' = 'sensor_id');
         CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO alerts SELECT * FROM speed_drift;",
        out.display()
    );
    run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let mut got: Vec<(String, i64)> = alerts(&out)
        .iter()
        .map(|a| {
            assert_eq!(a["monitor"], "speed_drift");
            assert_eq!(a["feature"], "speed");
            assert_eq!(a["method"], "page_hinkley");
            assert_eq!(a["state"], "drift");
            assert!(a["statistic"].as_f64().expect("statistic") > 200.0, "{a}");
            assert_eq!(a["threshold"].as_f64(), Some(200.0));
            assert!(a["event_time"].is_string() && a["alert_time"].is_string(), "{a}");
            (a["key"].as_str().expect("key").to_string(), a["row_index"].as_i64().expect("row_index"))
        })
        .collect();
    // The oracle: one detector per sensor over its speeds in stream order.
    let opts = GeneratorOptions { events: EVENTS, rate: 0.0, sensors: 6, seed: 5, ..GeneratorOptions::default() };
    let batch: RecordBatch = generate(&opts, 0..EVENTS).expect("generate");
    let sensors = batch.column(0).as_primitive::<Int64Type>();
    let speed = batch.column(batch.schema().index_of("speed").expect("speed")).as_primitive::<Float64Type>();
    let ts = batch.column(1).as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
    let shift_at = 1_767_225_600_000 + 400_000; // 2026-01-01 00:06:40
    let spec = DetectorSpec::PageHinkley { min_instances: 30, delta: 0.005, threshold: 200.0, alpha: 1.0 - 0.0001, mode: Mode::Both };
    let mut want = Vec::new();
    for sensor in 0..6 {
        let mut detector = spec.build();
        let values = (0..batch.num_rows()).filter(|&r| sensors.value(r) == sensor).map(|r| {
            speed.value(r) + if sensor % 2 == 0 && ts.value(r) >= shift_at { 30.0 } else { 0.0 }
        });
        for (i, v) in values.enumerate() {
            if detector.update(v) == State::Drift {
                want.push((sensor.to_string(), i as i64));
            }
        }
    }
    got.sort();
    want.sort();
    assert!(want.iter().any(|(k, _)| k == "0"), "the shift must be detected: {want:?}");
    assert_eq!(got, want);
}
