//! Sinks under pressure: several INSERTs into one table, restarts, a full
//! disk, and a sink slower than its source.

use std::io::Read;
use std::process::{Command, Stdio};

fn generator(events: usize) -> String {
    format!("CREATE TABLE traffic WITH ('connector' = 'generator', 'sensors' = '10', 'events' = '{events}');\n")
}

fn run(sql: &str, workers: usize) -> Result<weir_engine::RunReport, weir_engine::EngineError> {
    weir_engine::run(weir_engine::plan_pipeline(sql).unwrap_or_else(|e| panic!("{e}")), weir_engine::RunOptions::default().workers(workers))
}

fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("output");
    assert!(text.is_empty() || text.ends_with('\n'), "the last line is whole");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a broken line {l:?}: {e}"))).collect()
}

#[test]
fn several_inserts_into_one_file_each_arrive_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.json");
    let mut sql = generator(5000);
    sql.push_str(&format!("CREATE TABLE o WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\n", out.display()));
    for k in 0..8 {
        sql.push_str(&format!("INSERT INTO o SELECT sensor_id, speed FROM traffic WHERE sensor_id % 8 = {k};\n"));
    }
    sql.push_str("INSERT INTO o SELECT sensor_id, speed FROM traffic;\n");
    for workers in [1, 2] {
        let report = run(&sql, workers).expect("runs");
        let rows = json_lines(&out);
        assert_eq!(rows.len(), 10_000, "{workers} workers");
        assert_eq!(report.rows_written.iter().map(|(_, n)| n).sum::<u64>(), 10_000);
        std::fs::remove_file(&out).expect("rm");
    }
    // INSERTs that write different columns into one table are refused.
    let mixed = format!(
        "{}CREATE TABLE o WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO o SELECT sensor_id, speed FROM traffic;\nINSERT INTO o SELECT sensor_id FROM traffic WHERE sensor_id = 0;",
        generator(10),
        out.display()
    );
    let err = weir_engine::plan_pipeline(&mixed).expect_err("refused");
    assert_eq!(err.line(), 4, "{err}");
    assert!(err.message.contains("already written by the INSERT at line 3"), "{err}");
}

#[test]
fn a_file_sink_appends_cuts_a_torn_line_and_writes_one_csv_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.json");
    // What a crash in the middle of a write leaves.
    std::fs::write(&out, "{\"sensor_id\":1,\"speed\":2.0}\n{\"sensor_id\":3,\"spe").expect("write");
    let sql = format!("{}CREATE TABLE o WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\nINSERT INTO o SELECT sensor_id, speed FROM traffic;", generator(100), out.display());
    run(&sql, 2).expect("runs");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 101, "the complete line kept, the torn one cut, 100 appended");
    run(&sql, 1).expect("runs again");
    assert_eq!(json_lines(&out).len(), 201);
    run(&sql.replace("'format' = 'json')", "'format' = 'json', 'mode' = 'overwrite')"), 1).expect("overwrites");
    assert_eq!(json_lines(&out).len(), 100);

    let csv = dir.path().join("o.csv");
    let sql = format!("{}CREATE TABLE o WITH ('connector' = 'file', 'path' = '{}', 'format' = 'csv');\nINSERT INTO o SELECT sensor_id, speed FROM traffic;", generator(50), csv.display());
    run(&sql, 1).expect("first");
    run(&sql, 1).expect("second");
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(text.lines().filter(|l| *l == "sensor_id,speed").count(), 1, "one header");
    assert_eq!(text.lines().count(), 101);
    let other = sql.replace("SELECT sensor_id, speed", "SELECT speed, sensor_id");
    let err = run(&other, 1).expect_err("another header").to_string();
    assert!(err.contains("already has the header 'sensor_id,speed'"), "{err}");
}

#[test]
fn a_full_disk_is_an_error_not_a_crash() {
    let sql = format!("{}CREATE TABLE o WITH ('connector' = 'file', 'path' = '/dev/full', 'format' = 'json');\nINSERT INTO o SELECT * FROM traffic;", generator(50_000));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.sql");
    std::fs::write(&path, sql).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_weir")).args(["run", "--metrics-addr", "off", path.to_str().expect("utf8")]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("table 'o'") && err.contains("/dev/full") && err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The process's peak resident memory, from /proc.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()).unwrap_or(0)
}

#[test]
fn a_sink_slower_than_its_source_holds_the_source_back() {
    // Rows of about 2 KB, as fast as two generators make them, into a
    // terminal sink on worker 0 whose reader is stalled. Without
    // back-pressure worker 1 would queue all of them (about 4 GB).
    let events = 2_000_000;
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '{events}');
         CREATE TABLE o WITH ('connector' = 'stdout', 'format' = 'csv');
         INSERT INTO o SELECT sensor_id, repeat('x', 2000) AS pad FROM traffic;"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("slow.sql");
    std::fs::write(&path, sql).expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--workers", "2", "--metrics-addr", &format!("127.0.0.1:{port}"), path.to_str().expect("utf8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let read = || -> u64 {
        agent
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .ok()
            .and_then(|r| r.into_body().read_to_string().ok())
            .and_then(|t| t.lines().find(|l| l.starts_with("weir_source_records_total")).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    // Stall the reader until the source stops reading.
    let mut last = 0;
    let mut steady = 0;
    crate::signals::wait_until("the source is held back", || {
        let now = read();
        steady = if now > 0 && now == last { steady + 1 } else { 0 };
        last = now;
        steady >= 20
    });
    assert!(last < events as u64 / 4, "the source read {last} rows with the sink stalled");
    let peak = peak_rss_kb(child.id());
    assert!(peak < 1_500_000, "peak RSS {peak} kB");
    // Drain: every row arrives.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut count = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        count += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    assert_eq!(crate::signals::exit_code(&mut child), Some(0));
    assert_eq!(count, events as u64 + 1, "every row and the header");
}
