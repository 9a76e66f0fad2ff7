//! The drift detectors against River: fixture sequences (seeded Bernoulli
//! and Gaussian streams with known change points) and the indices at which
//! River 0.26.1's detectors fired on them, recorded by
//! `scripts/drift_fixtures.py`. Weir's detectors must fire at exactly the
//! same indices (and DDM warn at the same ones).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;
use weir_operators::drift::{Adwin, Ddm, DriftDetector, Kswin, Mode, PageHinkley, State};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/drift").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Replays every case of a fixture through `make(params)`.
fn replay(name: &str, make: impl Fn(&Value) -> Box<dyn DriftDetector>) {
    let doc = fixture(name);
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut fired = 0;
    for case in cases {
        let values = doc["streams"][case["stream"].as_str().unwrap()].as_array().unwrap();
        let mut detector = make(&case["params"]);
        let (mut drifts, mut warnings) = (Vec::new(), Vec::new());
        for (i, x) in values.iter().enumerate() {
            match detector.update(x.as_f64().unwrap()) {
                State::Drift => drifts.push(i as u64),
                State::Warning => warnings.push(i as u64),
                State::Stable => {}
            }
        }
        let want = |k: &str| case[k].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(drifts, want("drifts"), "{name} on {} with {}", case["stream"], case["params"]);
        assert_eq!(warnings, want("warnings"), "{name} warnings on {} with {}", case["stream"], case["params"]);
        fired += drifts.len();
    }
    assert!(fired > 0, "{name}: the fixtures must contain detections");
}

fn param(p: &Value, key: &str, default: f64) -> f64 {
    p.get(key).and_then(Value::as_f64).unwrap_or(default)
}

#[test]
fn adwin_fires_where_river_does() {
    replay("adwin", |p| {
        Box::new(Adwin::new(
            param(p, "delta", 0.002),
            param(p, "clock", 32.0) as u64,
            param(p, "max_buckets", 5.0) as usize,
            param(p, "min_window_length", 5.0) as u64,
            param(p, "grace_period", 10.0) as u64,
        ))
    });
}

#[test]
fn page_hinkley_fires_where_river_does() {
    replay("page_hinkley", |p| {
        let mode = match p.get("mode").and_then(Value::as_str) {
            Some("up") => Mode::Up,
            Some("down") => Mode::Down,
            _ => Mode::Both,
        };
        Box::new(PageHinkley::new(
            param(p, "min_instances", 30.0) as u64,
            param(p, "delta", 0.005),
            param(p, "threshold", 50.0),
            param(p, "alpha", 1.0 - 0.0001),
            mode,
        ))
    });
}

#[test]
fn ddm_fires_and_warns_where_river_does() {
    replay("ddm", |p| {
        Box::new(Ddm::new(param(p, "warm_start", 30.0) as u64, param(p, "warning_threshold", 2.0), param(p, "drift_threshold", 3.0)))
    });
}

#[test]
fn kswin_fires_where_river_does() {
    replay("kswin", |p| {
        Box::new(Kswin::new(
            param(p, "alpha", 0.005),
            param(p, "window_size", 100.0) as usize,
            param(p, "stat_size", 30.0) as usize,
            param(p, "seed", 42.0) as u64,
        ))
    });
}
