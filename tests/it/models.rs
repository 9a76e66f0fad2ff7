//! Online models in SQL: `CREATE MODEL`, training by `INSERT INTO model`,
//! scoring by `ML_PREDICT`.
//!
//! The oracle for training is the kernels' own CPU bank (itself tested
//! against a float64 reference of River's arithmetic) applied directly to
//! the generator's rows in the same order: on one worker the pipeline must
//! reproduce its prequential results exactly, which checks everything the
//! engine adds (column matching, casts, NULL handling, keys, exchange).

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Int64Type};
use weir_connectors::generator::{GeneratorOptions, generate};
use weir_engine::{RunOptions, plan_pipeline, run};
use weir_kernels::{CpuBank, ModelBank, ModelSpec, Optimizer, Task};

const EVENTS: u64 = 20_000;

fn traffic(sensors: u64) -> String {
    traffic_of(EVENTS, sensors)
}

fn traffic_of(events: u64, sensors: u64) -> String {
    format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '{events}', 'rate' = '0', 'sensors' = '{sensors}', 'seed' = '11');"
    )
}

/// The generator's rows as (sensor, features [speed, volume, occupancy], label).
fn rows(sensors: u64) -> (Vec<i64>, Vec<f32>, Vec<f32>) {
    let opts = GeneratorOptions { events: EVENTS, rate: 0.0, sensors, seed: 11, ..GeneratorOptions::default() };
    rows_of(&generate(&opts, 0..EVENTS).expect("generate"))
}

/// A batch of generator rows as (sensor, features, label).
fn rows_of(batch: &RecordBatch) -> (Vec<i64>, Vec<f32>, Vec<f32>) {
    let col = |name: &str| {
        let c = batch.column(batch.schema().index_of(name).expect("column")).clone();
        cast(&c, &DataType::Float32).expect("cast")
    };
    let (speed, volume, occupancy, label) = (col("speed"), col("volume"), col("occupancy"), col("congested"));
    let f = |a: &dyn Array, r: usize| a.as_primitive::<Float32Type>().value(r);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for r in 0..batch.num_rows() {
        features.extend([f(&speed, r), f(&volume, r), f(&occupancy, r)]);
        labels.push(f(&label, r));
    }
    let keys = batch.column(0).as_primitive::<Int64Type>().values().to_vec();
    (keys, features, labels)
}

/// What `model_sql`'s model predicts for each generator row before learning
/// it, computed by the kernels directly: (keys, labels, predictions).
fn oracle(sensors: u64, partitioned: bool) -> (Vec<i64>, Vec<f32>, Vec<f32>) {
    let (keys, features, labels) = rows(sensors);
    let spec = ModelSpec {
        optimizer: Optimizer::Adam { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        scale: true,
        ..ModelSpec::river_defaults(Task::Binary, 3)
    };
    // Keys get dense indices in order of first sight, as in the engine.
    let mut index = std::collections::HashMap::new();
    let dense: Vec<u32> = keys
        .iter()
        .map(|k| {
            let n = index.len() as u32;
            if partitioned { *index.entry(*k).or_insert(n) } else { 0 }
        })
        .collect();
    let mut bank = CpuBank::new(spec, index.len().max(1)).expect("bank");
    let mut out = vec![0.0; labels.len()];
    bank.learn(&dense, &features, &labels, &mut out).expect("learn");
    (keys, labels, out)
}

fn model_sql(name: &str, extra: &str) -> String {
    format!(
        "CREATE MODEL {name} INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
           WITH ('task' = 'classification', 'optimizer' = 'adam', 'learning_rate' = '0.05', 'scaler' = 'standard', 'device' = 'cpu'{extra});
         INSERT INTO {name} SELECT sensor_id, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;"
    )
}

#[test]
fn training_matches_the_kernels_applied_directly() {
    for partitioned in [false, true] {
        let extra = if partitioned { ", 'partition_by' = 'sensor_id'" } else { "" };
        let sql = format!("{}\n{}", traffic(20), model_sql("m", extra));
        let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
        let got = &report.models["m"];

        let (_, labels, out) = oracle(20, partitioned);
        let correct = out.iter().zip(&labels).filter(|&(&p, &y)| (p > 0.5) == (y > 0.5)).count() as u64;

        assert_eq!(got.metrics.rows, EVENTS, "partitioned {partitioned}");
        assert_eq!(got.metrics.correct, correct, "partitioned {partitioned}: same predictions as the kernels");
        assert_eq!(got.keys, if partitioned { 20 } else { 1 });
        assert!(got.device.starts_with("cpu"), "{}", got.device);
    }
}

#[test]
fn per_sensor_models_beat_one_global_model() {
    // Each sensor has its own congestion threshold and sensitivity; with
    // enough rows per sensor, its own model learns them (1M rows, 10
    // sensors: about 0.92 against 0.89 for one global model).
    let (events, sensors) = (1_000_000, 10);
    let sql = format!(
        "{}\n{}\n{}",
        traffic_of(events, sensors),
        model_sql("global", ""),
        model_sql("per_sensor", ", 'partition_by' = 'sensor_id'")
    );
    let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(2)).expect("run");
    let accuracy = |m: &str| report.models[m].metrics.accuracy().expect("rows learned");
    let (global, keyed) = (accuracy("global"), accuracy("per_sensor"));
    assert!(keyed > global + 0.01, "per-sensor accuracy {keyed} vs global {global}");
    assert_eq!(report.models["per_sensor"].keys, sensors as usize, "one model per sensor, across both workers");
}

#[test]
fn ml_predict_appends_predictions_to_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scored.json");
    let sql = format!(
        "{}\n{}\nCREATE TABLE scored WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO scored SELECT sensor_id, congested, prediction, probability
           FROM ML_PREDICT(TABLE traffic, MODEL m, DESCRIPTOR(speed, volume, occupancy));",
        traffic(10),
        model_sql("m", ", 'partition_by' = 'sensor_id'"),
        path.display()
    );
    let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(2)).expect("run");
    assert_eq!(report.models["m"].rows_scored, EVENTS);
    let text = std::fs::read_to_string(&path).expect("output");
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let p = v["probability"].as_f64().expect("probability");
        assert!((0.0..=1.0).contains(&p), "{line}");
        assert_eq!(v["prediction"].as_bool(), Some(p > 0.5), "{line}");
        n += 1;
    }
    assert_eq!(n, EVENTS);
}

#[test]
fn null_features_and_labels_are_skipped_and_counted_not_fatal() {
    let sql = format!(
        "{}\nCREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification');
         INSERT INTO m SELECT CASE WHEN sensor_id % 2 = 0 THEN speed END AS speed,
                              CASE WHEN sensor_id % 3 = 0 THEN NULL ELSE congested END AS congested FROM traffic;",
        traffic(6)
    );
    let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let m = &report.models["m"].metrics;
    // Sensors 0 and 4 have both (of 0..6): a third of the rows is learned.
    assert_eq!(m.rows, EVENTS / 3);
    assert_eq!(m.skipped, EVENTS - EVENTS / 3);
}

#[test]
fn device_cuda_without_a_gpu_is_a_clear_planning_error() {
    let sql = format!(
        "{}\nCREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification', 'device' = 'cuda');
         INSERT INTO m SELECT speed, congested FROM traffic;",
        traffic(2)
    );
    match (weir_kernels::cuda_unavailable(), plan_pipeline(&sql)) {
        (Some(reason), Err(d)) => {
            let text = d.to_string();
            assert!(text.contains("'device' = 'cuda' was asked for") && text.contains(&reason), "{text}");
        }
        (None, Ok(_)) => {}
        (reason, result) => panic!("GPU unavailable: {reason:?}, plan: {:?}", result.map(|_| ())),
    }
}

/// Writes generator events `range` as JSON lines, the format a file table reads.
fn write_events(path: &std::path::Path, sensors: u64, range: std::ops::Range<u64>) {
    let opts = GeneratorOptions { events: EVENTS, rate: 0.0, sensors, seed: 11, ..GeneratorOptions::default() };
    let batch = generate(&opts, range).expect("generate");
    let mut buf = Vec::new();
    weir_connectors::encode::write_json(&batch, &mut buf).expect("encode");
    std::fs::write(path, buf).expect("write");
}

fn file_pipeline(data: &std::path::Path, snapshot: &std::path::Path) -> String {
    file_pipeline_of(data, snapshot, MODELS[0])
}

/// Models of every kind, as (OUTPUT, WITH options, label expression): a
/// per-key logistic regression, a softmax regression over named classes,
/// and an MLP in mini-batches of 3 (so a stop can fall mid-batch).
const MODELS: [(&str, &str, &str); 3] = [
    ("congested BOOLEAN", "'task' = 'classification', 'optimizer' = 'adam'", "congested"),
    (
        "level STRING",
        "'task' = 'classification', 'classes' = 'free, slow, jammed', 'optimizer' = 'adam', 'learning_rate' = '0.05'",
        "CASE WHEN speed < 30 THEN 'jammed' WHEN speed < 60 THEN 'slow' ELSE 'free' END",
    ),
    (
        "congested BOOLEAN",
        "'task' = 'classification', 'algorithm' = 'mlp', 'hidden_layers' = '8, 4', 'batch_size' = '3', 'optimizer' = 'adam', 'learning_rate' = '0.01'",
        "congested",
    ),
];

fn file_pipeline_of(data: &std::path::Path, snapshot: &std::path::Path, (output, options, label): (&str, &str, &str)) -> String {
    let column = output.split(' ').next().unwrap_or_default();
    format!(
        "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL,
           occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL) WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT ({output})
           WITH ({options}, 'scaler' = 'standard', 'device' = 'cpu', 'partition_by' = 'sensor_id', 'snapshot.path' = '{}');
         INSERT INTO m SELECT sensor_id, speed, CAST(volume AS DOUBLE) AS volume, occupancy, {label} AS {column} FROM traffic;",
        data.display(),
        snapshot.display()
    )
}

#[test]
fn every_kind_of_model_resumes_from_its_snapshot_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, first, second) = (dir.path().join("all.json"), dir.path().join("first.json"), dir.path().join("second.json"));
    // An odd split, so that the MLP's mini-batches of 3 are cut mid-batch.
    let cut = EVENTS / 2 + 1;
    write_events(&all, 5, 0..EVENTS);
    write_events(&first, 5, 0..cut);
    write_events(&second, 5, cut..EVENTS);
    for (i, model) in MODELS.into_iter().enumerate().skip(1) {
        let one = |data: &std::path::Path, snapshot: &std::path::Path| {
            // One worker: with two, a key's rows from the two halves of
            // the file would interleave differently in each run.
            let plan = plan_pipeline(&file_pipeline_of(data, snapshot, model)).expect("plan");
            run(plan, RunOptions::default().workers(1)).expect("run")
        };
        let (straight, resumed) = (dir.path().join(format!("straight{i}.json")), dir.path().join(format!("resumed{i}.json")));
        let whole = one(&all, &straight);
        one(&first, &resumed);
        let rest = one(&second, &resumed);
        let (a, b) = (read_snapshot(&straight), read_snapshot(&resumed));
        assert_eq!(b.rows_learned, EVENTS);
        assert_eq!(sorted(&a), sorted(&b), "{}: the resumed model is the uninterrupted one, number for number", model.1);
        assert!(whole.models["m"].metrics.accuracy().expect("rows") > 0.6, "{}: {:?}", model.1, whole.models["m"].metrics);
        assert_eq!(rest.models["m"].keys, 5);
    }
}

#[test]
fn softmax_and_mlp_training_match_the_kernels_applied_directly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, scored) = (dir.path().join("data.json"), dir.path().join("scored.json"));
    write_events(&data, 4, 0..EVENTS);
    let opts = GeneratorOptions { events: EVENTS, rate: 0.0, sensors: 4, seed: 11, ..GeneratorOptions::default() };
    let batch = generate(&opts, 0..EVENTS).expect("generate");
    let (keys, features, congested) = rows_of(&batch);
    let speed = batch.column(batch.schema().index_of("speed").expect("speed")).as_primitive::<datafusion::arrow::datatypes::Float64Type>().clone();
    let levels: Vec<f32> = speed.values().iter().map(|&s| if s < 30.0 { 2.0 } else if s < 60.0 { 1.0 } else { 0.0 }).collect();
    let adam = |lr| Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let softmax = ModelSpec { optimizer: adam(0.05), scale: true, ..ModelSpec::river_defaults(Task::Multiclass { classes: 3 }, 3) };
    let mlp = ModelSpec {
        hidden: [8, 4],
        batch_size: 3,
        seed: 42,
        intercept_lr: 0.01,
        optimizer: adam(0.01),
        scale: true,
        ..ModelSpec::river_defaults(Task::Binary, 3)
    };
    for (i, (model, spec, labels)) in [(MODELS[1], softmax, &levels), (MODELS[2], mlp, &congested)].into_iter().enumerate() {
        let sql = format!(
            "{}
CREATE TABLE scored WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json', 'mode' = 'overwrite');
             INSERT INTO scored SELECT sensor_id, prediction, probability
               FROM ML_PREDICT(TABLE traffic, MODEL m, DESCRIPTOR(speed, volume, occupancy));",
            file_pipeline_of(&data, &dir.path().join(format!("model{i}.json")), model),
            scored.display()
        );
        let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
        // The kernels on the same rows, keys numbered in order of first sight.
        let mut index = std::collections::HashMap::new();
        let dense: Vec<u32> = keys.iter().map(|k| { let n = index.len() as u32; *index.entry(*k).or_insert(n) }).collect();
        let mut bank = CpuBank::new(spec, index.len()).expect("bank");
        let o = spec.n_outputs();
        let mut out = vec![0.0; labels.len() * o];
        bank.learn(&dense, &features, labels, &mut out).expect("learn");
        let argmax = |p: &[f32]| if o == 1 { usize::from(p[0] > 0.5) } else { (0..o).fold(0, |b, c| if p[c] > p[b] { c } else { b }) };
        let correct = out.chunks(o).zip(labels.iter()).filter(|&(p, &y)| argmax(p) as f32 == y).count() as u64;
        let got = &report.models["m"].metrics;
        assert_eq!(got.rows, EVENTS, "{}", model.1);
        assert_eq!(got.correct, correct, "{}: the same predictions as the kernels", model.1);
        // Scored rows carry the class as the OUTPUT's type and its probability.
        let text = std::fs::read_to_string(&scored).expect("scored");
        assert_eq!(text.lines().count() as u64, EVENTS);
        for line in text.lines().take(1000) {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let p = v["probability"].as_f64().expect("probability");
            if o == 3 {
                let class = v["prediction"].as_str().expect("a class name");
                assert!(["free", "slow", "jammed"].contains(&class), "{line}");
                assert!((1.0 / 3.0 - 1e-6..=1.0).contains(&p), "the chosen class is the likeliest: {line}");
            } else {
                assert_eq!(v["prediction"].as_bool(), Some(p > 0.5), "{line}");
            }
        }
    }
}

/// A snapshot's keys in key order (workers write them in any order).
fn sorted(s: &weir_operators::ModelSnapshot) -> Vec<weir_operators::KeySnapshot> {
    let mut keys = s.keys.clone();
    keys.sort_by(|x, y| x.key.cmp(&y.key));
    keys
}

fn read_snapshot(path: &std::path::Path) -> weir_operators::ModelSnapshot {
    serde_json::from_str(&std::fs::read_to_string(path).expect("snapshot written")).expect("snapshot parses")
}

#[test]
fn a_model_resumes_from_its_snapshot_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, first, second) = (dir.path().join("all.json"), dir.path().join("first.json"), dir.path().join("second.json"));
    write_events(&all, 8, 0..EVENTS);
    write_events(&first, 8, 0..EVENTS / 2);
    write_events(&second, 8, EVENTS / 2..EVENTS);
    let one = |data: &std::path::Path, snapshot: &std::path::Path, workers: usize| {
        let plan = plan_pipeline(&file_pipeline(data, snapshot)).expect("plan");
        run(plan, RunOptions::default().workers(workers)).expect("run")
    };
    // One run over everything, against two runs with a stop in between.
    let (straight, resumed) = (dir.path().join("straight.model.json"), dir.path().join("resumed.model.json"));
    one(&all, &straight, 1);
    one(&first, &resumed, 1);
    assert_eq!(read_snapshot(&resumed).rows_learned, EVENTS / 2);
    one(&second, &resumed, 1);
    let (a, b) = (read_snapshot(&straight), read_snapshot(&resumed));
    assert_eq!(b.rows_learned, EVENTS);
    assert_eq!(sorted(&a), sorted(&b), "the resumed model is the uninterrupted one, number for number");

    // A warm start on a different number of workers gives each key to the
    // worker its rows hash to: every key once, with all of its rows.
    let spread = dir.path().join("spread.model.json");
    one(&first, &spread, 1);
    let report = one(&second, &spread, 3);
    assert_eq!(report.models["m"].keys, 8, "no key duplicated or lost across workers");
    let s = read_snapshot(&spread);
    assert_eq!(s.keys.len(), 8);
    assert_eq!(s.keys.iter().map(|k| k.count as u64).sum::<u64>(), EVENTS, "every row counted once in its key's scaler");
}

#[test]
fn a_snapshot_of_another_model_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, snapshot) = (dir.path().join("data.json"), dir.path().join("m.json"));
    write_events(&data, 4, 0..1000);
    run(plan_pipeline(&file_pipeline(&data, &snapshot)).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let other = file_pipeline(&data, &snapshot).replace("INPUT (speed DOUBLE, volume DOUBLE,", "INPUT (speed DOUBLE, volume2 DOUBLE,").replace(
        "CAST(volume AS DOUBLE) AS volume,",
        "CAST(volume AS DOUBLE) AS volume2,",
    );
    let err = run(plan_pipeline(&other).expect("plan"), RunOptions::default().workers(1)).expect_err("must refuse");
    let text = err.to_string();
    assert!(
        text.contains("features: the file has speed, volume, occupancy, the pipeline declares speed, volume2, occupancy"),
        "{text}"
    );
    assert!(!text.contains("None"), "{text}");
    assert!(text.contains("move the file away"), "{text}");
}

#[test]
fn ml_metrics_streams_each_keys_prequential_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("metrics.json");
    let sql = format!(
        "{}\n{}\nCREATE TABLE metrics WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO metrics SELECT key, rows, accuracy, log_loss, recent_accuracy, mae, rmse FROM ML_METRICS(MODEL m) WHERE rows > 0;",
        traffic(5),
        model_sql("m", ", 'partition_by' = 'sensor_id'"),
        path.display()
    );
    run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");

    // The oracle: the kernels on the same rows, per key.
    let (keys, labels, out) = oracle(5, true);
    let mut want: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for ((k, p), y) in keys.iter().zip(&out).zip(&labels) {
        let e = want.entry(k.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from((*p > 0.5) == (*y > 0.5));
    }

    // The last row of each key is its total.
    let mut last: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for line in std::fs::read_to_string(&path).expect("metrics").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let key = v["key"].as_str().expect("key").to_string();
        let rows = v["rows"].as_u64().expect("rows");
        if last.get(&key).is_none_or(|l| l["rows"].as_u64() < Some(rows)) {
            last.insert(key, v);
        }
    }
    assert_eq!(last.len(), 5);
    for (key, (n, correct)) in want {
        let v = &last[&key];
        assert_eq!(v["rows"].as_u64(), Some(n), "{key}");
        let accuracy = v["accuracy"].as_f64().expect("accuracy");
        assert!((accuracy - correct as f64 / n as f64).abs() < 1e-12, "{key}: {accuracy} vs {correct}/{n}");
        let recent = v["recent_accuracy"].as_f64().expect("recent");
        assert!((0.0..=1.0).contains(&recent) && v["log_loss"].as_f64().is_some_and(|l| l > 0.0), "{v}");
    }
}

#[test]
fn training_in_event_time_order_does_not_depend_on_workers_or_disorder() {
    // Events arrive up to 2 s out of order; the watermark allows 3 s.
    let sql = |workers: usize| {
        let sql = format!(
            "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL,
               occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND)
             WITH ('connector' = 'generator', 'events' = '{EVENTS}', 'rate' = '0', 'sensors' = '7', 'seed' = '11', 'disorder_ms' = '2000');
             CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
               WITH ('task' = 'classification', 'optimizer' = 'adam', 'learning_rate' = '0.05', 'scaler' = 'standard',
                     'device' = 'cpu', 'partition_by' = 'sensor_id');
             INSERT INTO m SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;"
        );
        let plan = plan_pipeline(&sql).expect("plan");
        assert!(plan.to_string().contains("in ts order per key"), "{plan}");
        run(plan, RunOptions::default().workers(workers)).expect("run").models["m"].metrics.clone()
    };
    let (one, three) = (sql(1), sql(3));
    // The same predictions whatever the number of workers (sums of floats
    // merged from workers differ only in rounding).
    assert_eq!((one.rows, one.correct), (three.rows, three.correct));
    assert!((one.log_loss_sum - three.log_loss_sum).abs() < 1e-9 * one.log_loss_sum, "{one:?} vs {three:?}");

    // The oracle: the kernels on the rows sorted by event time.
    let opts = GeneratorOptions { events: EVENTS, rate: 0.0, sensors: 7, seed: 11, disorder_ms: 2000, ..GeneratorOptions::default() };
    let batch = generate(&opts, 0..EVENTS).expect("generate");
    let ts = cast(batch.column(1), &DataType::Int64).expect("ts");
    let ts = ts.as_primitive::<Int64Type>();
    let mut order: Vec<usize> = (0..batch.num_rows()).collect();
    order.sort_by_key(|&r| ts.value(r));
    assert!(order.windows(2).any(|w| w[0] > w[1]), "the stream is out of order");
    let (keys, features, labels) = {
        let (k, f, l) = rows_of(&batch);
        let k: Vec<u32> = order.iter().map(|&r| k[r] as u32).collect();
        let f: Vec<f32> = order.iter().flat_map(|&r| f[r * 3..r * 3 + 3].to_vec()).collect();
        let l: Vec<f32> = order.iter().map(|&r| l[r]).collect();
        (k, f, l)
    };
    let spec = ModelSpec {
        optimizer: Optimizer::Adam { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        scale: true,
        ..ModelSpec::river_defaults(Task::Binary, 3)
    };
    let mut bank = CpuBank::new(spec, 7).expect("bank");
    let mut out = vec![0.0; labels.len()];
    bank.learn(&keys, &features, &labels, &mut out).expect("learn");
    let correct = out.iter().zip(&labels).filter(|&(&p, &y)| (p > 0.5) == (y > 0.5)).count() as u64;
    assert_eq!(one.correct, correct, "learned in event-time order");
}

#[test]
fn logistic_regression_matches_rivers_accuracy_on_the_generator() {
    // River's prequential accuracy on the same stream with the same
    // settings, recorded by scripts/model_fixtures.sh.
    let fixture: serde_json::Value = serde_json::from_str(include_str!("../fixtures/models/river_logistic.json")).expect("fixture");
    let river = fixture["accuracy"].as_f64().expect("accuracy");
    let g = &fixture["generator"];
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '{}', 'rate' = '0', 'sensors' = '{}', 'seed' = '{}');
         CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
           WITH ('task' = 'classification', 'scaler' = 'standard', 'device' = 'cpu');
         INSERT INTO m SELECT speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;",
        g["events"], g["sensors"], g["seed"]
    );
    let report = run(plan_pipeline(&sql).expect("plan"), RunOptions::default().workers(1)).expect("run");
    let m = &report.models["m"].metrics;
    assert_eq!(m.rows, fixture["rows"].as_u64().expect("rows"));
    let weir = m.accuracy().expect("accuracy");
    assert!((weir - river).abs() <= 0.01, "Weir {weir} against River {river}: not within a point");
}

/// A generator table with a 3 s watermark over events up to 2 s out of
/// order, and a per-sensor model scored in event time, trained on the
/// same events.
fn event_time_sql(events: u64, out: &std::path::Path) -> String {
    format!(
        "CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL,
           occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '3' SECOND)
         WITH ('connector' = 'generator', 'events' = '{events}', 'rate' = '0', 'sensors' = '7', 'seed' = '11', 'disorder_ms' = '2000');
         CREATE TABLE scored WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
           WITH ('task' = 'classification', 'optimizer' = 'adam', 'learning_rate' = '0.05', 'scaler' = 'standard',
                 'device' = 'cpu', 'partition_by' = 'sensor_id', 'scoring' = 'event-time');
         CREATE VIEW features AS SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy FROM traffic;
         INSERT INTO m SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;
         INSERT INTO scored SELECT sensor_id, speed, volume, occupancy, probability
           FROM ML_PREDICT(TABLE features, MODEL m, DESCRIPTOR(speed, volume, occupancy));",
        out.display()
    )
}

/// A scored row as `sensor|speed|volume|occupancy|probability`: the
/// features to 9 decimals (the JSON writer's last digit can differ from
/// Rust's shortest form), the probability as the kernels' f32 (exact).
fn scored_line(v: &serde_json::Value) -> String {
    let f = |name: &str| v[name].as_f64().map(|x| format!("{x:.9}")).unwrap_or_else(|| format!("missing {name}"));
    let p = v["probability"].as_f64().map(|x| (x as f32).to_string()).unwrap_or_else(|| "missing probability".into());
    format!("{}|{}|{}|{}|{p}", v["sensor_id"], f("speed"), f("volume"), f("occupancy"))
}

#[test]
fn scoring_in_event_time_matches_the_kernels_on_the_time_sorted_rows_on_any_worker_count() {
    const N: u64 = 6_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let scored = |workers: usize| {
        let out = dir.path().join(format!("scored-{workers}.json"));
        let plan = plan_pipeline(&event_time_sql(N, &out)).expect("plan");
        let text = plan.to_string();
        assert!(text.contains("ml_predict m (in event time"), "{text}");
        assert!(text.contains("train m in its ml_predict"), "{text}");
        let report = run(plan, RunOptions::default().workers(workers)).expect("run");
        assert_eq!(report.models["m"].rows_scored, N);
        assert_eq!(report.models["m"].metrics.rows, N);
        let mut lines: Vec<String> = std::fs::read_to_string(&out)
            .expect("output")
            .lines()
            .map(|l| scored_line(&serde_json::from_str(l).expect("json")))
            .collect();
        lines.sort();
        lines
    };
    let (one, three) = (scored(1), scored(3));
    assert_eq!(one.len() as u64, N);
    assert_eq!(one, three, "the same predictions, number for number, on 1 and 3 workers");

    // The oracle: the kernels walking the rows in event-time order, at
    // each time scoring its rows and then learning them (ties by key,
    // label and features, as the engine orders them).
    let opts = GeneratorOptions { events: N, rate: 0.0, sensors: 7, seed: 11, disorder_ms: 2000, ..GeneratorOptions::default() };
    let batch = generate(&opts, 0..N).expect("generate");
    let ts = cast(batch.column(1), &DataType::Int64).expect("ts");
    let ts = ts.as_primitive::<Int64Type>();
    let (keys, features, labels) = rows_of(&batch);
    let mut by_time: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
    for r in 0..batch.num_rows() {
        by_time.entry(ts.value(r)).or_default().push(r);
    }
    let spec = ModelSpec {
        optimizer: Optimizer::Adam { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        scale: true,
        ..ModelSpec::river_defaults(Task::Binary, 3)
    };
    let mut bank = CpuBank::new(spec, 7).expect("bank");
    let column = |name: &str| cast(batch.column(batch.schema().index_of(name).expect(name)), &DataType::Float64).expect("cast");
    let (speed, volume, occupancy) = (column("speed"), column("volume"), column("occupancy"));
    let f64_at = |a: &dyn Array, r: usize| a.as_primitive::<datafusion::arrow::datatypes::Float64Type>().value(r);
    let (mut expected, mut p) = (Vec::new(), [0.0f32]);
    for (_, mut rows) in by_time {
        for &r in &rows {
            bank.predict(&[keys[r] as u32], &features[r * 3..r * 3 + 3], &mut p).expect("predict");
            let v = serde_json::json!({
                "sensor_id": keys[r], "speed": f64_at(&speed, r), "volume": f64_at(&volume, r),
                "occupancy": f64_at(&occupancy, r), "probability": f64::from(p[0]),
            });
            expected.push(scored_line(&v));
        }
        rows.sort_by(|&a, &b| {
            (keys[a], labels[a] > 0.5)
                .cmp(&(keys[b], labels[b] > 0.5))
                .then(f64_at(&speed, a).total_cmp(&f64_at(&speed, b)))
                .then(f64_at(&volume, a).total_cmp(&f64_at(&volume, b)))
                .then(f64_at(&occupancy, a).total_cmp(&f64_at(&occupancy, b)))
        });
        for &r in &rows {
            bank.learn(&[keys[r] as u32], &features[r * 3..r * 3 + 3], &labels[r..r + 1], &mut p).expect("learn");
        }
    }
    expected.sort();
    if one != expected {
        let (got, want): (std::collections::BTreeSet<&String>, std::collections::BTreeSet<&String>) = (one.iter().collect(), expected.iter().collect());
        let missing: Vec<&&String> = want.difference(&got).take(4).collect();
        let extra: Vec<&&String> = got.difference(&want).take(4).collect();
        let n = want.difference(&got).count();
        panic!("{n} of {} rows scored otherwise than by the model of the rows before them; expected e.g. {missing:?}, got {extra:?}", expected.len());
    }
}

#[test]
fn scoring_in_event_time_is_refused_where_rows_cannot_be_ordered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = event_time_sql(100, &dir.path().join("out.json"));
    let refused = |sql: String, says: &str, line: u64| {
        let e = plan_pipeline(&sql).expect_err("refused");
        assert!(e.to_string().contains(says), "{e}");
        assert_eq!(e.line(), line, "{e}");
    };
    // Scored twice.
    refused(
        format!("{base}\nINSERT INTO scored SELECT sensor_id, speed, volume, occupancy, probability\n FROM ML_PREDICT(TABLE features, MODEL m, DESCRIPTOR(speed, volume, occupancy));"),
        "one ML_PREDICT may score it, but the pipeline scores it 2 times",
        13,
    );
    // Trained twice.
    refused(
        format!("{base}\nINSERT INTO m SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;"),
        "one INSERT may train it",
        12,
    );
    // Rows without an event time.
    let untimed = base.replace("ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested", "speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested");
    refused(untimed, "the query that trains it needs an event-time column", 9);
    refused(base.replace("'event-time'", "'eventually'"), "'scoring' must be 'latest' or 'event-time'", 7);
    // Without 'scoring' the same pipeline scores each row at once.
    let latest = plan_pipeline(&base.replace(", 'scoring' = 'event-time'", "")).expect("plan");
    assert!(!latest.to_string().contains("in event time"), "{latest}");
}
