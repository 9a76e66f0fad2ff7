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

/// Writes one reading every 100 ms for 20 minutes: N(50, 10) before minute
/// 10, N(37.5, 10) from it (speeds 25% lower). Returns (time ms, value).
fn shifted_readings(path: &std::path::Path, seed: u64) -> Vec<(i64, f32)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut unit = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let mut rows = Vec::new();
    let mut text = String::new();
    for i in 0..12_000i64 {
        let t = start + i * 100;
        let mean = if i * 100 >= 600_000 { 37.5 } else { 50.0 };
        let z = (-2.0 * unit().max(1e-12).ln()).sqrt() * (std::f64::consts::TAU * unit()).cos();
        let v = (mean + 10.0 * z) as f32;
        let ts = chrono::DateTime::from_timestamp_millis(t).map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default();
        text.push_str(&format!("{{\"ts\":\"{ts}\",\"speed\":{v}}}\n"));
        rows.push((t, v));
    }
    std::fs::write(path, text).expect("write readings");
    rows
}

#[test]
fn psi_monitor_raises_once_after_the_shift_and_matches_the_statistic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, out) = (dir.path().join("readings.json"), dir.path().join("alerts.json"));
    let rows = shifted_readings(&data, 7);
    let sql = format!(
        "CREATE TABLE readings (ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE MONITOR speed_drift ON readings (speed)
           WITH ('method' = 'psi', 'reference.rows' = '3000', 'window' = '1 minute', 'threshold' = '0.2');
         CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO alerts SELECT * FROM speed_drift;",
        data.display(),
        out.display()
    );
    run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let reference: Vec<f32> = rows[..3000].iter().map(|r| r.1).collect();
    let want = window_oracle(&reference, &rows[3000..], 60_000, 60_000, 0.2, weir_kernels::stats::psi);
    check_alerts(&alerts(&out), &want, 3000, "psi");
    let shift = 1_767_225_600_000i64 + 600_000;
    // Drift is raised once, in the first window after the shift, and never before it.
    assert_eq!(want.first().map(|w| (w.0, w.1)), Some((shift, "raised")), "{want:?}");
    assert_eq!(want.iter().filter(|w| w.1 == "raised").count(), 1, "{want:?}");
}

/// The alerts a windowed binned monitor must emit, computed with the
/// kernels' statistics: `reference` against every window of `size` ms
/// starting each `slide` ms that holds a value of `after`; (window start,
/// state, statistic, values in the window).
fn window_oracle(
    reference: &[f32],
    after: &[(i64, f32)],
    size: i64,
    slide: i64,
    threshold: f64,
    statistic: impl Fn(&[u64], &[u64]) -> weir_kernels::Result<f64>,
) -> Vec<(i64, &'static str, f64, i64)> {
    use weir_kernels::stats::{histogram, quantile_edges};
    let edges = quantile_edges(reference, 10).expect("edges");
    let mut counts = vec![0; edges.len() + 1];
    histogram(reference, &edges, &mut counts).expect("histogram");
    let mut windows: std::collections::BTreeMap<i64, Vec<f32>> = std::collections::BTreeMap::new();
    for &(t, v) in after {
        // Naively: every aligned start whose window holds t.
        let first = (t - size).div_euclid(slide) * slide;
        for start in (first..=t).step_by(slide as usize).filter(|s| *s <= t && t < s + size) {
            windows.entry(start).or_default().push(v);
        }
    }
    let mut want = Vec::new();
    let mut raised = false;
    for (start, values) in &windows {
        let mut current = vec![0; counts.len()];
        histogram(values, &edges, &mut current).expect("histogram");
        let p = statistic(&counts, &current).expect("statistic");
        if (p > threshold) != raised {
            raised = p > threshold;
            want.push((*start, if raised { "raised" } else { "cleared" }, p, values.len() as i64));
        }
    }
    want
}

/// Milliseconds since the epoch of an alert's timestamp column.
fn millis(a: &serde_json::Value, column: &str) -> i64 {
    let text = a[column].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp_millis())
        .unwrap_or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.and_utc().timestamp_millis()).unwrap_or(0))
}

fn check_alerts(got: &[serde_json::Value], want: &[(i64, &str, f64, i64)], n_reference: i64, method: &str) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (a, (start, state, p, n)) in got.iter().zip(want) {
        assert_eq!(millis(a, "window_start"), *start, "{a}");
        assert_eq!(a["state"], *state);
        assert!((a["statistic"].as_f64().expect("statistic") - p).abs() < 1e-9, "{a} vs {p}");
        assert_eq!(a["n_current"].as_i64(), Some(*n));
        assert_eq!(a["n_reference"].as_i64(), Some(n_reference));
        assert_eq!(a["method"], method);
    }
}

#[test]
fn hopping_windows_against_a_time_range_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, out) = (dir.path().join("readings.json"), dir.path().join("alerts.json"));
    let rows = shifted_readings(&data, 11);
    // Reference: minutes 1 to 4; windows of 2 minutes every 30 s after it.
    let sql = format!(
        "CREATE TABLE readings (ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE MONITOR speed_drift ON readings (speed)
           WITH ('method' = 'jensen_shannon', 'reference.start' = '2026-01-01 00:01:00', 'reference.end' = '2026-01-01 00:04:00',
                 'window' = '2 minutes', 'slide' = '30 s', 'threshold' = '0.15');
         CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO alerts SELECT * FROM speed_drift;",
        data.display(),
        out.display()
    );
    run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let t0 = 1_767_225_600_000i64;
    let (start, end) = (t0 + 60_000, t0 + 240_000);
    let reference: Vec<f32> = rows.iter().filter(|r| (start..end).contains(&r.0)).map(|r| r.1).collect();
    let after: Vec<(i64, f32)> = rows.iter().copied().filter(|r| r.0 >= end).collect();
    let want = window_oracle(&reference, &after, 120_000, 30_000, 0.15, weir_kernels::stats::jensen_shannon);
    check_alerts(&alerts(&out), &want, reference.len() as i64, "jensen_shannon");
    // The first hopping window that reaches past the shift at minute 10
    // already holds a quarter of shifted values; it must raise, and nothing before it.
    let first = want.first().expect("an alert");
    assert_eq!(first.1, "raised");
    assert!(first.0 + 120_000 > t0 + 600_000 && first.0 <= t0 + 600_000, "{want:?}");
    assert_eq!(want.iter().filter(|w| w.1 == "raised").count(), 1, "{want:?}");
}

#[test]
fn a_reference_file_in_json_or_csv_is_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, out) = (dir.path().join("readings.json"), dir.path().join("alerts.json"));
    let rows = shifted_readings(&data, 13);
    // The reference: another sample of the stream before its shift.
    let reference: Vec<f32> = shifted_readings(&dir.path().join("other.json"), 17)[..4000].iter().map(|r| r.1).collect();
    let json = dir.path().join("reference.json");
    std::fs::write(&json, reference.iter().map(|v| format!("{{\"speed\": {v}, \"note\": \"ignored\"}}\n")).collect::<String>()).expect("write");
    let csv = dir.path().join("reference.csv");
    std::fs::write(&csv, "note,speed\n".to_string() + &reference.iter().map(|v| format!("x,{v}\n")).collect::<String>()).expect("write");
    let want = window_oracle(&reference, &rows, 60_000, 60_000, 0.2, weir_kernels::stats::psi);
    assert_eq!(want.first().map(|w| (w.0, w.1)), Some((1_767_225_600_000 + 600_000, "raised")), "{want:?}");
    for file in [&json, &csv] {
        let sql = format!(
            "CREATE TABLE readings (ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             CREATE MONITOR speed_drift ON readings (speed)
               WITH ('method' = 'psi', 'reference.path' = '{}', 'window' = '1 minute', 'threshold' = '0.2');
             CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
             INSERT INTO alerts SELECT * FROM speed_drift;",
            data.display(),
            file.display(),
            out.display()
        );
        let _ = std::fs::remove_file(&out);
        run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
        check_alerts(&alerts(&out), &want, 4000, "psi");
    }
}
