//! What one pipeline or one request may cost: SQL that would have
//! overflowed the stack or spun for a minute is a positioned error, and
//! `weir serve` bounds what its clients can start.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::serve::Service;

/// `speed + speed + ... + speed` with `n` terms: a left-deep tree `n` levels deep.
fn long_sum(n: usize) -> String {
    format!(
        "CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '10');\n\
         CREATE TABLE o WITH ('connector' = 'blackhole');\n\
         INSERT INTO o SELECT {} AS s FROM traffic;\n",
        vec!["speed"; n].join(" + ")
    )
}

#[test]
fn a_3000_term_expression_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deep.sql");
    std::fs::write(&path, long_sum(3000)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_weir")).args(["check", path.to_str().expect("utf8")]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nested 257 levels deep; at most 256 are accepted"), "{err}");
    assert!(err.contains("deep.sql:3:22"), "{err}");
    // As deep as the limit allows still plans, and runs.
    let plan = weir_engine::plan_pipeline(&long_sum(256)).expect("256 terms plan");
    let report = weir_engine::run(plan, weir_engine::RunOptions::default().workers(1)).expect("runs");
    assert_eq!(report.rows_written[0].1, 10);
}

#[test]
fn the_largest_text_that_passes_the_size_limit_is_refused_quickly_and_safely() {
    // Just under 1 MiB of one long chain: parsed on the planning thread's
    // stack and refused by the depth limit.
    let chain = vec!["a"; 500_000].join("+");
    let sql = format!("CREATE TABLE t WITH ('connector' = 'generator');\nINSERT INTO t SELECT {chain} FROM t;");
    assert!(sql.len() < 1 << 20);
    let err = weir_engine::plan_pipeline(&sql).expect_err("refused");
    assert!(err.message.contains("levels deep"), "{err}");
    let err = weir_engine::plan_pipeline(&format!("{sql}{}", " ".repeat(1 << 20))).expect_err("refused");
    assert!(err.message.contains("at most 1048576 are accepted"), "{err}");
}

#[test]
fn statements_nodes_plan_size_and_planning_time_are_limited() {
    use weir_engine::sql::Limits;
    let three = "CREATE TABLE t WITH ('connector' = 'generator');\nCREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT speed FROM t;";
    let few = Limits { max_statements: 2, ..Limits::default() };
    let err = weir_engine::plan_pipeline_with(three, &few).expect_err("too many statements");
    assert!(err.message.contains("3 statements; at most 2"), "{err}");
    assert_eq!(err.line(), 3, "{err}");
    let narrow = Limits { max_expression_nodes: 5, ..Limits::default() };
    let wide = three.replace("SELECT speed", "SELECT speed IN (1, 2, 3, 4, 5, 6)");
    let err = weir_engine::plan_pipeline_with(&wide, &narrow).expect_err("too wide");
    assert!(err.message.contains("more than 5 expression nodes"), "{err}");
    let small = Limits { max_plan_nodes: 1, ..Limits::default() };
    let err = weir_engine::plan_pipeline_with(&three.replace("SELECT speed", "SELECT speed * 2 AS s"), &small).expect_err("plan too big");
    assert!(err.message.contains("plan has 2 operators; at most 1 are accepted"), "{err}");
    let hurried = Limits { planning_timeout: Duration::ZERO, ..Limits::default() };
    let err = weir_engine::plan_pipeline_with(three, &hurried).expect_err("no time to plan");
    assert!(err.message.contains("took longer than"), "{err}");
}

#[test]
fn serve_survives_a_deep_expression_and_answers_with_its_position() {
    let service = Service::start(None);
    let (status, body) = service.post("/validate", &long_sum(3000));
    assert_eq!(status, 400, "{body}");
    let error = &body["errors"][0];
    assert_eq!((error["line"].as_u64(), error["column"].as_u64()), (Some(3), Some(22)), "{body}");
    assert_eq!(service.get("/healthz").0, 200, "the server is still there");
}

#[test]
fn serve_caps_running_pipelines() {
    let service = Service::start_with(None, &["--max-pipelines", "1"]);
    let forever = "CREATE TABLE t WITH ('connector' = 'generator', 'rate' = '100');\nCREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT * FROM t;";
    let (status, first) = service.post("/pipelines", forever);
    assert_eq!(status, 201, "{first}");
    let (status, second) = service.post("/pipelines", forever);
    assert_eq!(status, 429, "{second}");
    assert!(second["error"].as_str().is_some_and(|e| e.contains("--max-pipelines")), "{second}");
    let id = first["id"].as_str().expect("id");
    assert_eq!(service.delete(&format!("/pipelines/{id}")).0, 200);
    let (status, third) = service.post("/pipelines", forever);
    assert_eq!(status, 201, "a stopped pipeline frees its place: {third}");
}

#[test]
fn serve_caps_concurrent_validations() {
    use tower::ServiceExt as _;
    let limits = weir_engine::serve::ServeLimits { max_validations: 0, ..Default::default() };
    let server = weir_engine::serve::Server::new(None, limits, Default::default());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let response = rt.block_on(async {
        let request = axum::http::Request::post("/validate").body(axum::body::Body::from("SELECT 1")).expect("request");
        server.router().oneshot(request).await.expect("answered")
    });
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
}

#[test]
fn serve_without_a_token_listens_only_on_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--addr", "0.0.0.0:0"])
        .env_remove("WEIR_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to listen on 0.0.0.0:0 without a token"), "{err}");
}
