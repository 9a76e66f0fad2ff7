//! `weir serve`: a REST API for submitting, watching and stopping
//! pipelines, with `/metrics` for Prometheus; and the metrics-only server
//! that `weir run --metrics-addr` starts.
//!
//! axum on a single-threaded tokio runtime in its own thread: the API is
//! small and mostly waits, while pipelines run on their own timely worker
//! threads. Every route is described in `docs/openapi.json`, served at
//! `/openapi.json`; a test checks that the two agree.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use weir_engine::{plan_pipeline, EngineError, Pipeline, RunOptions, RunReport};

/// The API's description, served at `/openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The largest request body accepted (a pipeline's SQL).
pub(crate) const BODY_LIMIT: usize = 1 << 20;

/// Starts the metrics-only server (`/metrics`, `/healthz`, `/readyz`) in a
/// background thread. A port already in use is reported, not fatal.
pub(crate) fn metrics_only(addr: SocketAddr) {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz));
    std::thread::spawn(move || {
        if let Err(e) = serve_blocking(addr, router) {
            tracing::warn!("metrics server on {addr}: {e:#}");
        }
    });
}

/// Runs `weir serve` until the process is stopped.
pub(crate) fn serve(addr: SocketAddr, token: Option<String>) -> anyhow::Result<()> {
    let state = Arc::new(Server { pipelines: Mutex::new(BTreeMap::new()), token, next: AtomicU64::new(1) });
    let router = Router::new()
        .route("/pipelines", post(create).get(list))
        .route("/pipelines/{id}", get(show).delete(stop))
        .route("/validate", post(validate))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    eprintln!("weir serve: listening on http://{addr} (POST /pipelines, GET /metrics, /openapi.json)");
    serve_blocking(addr, router)
}

fn serve_blocking(addr: SocketAddr, router: Router) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the HTTP runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        axum::serve(listener, router).await.context("serving HTTP")
    })
}

struct Server {
    pipelines: Mutex<BTreeMap<String, Entry>>,
    token: Option<String>,
    next: AtomicU64,
}

/// A submitted pipeline.
struct Entry {
    sql: String,
    plan: String,
    tables: Vec<String>,
    sinks: Vec<String>,
    started: String,
    stop: Arc<AtomicBool>,
    running: Option<JoinHandle<Result<RunReport, EngineError>>>,
    /// How it ended: `finished`, `stopped` or `failed`, and the error.
    ended: Option<(&'static str, Option<String>)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every request but the health checks needs the bearer token, if one was set.
async fn authorize(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if let Some(token) = &server.token
        && path != "/healthz"
        && path != "/readyz"
    {
        let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(json!({"error": "a valid bearer token is required"})))
                .into_response();
        }
    }
    next.run(request).await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], weir_engine::metrics::metrics().encode())
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The positioned errors of a pipeline that does not plan, as JSON.
fn invalid(d: &weir_engine::Diagnostic, sql: &str) -> Response {
    let body = json!({"errors": [{
        "message": d.message,
        "line": d.line(),
        "column": d.column(),
        "help": d.help,
        "rendered": d.render(sql, "pipeline.sql"),
    }]});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn validate(sql: String) -> Response {
    match plan_pipeline(&sql) {
        Ok(plan) => Json(json!({"valid": true, "plan": plan.to_string()})).into_response(),
        Err(e) => invalid(&e, &sql),
    }
}

async fn create(State(server): State<Arc<Server>>, sql: String) -> Response {
    let pipeline: Pipeline = match plan_pipeline(&sql) {
        Ok(p) => p,
        Err(e) => return invalid(&e, &sql),
    };
    let id = format!("p{}", server.next.fetch_add(1, Ordering::Relaxed));
    let stop = Arc::new(AtomicBool::new(false));
    let entry = Entry {
        sql: sql.clone(),
        plan: pipeline.to_string(),
        tables: pipeline.sources.iter().map(|s| s.table.clone()).collect(),
        sinks: pipeline.sinks.iter().map(|s| s.table.clone()).collect(),
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        stop: Arc::clone(&stop),
        running: None,
        ended: None,
    };
    let options = RunOptions { stop, name: id.clone(), ..RunOptions::default() };
    let running = std::thread::Builder::new().name(format!("pipeline {id}")).spawn(move || weir_engine::run(pipeline, options));
    let mut pipelines = lock(&server.pipelines);
    let entry = match running {
        Ok(handle) => Entry { running: Some(handle), ..entry },
        Err(e) => Entry { ended: Some(("failed", Some(format!("starting its thread: {e}")))), ..entry },
    };
    let body = describe(&id, &entry);
    pipelines.insert(id, entry);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Notes how a pipeline ended, once its thread has.
fn settle(entry: &mut Entry) {
    if entry.running.as_ref().is_some_and(JoinHandle::is_finished)
        && let Some(handle) = entry.running.take()
    {
        let stopped = entry.stop.load(Ordering::Relaxed);
        entry.ended = Some(match handle.join() {
            Ok(Ok(_)) if stopped => ("stopped", None),
            Ok(Ok(_)) => ("finished", None),
            Ok(Err(e)) => ("failed", Some(e.to_string())),
            Err(_) => ("failed", Some("the pipeline's thread panicked".into())),
        });
    }
}

fn describe(id: &str, entry: &Entry) -> Value {
    let m = weir_engine::metrics::metrics();
    let read: BTreeMap<&str, u64> = entry.tables.iter().map(|t| (t.as_str(), m.source_records_total(id, t))).collect();
    let written: BTreeMap<&str, u64> = entry.sinks.iter().map(|s| (s.as_str(), m.sink_records_total(id, s))).collect();
    let (state, error) = match &entry.ended {
        Some((state, error)) => (*state, error.clone()),
        None => ("running", None),
    };
    json!({
        "id": id,
        "state": state,
        "error": error,
        "started": entry.started,
        "rows_read": read,
        "rows_written": written,
        "plan": entry.plan,
        "sql": entry.sql,
    })
}

async fn list(State(server): State<Arc<Server>>) -> Json<Value> {
    let mut pipelines = lock(&server.pipelines);
    let all: Vec<Value> = pipelines
        .iter_mut()
        .map(|(id, entry)| {
            settle(entry);
            let mut d = describe(id, entry);
            if let Some(o) = d.as_object_mut() {
                o.remove("plan");
                o.remove("sql");
            }
            d
        })
        .collect();
    Json(json!({"pipelines": all}))
}

fn not_found(id: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": format!("no pipeline '{id}'")}))).into_response()
}

async fn show(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    let mut pipelines = lock(&server.pipelines);
    match pipelines.get_mut(&id) {
        Some(entry) => {
            settle(entry);
            Json(describe(&id, entry)).into_response()
        }
        None => not_found(&id),
    }
}

/// Stops a pipeline: its sources stop, everything read is processed and
/// every sink flushed; answers when that is done.
async fn stop(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
    match lock(&server.pipelines).get(&id) {
        Some(entry) => entry.stop.store(true, Ordering::Relaxed),
        None => return not_found(&id),
    }
    loop {
        {
            let mut pipelines = lock(&server.pipelines);
            let Some(entry) = pipelines.get_mut(&id) else { return not_found(&id) };
            settle(entry);
            if entry.running.is_none() {
                return Json(describe(&id, entry)).into_response();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
