//! SIGTERM and SIGINT stop `weir run` and `weir serve` gracefully, however
//! the process was started; a second signal quits at once. Waits poll for
//! a condition (rows in the output, a port that answers) with a generous
//! deadline; nothing sleeps a fixed time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `condition` every 50 ms for up to 60 s.
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child to exit, at most 60 s (then kills it and fails).
pub(crate) fn exit_code(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the process did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

/// A pipeline that runs until stopped, writing generator rows to a file.
fn forever(dir: &Path) -> (PathBuf, PathBuf) {
    let out = dir.join("out.json");
    let sql = format!(
        "CREATE TABLE t WITH ('connector' = 'generator', 'rate' = '2000');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT sensor_id, ts, speed FROM t;",
        out.display()
    );
    let path = dir.join("forever.sql");
    std::fs::write(&path, sql).expect("write");
    (path, out)
}

/// `weir run` under `sh -c`, so that a signal disposition can be inherited.
fn run_under_shell(prelude: &str, pipeline: &Path, stderr: &Path) -> Child {
    let command = format!("{prelude} exec '{}' run --workers 2 --metrics-addr off '{}' 2>'{}'", env!("CARGO_BIN_EXE_weir"), pipeline.display(), stderr.display());
    Command::new("sh").args(["-c", &command]).stdout(Stdio::null()).spawn().expect("spawn")
}

fn graceful_stop(prelude: &str, signal_name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pipeline, out) = forever(dir.path());
    let stderr = dir.path().join("stderr");
    let mut child = run_under_shell(prelude, &pipeline, &stderr);
    // The flush happens when the watermark moves, so rows appear while it runs.
    wait_until("rows are written", || lines(&out) > 0);
    signal(&child, signal_name);
    assert_eq!(exit_code(&mut child), Some(0), "{}", std::fs::read_to_string(&stderr).unwrap_or_default());
    let err = std::fs::read_to_string(&stderr).expect("stderr");
    let rows = lines(&out);
    assert!(err.contains(&format!("SIG{signal_name} received")), "{err}");
    assert!(err.contains(&format!("wrote {rows} rows to out")), "every row counted is in the file: {err} / {rows}");
}

#[test]
fn sigterm_stops_weir_run_gracefully() {
    graceful_stop("", "TERM");
}

#[test]
fn sigint_stops_weir_run_even_when_the_parent_ignored_it() {
    // A background job of a non-interactive shell starts with SIGINT ignored.
    graceful_stop("trap '' INT;", "INT");
}

#[test]
fn a_second_signal_quits_at_once() {
    // The sink writes to a pipe nobody reads: once the pipe is full the
    // graceful stop cannot finish, and only the second signal ends it.
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = "CREATE TABLE t WITH ('connector' = 'generator');
               CREATE TABLE out WITH ('connector' = 'stdout', 'format' = 'json');
               INSERT INTO out SELECT * FROM t;";
    let path = dir.path().join("stuck.sql");
    std::fs::write(&path, sql).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--workers", "1", "--metrics-addr", "off", path.to_str().expect("utf8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    // Read a little, so that it is surely writing, then stop reading.
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).expect("some output");
    signal(&child, "TERM");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut said = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&said).contains("SIGTERM received") {
        assert_eq!(stderr.read(&mut byte).expect("stderr"), 1, "stderr ended early: {}", String::from_utf8_lossy(&said));
        said.push(byte[0]);
    }
    signal(&child, "TERM");
    assert_eq!(exit_code(&mut child), Some(128 + 15));
    drop(stdout);
}

#[test]
fn sigterm_stops_weir_serve_and_every_pipeline_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let stderr = dir.path().join("stderr");
    // As a script would start it: in the background, SIGINT ignored.
    let command = format!(
        "trap '' INT; exec '{}' serve --addr 127.0.0.1:{port} 2>'{}'",
        env!("CARGO_BIN_EXE_weir"),
        stderr.display()
    );
    let mut child = Command::new("sh").args(["-c", &command]).env_remove("WEIR_TOKEN").stdout(Stdio::null()).spawn().expect("spawn");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
    let base = format!("http://127.0.0.1:{port}");
    wait_until("weir serve answers", || agent.get(format!("{base}/healthz")).call().is_ok());
    let sql = format!(
        "CREATE TABLE t WITH ('connector' = 'generator', 'rate' = '2000');
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT sensor_id, ts, speed FROM t;",
        out.display()
    );
    let created = agent.post(format!("{base}/pipelines")).send(&sql).expect("created");
    assert_eq!(created.status().as_u16(), 201);
    wait_until("rows are written", || lines(&out) > 0);
    // Scrapes go on while the server shuts down: each is answered whole,
    // or the connection is refused once it has stopped listening.
    let scraping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let scraper = {
        let (agent, base, scraping, answered) = (agent.clone(), base.clone(), std::sync::Arc::clone(&scraping), std::sync::Arc::clone(&answered));
        std::thread::spawn(move || {
            while scraping.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(r) = agent.get(format!("{base}/metrics")).call() {
                    assert_eq!(r.status().as_u16(), 200);
                    let text = r.into_body().read_to_string().expect("a whole body");
                    assert!(text.contains("weir_uptime_seconds"), "a complete scrape");
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
    };
    // The signal comes while scrapes are under way, not before the first.
    wait_until("a scrape is answered", || answered.load(std::sync::atomic::Ordering::Relaxed) > 0);
    signal(&child, "INT");
    assert_eq!(exit_code(&mut child), Some(0), "{}", std::fs::read_to_string(&stderr).unwrap_or_default());
    scraping.store(false, std::sync::atomic::Ordering::Relaxed);
    scraper.join().expect("scraper");
    let err = std::fs::read_to_string(&stderr).expect("stderr");
    assert!(err.contains("SIGINT received"), "{err}");
    assert!(err.contains("pipeline p1 stopped"), "{err}");
    // Every line written is whole: the sink was flushed, not cut off.
    let text = std::fs::read_to_string(&out).expect("out");
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a whole JSON line");
    }
}
