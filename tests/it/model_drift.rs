//! A model's own drift detector (`'drift.detector'`), its alerts
//! (`ML_ALERTS(MODEL m)`) and adaptation (`'on_drift'`), on a stream whose
//! concept flips: the label is `x1 + x2 > 0` for the first rows of each
//! key and `x1 + x2 < 0` after (an abrupt concept drift, the classic test
//! of River's detectors).

use weir_engine::{RunOptions, plan_pipeline, run};
use weir_kernels::{CpuBank, ModelBank, ModelSpec, Task};
use weir_operators::drift::{DetectorSpec, State};

const KEYS: usize = 4;
const PER_KEY: usize = 3000;
const FLIP: usize = 1500;

/// (key, x1, x2, label) rows, keys interleaved, `per_key` of each key (the
/// same rows for any `per_key`: a prefix of the longest stream); writes
/// them as JSON lines.
fn flipping_rows(path: &std::path::Path, per_key: usize) -> Vec<(usize, f32, f32, bool)> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let mut rows = Vec::new();
    for i in 0..per_key {
        for k in 0..KEYS {
            let (x1, x2) = (unit(), unit());
            rows.push((k, x1, x2, (x1 + x2 > 0.0) == (i < FLIP)));
        }
    }
    let text: String = rows.iter().map(|(k, a, b, y)| format!("{{\"k\": {k}, \"x1\": {a}, \"x2\": {b}, \"y\": {y}}}\n")).collect();
    std::fs::write(path, text).expect("write rows");
    rows
}

fn pipeline(data: &std::path::Path, out: &std::path::Path, metrics: &std::path::Path, on_drift: &str) -> String {
    format!(
        "CREATE TABLE rows (k BIGINT NOT NULL, x1 DOUBLE NOT NULL, x2 DOUBLE NOT NULL, y BOOLEAN NOT NULL)
           WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE MODEL m INPUT (x1 DOUBLE, x2 DOUBLE) OUTPUT (y BOOLEAN)
           WITH ('task' = 'classification', 'algorithm' = 'logistic_regression', 'learning_rate' = '0.05',
                 'partition_by' = 'k', 'drift.detector' = 'ddm', 'on_drift' = '{on_drift}');
         INSERT INTO m SELECT k, x1, x2, y FROM rows;
         CREATE TABLE alerts WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO alerts SELECT * FROM ML_ALERTS(MODEL m);
         CREATE TABLE metrics WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO metrics SELECT key, rows, accuracy FROM ML_METRICS(MODEL m);",
        data.display(),
        out.display(),
        metrics.display()
    )
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn model_alerts_are_the_detector_on_its_prequential_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, out, metrics) = (dir.path().join("rows.json"), dir.path().join("alerts.json"), dir.path().join("m.json"));
    let rows = flipping_rows(&data, PER_KEY);
    run(plan_pipeline(&pipeline(&data, &out, &metrics, "none")).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let mut got: Vec<(String, String, i64)> = lines(&out)
        .iter()
        .map(|a| {
            assert_eq!(a["monitor"], "m");
            assert_eq!(a["model"], "m");
            assert_eq!(a["feature"], "error");
            assert_eq!(a["method"], "ddm");
            let key = a["key"].as_str().expect("key").to_string();
            (key, a["state"].as_str().expect("state").to_string(), a["row_index"].as_i64().expect("row_index"))
        })
        .collect();
    // The oracle: each key's model and DDM applied directly to its rows.
    let spec = ModelSpec { optimizer: weir_kernels::Optimizer::Sgd { lr: 0.05 }, ..ModelSpec::river_defaults(Task::Binary, 2) };
    let detector = DetectorSpec::Ddm { warm_start: 30, warning_threshold: 2.0, drift_threshold: 3.0 };
    let mut want = Vec::new();
    for key in 0..KEYS {
        let mut bank = CpuBank::new(spec, 1).expect("bank");
        let mut ddm = detector.build();
        let mut warned = false;
        for (i, (_, a, b, y)) in rows.iter().filter(|r| r.0 == key).enumerate() {
            let mut p = [0.0];
            let label = f32::from(u8::from(*y));
            bank.learn(&[0], &[*a, *b], &[label], &mut p).expect("learn");
            let state = ddm.update(f64::from(u8::from((p[0] > 0.5) != *y)));
            match state {
                State::Drift => {
                    warned = false;
                    want.push((key.to_string(), "drift".to_string(), i as i64));
                }
                State::Warning if !warned => {
                    warned = true;
                    want.push((key.to_string(), "warning".to_string(), i as i64));
                }
                State::Warning => {}
                State::Stable => warned = false,
            }
        }
    }
    got.sort();
    want.sort();
    assert!(want.iter().any(|w| w.1 == "drift" && w.2 >= FLIP as i64), "the flip is detected: {want:?}");
    assert_eq!(got, want);
}

/// Rows predicted right (before learning each) with `on_drift`, over the
/// first `per_key` rows of each key: the whole run's prequential count.
fn correct(on_drift: &str, per_key: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, out, metrics) = (dir.path().join("rows.json"), dir.path().join("alerts.json"), dir.path().join("m.json"));
    flipping_rows(&data, per_key);
    let report = run(plan_pipeline(&pipeline(&data, &out, &metrics, on_drift)).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let m = &report.models["m"].metrics;
    assert_eq!(m.rows, (per_key * KEYS) as u64);
    m.correct as f64
}

/// Prequential accuracy over each key's 500 rows after the flip: the
/// difference of two runs, one stopping at the flip (runs are
/// deterministic on one worker).
fn accuracy_after_flip(on_drift: &str) -> f64 {
    (correct(on_drift, FLIP + 500) - correct(on_drift, FLIP)) / (500 * KEYS) as f64
}

#[test]
fn adapting_to_drift_recovers_accuracy_faster_than_not() {
    let none = accuracy_after_flip("none");
    let reset = accuracy_after_flip("reset");
    let background = accuracy_after_flip("background");
    eprintln!("accuracy over the 500 rows after the flip: none {none:.3}, reset {reset:.3}, background {background:.3}");
    assert!(reset > none + 0.1, "reset {reset} vs none {none}");
    assert!(background > none + 0.1, "background {background} vs none {none}");
    // The background model started at the warning, before the drift was
    // confirmed: it knows the new concept at least as well as a reset one.
    assert!(background >= reset - 0.02, "background {background} vs reset {reset}");
}

/// Rows predicted right by a per-sensor model with DDM and `on_drift` over
/// the generator's first `events` events, whose concept inverts at event
/// 30,000 (`'drift_concept' = 'inverted'`, on top of the road works).
fn generator_correct(on_drift: &str, events: u64) -> u64 {
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'sensors' = '10', 'events' = '{events}', 'rate' = '0', 'seed' = '3',
                                    'drift_at' = '30000', 'drift_concept' = 'inverted');
         CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
           WITH ('task' = 'classification', 'algorithm' = 'logistic_regression', 'scaler' = 'standard', 'partition_by' = 'sensor_id',
                 'drift.detector' = 'ddm', 'on_drift' = '{on_drift}');
         INSERT INTO m SELECT sensor_id, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;"
    );
    let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    report.models["m"].metrics.correct
}

/// The drift issue's end-to-end measurement on the generator: after the
/// concept inverts, background adaptation recovers prequential accuracy
/// faster than none.
#[test]
fn on_the_generator_background_adaptation_recovers_faster_than_none() {
    let after = |on_drift: &str| (generator_correct(on_drift, 40_000) - generator_correct(on_drift, 30_000)) as f64 / 10_000.0;
    let (none, background) = (after("none"), after("background"));
    eprintln!("accuracy over the 10,000 events after the concept inverts: none {none:.3}, background {background:.3}");
    assert!(background > none + 0.05, "background {background} vs none {none}");
}
