//! `weir serve`'s REST API and `/metrics`, over real HTTP on loopback, and
//! Prometheus itself scraping a pipeline (`scripts/test.sh` fetches
//! Debian's `prometheus` binary; each test starts its own on a free port).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into()
}

/// A `weir serve` process, killed when dropped.
pub(crate) struct Service {
    child: Child,
    pub(crate) base: String,
    token: Option<String>,
}

impl Service {
    pub(crate) fn start(token: Option<&str>) -> Service {
        Self::start_with(token, &[])
    }

    /// Starts `weir serve` with more arguments (limits).
    pub(crate) fn start_with(token: Option<&str>, args: &[&str]) -> Service {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command.args(["serve", "--addr", &format!("127.0.0.1:{port}")]).args(args).env_remove("WEIR_TOKEN").stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(t) = token {
            command.args(["--token", t]);
        }
        let child = command.spawn().expect("weir serve starts");
        let service = Service { child, base: format!("http://127.0.0.1:{port}"), token: token.map(str::to_string) };
        let started = Instant::now();
        while service.get("/healthz").0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(30), "weir serve did not answer /healthz");
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        let mut request = agent().get(format!("{}{path}", self.base));
        if let Some(a) = self.auth() {
            request = request.header("Authorization", a);
        }
        match request.call() {
            Ok(r) => (r.status().as_u16(), r.into_body().read_to_string().unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let mut request = agent().post(format!("{}{path}", self.base));
        if let Some(a) = self.auth() {
            request = request.header("Authorization", a);
        }
        let response = request.send(body).expect("the request is answered");
        let status = response.status().as_u16();
        (status, serde_json::from_str(&response.into_body().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
    }

    pub(crate) fn delete(&self, path: &str) -> (u16, Value) {
        let mut request = agent().delete(format!("{}{path}", self.base));
        if let Some(a) = self.auth() {
            request = request.header("Authorization", a);
        }
        let response = request.call().expect("the request is answered");
        let status = response.status().as_u16();
        (status, serde_json::from_str(&response.into_body().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
    }

    pub(crate) fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Waits until pipeline `id` is in `state`.
    pub(crate) fn wait_for(&self, id: &str, state: &str) -> Value {
        let started = Instant::now();
        loop {
            let p = self.json(&format!("/pipelines/{id}"));
            if p["state"] == state {
                return p;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "pipeline {id} never reached {state}: {p}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_api_needs_the_token_validates_runs_and_stops_pipelines() {
    let service = Service::start(Some("s3cret"));
    // Health checks need no token; everything else does.
    let anonymous = |method: &str, path: &str| {
        let url = format!("{}{path}", service.base);
        let response = match method {
            "GET" => agent().get(url).call(),
            _ => agent().post(url).send("SELECT 1"),
        };
        response.expect("answered").status().as_u16()
    };
    assert_eq!(anonymous("GET", "/healthz"), 200);
    assert_eq!(anonymous("GET", "/pipelines"), 401);
    assert_eq!(anonymous("POST", "/pipelines"), 401);
    let wrong = agent().get(format!("{}/metrics", service.base)).header("Authorization", "Bearer nope").call().expect("answered");
    assert_eq!(wrong.status().as_u16(), 401);

    // Bad SQL: the same positioned error as `weir check`, as JSON.
    let (status, body) = service.post("/validate", "CREATE TABLE t WITH ('connector' = 'generatr');\n");
    assert_eq!(status, 400, "{body}");
    let error = &body["errors"][0];
    assert_eq!((error["line"].as_u64(), error["column"].as_u64()), (Some(1), Some(22)), "{body}");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("unknown connector 'generatr'")), "{body}");
    assert!(error["help"].as_str().is_some_and(|h| h.contains("did you mean 'generator'")), "{body}");
    assert!(error["rendered"].as_str().is_some_and(|r| r.contains("--> pipeline.sql:1:22")), "{body}");
    let (status, _) = service.post("/pipelines", "SELEKT 1;");
    assert_eq!(status, 400);
    let (status, body) = service.post("/validate", "CREATE TABLE t WITH ('connector' = 'generator'); CREATE TABLE o WITH ('connector' = 'blackhole'); INSERT INTO o SELECT * FROM t;");
    assert_eq!((status, body["valid"].as_bool()), (200, Some(true)), "{body}");

    // An oversized body is refused.
    let (status, _) = service.post("/validate", &"-- padding\n".repeat(200_000));
    assert_eq!(status, 413);

    // Run a pipeline writing a file, watch it, stop it: the sink is flushed.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.json");
    let sql = format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'rate' = '2000', 'sensors' = '5');\n\
         CREATE TABLE out WITH ('connector' = 'file', 'path' = '{}', 'format' = 'json');\n\
         INSERT INTO out SELECT sensor_id, speed FROM traffic WHERE speed > 0;",
        out.display()
    );
    let (status, created) = service.post("/pipelines", &sql);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(created["state"], "running");
    let listed = service.json("/pipelines");
    assert!(listed["pipelines"].as_array().is_some_and(|a| a.iter().any(|p| p["id"] == id.as_str())), "{listed}");
    let started = Instant::now();
    while service.json(&format!("/pipelines/{id}"))["rows_read"]["traffic"].as_u64().unwrap_or(0) < 500 {
        assert!(started.elapsed() < Duration::from_secs(60), "the pipeline reads nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = service.json(&format!("/pipelines/{id}"));
    assert!(shown["plan"].as_str().is_some_and(|p| p.contains("source traffic: generator")), "{shown}");
    let (status, stopped) = service.delete(&format!("/pipelines/{id}"));
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    let written = stopped["rows_written"]["out"].as_u64().expect("rows written");
    assert!(written >= 500, "{stopped}");
    let lines = std::fs::read_to_string(&out).expect("the sink's file").lines().count() as u64;
    assert_eq!(lines, written, "every row handed to the sink is in the file after DELETE");
    assert_eq!(service.delete("/pipelines/p999").0, 404);

    // A pipeline that fails reports why; the server stays up.
    let (status, failing) = service.post(
        "/pipelines",
        "CREATE TABLE t (x BIGINT) WITH ('connector' = 'file', 'path' = '/nonexistent/weir/input.json', 'format' = 'json');\n\
         CREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT * FROM t;",
    );
    assert_eq!(status, 201, "{failing}");
    let failed = service.wait_for(failing["id"].as_str().expect("id"), "failed");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("input.json")), "{failed}");
    assert_eq!(service.get("/healthz").0, 200);
}

/// Every path and method the OpenAPI document describes is served, and
/// the server answers 404 for one it does not describe.
#[test]
fn the_openapi_document_matches_the_routes() {
    let service = Service::start(None);
    let doc = service.json("/openapi.json");
    let paths = doc["paths"].as_object().expect("paths");
    let mut described = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "delete"] {
            if item.get(method).is_some() {
                described.push((method.to_uppercase(), path.replace("{id}", "p424242")));
            }
        }
    }
    let served = [
        ("GET", "/pipelines"),
        ("POST", "/pipelines"),
        ("GET", "/pipelines/p424242"),
        ("DELETE", "/pipelines/p424242"),
        ("POST", "/validate"),
        ("GET", "/openapi.json"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    ];
    let mut expected: Vec<(String, String)> = served.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    described.sort();
    expected.sort();
    assert_eq!(described, expected, "docs/openapi.json and the routes differ");
    for (method, path) in &described {
        let status = match method.as_str() {
            "GET" => service.get(path).0,
            "POST" => service.post(path, "SELEKT").0,
            _ => service.delete(path).0,
        };
        // An unknown pipeline id is a 404 of the handler, with a JSON body.
        let routed = if path.contains("p424242") { status == 404 } else { status != 404 && status != 405 };
        assert!(routed, "{method} {path}: {status}");
    }
    assert_eq!(service.get("/no/such/route").0, 404);
    assert!(service.get("/pipelines/p424242").1.contains("no pipeline"));
}

fn prometheus() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_PROMETHEUS") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let cached = home.join(".cache/weir/tools/prometheus/prometheus");
    assert!(cached.exists(), "the Prometheus test needs Debian's prometheus binary: run `bash scripts/test.sh`, or set WEIR_PROMETHEUS");
    cached
}

/// A Prometheus server scraping `target` every second, with the shipped
/// scrape settings' job name; killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let shipped = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/prometheus.yml")).expect("deploy/prometheus/prometheus.yml");
        // The shipped configuration, pointed at this test's port and scraping faster.
        let config = shipped.replace("127.0.0.1:8080", target).replace("scrape_interval: 5s", "scrape_interval: 1s");
        assert!(config.contains(target), "the shipped config names its target as 127.0.0.1:8080: {shipped}");
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
        let port = free_port();
        let child = Command::new(prometheus())
            .args([
                "--config.file=prometheus.yml",
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--storage.tsdb.path=data",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Prometheus { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// The value of an instant query's single sample, once there is one.
    fn query(&self, promql: &str) -> Option<f64> {
        let response = agent().get(format!("{}/api/v1/query", self.base)).query("query", promql).call().ok()?;
        let body: Value = serde_json::from_str(&response.into_body().read_to_string().ok()?).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus, configured by deploy/prometheus/prometheus.yml,
/// scrapes `weir serve` while a submitted pipeline runs to its end: the
/// series exist and agree with what the pipeline did.
#[test]
fn prometheus_scrapes_a_pipeline_and_its_counters_agree() {
    let service = Service::start(None);
    let target = service.base.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(&target);
    let sql = "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '20000', 'rate' = '10000', 'sensors' = '10');\n\
               CREATE TABLE out WITH ('connector' = 'blackhole');\n\
               INSERT INTO out SELECT sensor_id, speed FROM traffic WHERE speed >= 0;";
    let (status, created) = service.post("/pipelines", sql);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let done = service.wait_for(&id, "finished");
    assert_eq!(done["rows_read"]["traffic"].as_u64(), Some(20_000), "{done}");
    let series = |name: &str, label: &str, value: &str| format!("{name}{{pipeline=\"{id}\",{label}=\"{value}\"}}");
    let started = Instant::now();
    let (read, written) = loop {
        let read = prometheus.query(&series("weir_source_records_total", "table", "traffic"));
        let written = prometheus.query(&series("weir_sink_records_total", "sink", "out"));
        if read == Some(20_000.0) && written.is_some() {
            break (read, written);
        }
        assert!(started.elapsed() < Duration::from_secs(90), "Prometheus never saw the final counts: read {read:?}, written {written:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(read, Some(20_000.0), "records in equals records generated");
    assert_eq!(written, Some(20_000.0), "every generated speed is >= 0, so every row reached the sink");
    // Per-operator series exist, and the process metrics.
    let filter_in = prometheus.query(&format!("sum(weir_operator_records_in_total{{pipeline=\"{id}\",operator=\"out/filter\"}})"));
    assert_eq!(filter_in, Some(20_000.0));
    assert!(prometheus.query("process_resident_memory_bytes").is_some_and(|b| b > 0.0));
    assert_eq!(prometheus.query("weir_build_info"), Some(1.0));
}

/// Every metric the shipped Grafana dashboard queries is exported by a
/// running pipeline: the main example (a model, a monitor, windows) with
/// its readings read from Kafka, as `weir demo` runs it.
#[test]
fn the_dashboard_queries_only_metrics_a_pipeline_exports() {
    let broker = crate::kafka::Broker::start();
    broker.create_topic("traffic", 2);
    let service = Service::start(None);
    let example = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/traffic.sql")).expect("example");
    let example = example.replace("'rate' = '1000'", "'rate' = '0'").replace("'format' = 'table'", "'format' = 'json'").replace("'stdout'", "'blackhole'").replace(", 'format' = 'json'", "");
    // The example's generator table, cut at its WITH clause.
    let connector = example.find("'connector' = 'generator'").expect("the example's generator");
    let with = example[..connector].rfind("WITH (").expect("its WITH");
    let close = example[connector..].find(");").expect("its end") + connector;
    let (head, generator, rest) = (&example[..with], &example[with..close + 2], &example[close + 2..]);
    let kafka = |extra: &str| format!("'connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = '{}', 'format' = 'json'{extra}", broker.bootstrap());
    let produce = format!("{head}{generator}\nCREATE TABLE topic WITH ({});\nINSERT INTO topic SELECT * FROM traffic;", kafka(""));
    let (status, created) = service.post("/pipelines", &produce);
    assert_eq!(status, 201, "{created}");
    service.wait_for(created["id"].as_str().expect("id"), "finished");
    let consume = format!("{head}WITH ({});{rest}", kafka(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'"));
    let (status, created) = service.post("/pipelines", &consume);
    assert_eq!(status, 201, "{created}");
    let done = service.wait_for(created["id"].as_str().expect("id"), "finished");
    assert_eq!(done["rows_read"]["traffic"].as_u64(), Some(20_000), "{done}");
    let (_, exported) = service.get("/metrics");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards/weir.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut expressions = Vec::new();
    collect_exprs(&dashboard, &mut expressions);
    assert!(expressions.len() >= 8, "the dashboard has its panels: {expressions:?}");
    let mut names: Vec<String> = Vec::new();
    for e in &expressions {
        let bytes = e.as_bytes();
        let mut i = 0;
        while let Some(at) = e[i..].find("weir_").map(|a| a + i) {
            let end = e[at..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(e.len(), |n| at + n);
            if at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                names.push(e[at..end].to_string());
            }
            i = end;
        }
    }
    names.sort();
    names.dedup();
    for name in &names {
        let exported_name = format!("\n{name}");
        assert!(exported.contains(&format!("{exported_name}{{")) || exported.contains(&format!("{exported_name} ")), "the dashboard queries {name}, which a running pipeline does not export");
    }
}

/// Every `expr` of the dashboard's targets and annotations.
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "expr" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_exprs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
