//! `weir serve`: a REST API for submitting, watching and stopping
//! pipelines, with `/metrics` for Prometheus; and the metrics-only server
//! that `weir run --metrics-addr` starts.
//!
//! axum on a single-threaded tokio runtime in its own thread: the API is
//! small and mostly waits, while pipelines run on their own timely worker
//! threads and planning runs on tokio's blocking threads, at most
//! [`ServeLimits::max_validations`] at a time, so that a costly request
//! never holds up `/metrics` or other clients. Every route is described in
//! `docs/openapi.json`, served at `/openapi.json`; a test checks that the
//! two agree.
//!
//! What one client can cost is bounded: the request body (1 MiB), the SQL
//! itself ([`crate::sql::Limits`]), the pipelines planned and running at
//! once, and the ended pipelines remembered. Without a token the server
//! listens only on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{lock, plan_pipeline, EngineError, Pipeline, Result, RunOptions, RunReport};

/// The API's description, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The largest request body accepted (a pipeline's SQL).
pub const BODY_LIMIT: usize = 1 << 20;

/// Ended pipelines kept for `GET /pipelines`; older ones are forgotten.
const KEPT_ENDED: usize = 100;

/// What `weir serve` lets its clients cost.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Pipelines running at once; more are refused with 429.
    pub max_pipelines: usize,
    /// Pipelines being planned at once (`/validate` and `POST /pipelines`
    /// together); more are refused with 503 and `Retry-After`.
    pub max_validations: usize,
    /// How long a shutdown waits for running pipelines to stop.
    pub shutdown_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self { max_pipelines: 16, max_validations: 2, shutdown_timeout: Duration::from_secs(30) }
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Io { context, source }
}

/// Starts the metrics-only server (`/metrics`, `/healthz`, `/readyz`) in a
/// background thread. A port already in use is reported, not fatal.
pub fn metrics_only(addr: SocketAddr) {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz));
    std::thread::spawn(move || {
        if let Err(e) = serve_until(addr, router, std::future::pending()) {
            tracing::warn!("metrics server on {addr}: {e}");
        }
    });
}

/// The shared state of one `weir serve`.
#[derive(Debug)]
pub struct Server {
    pipelines: Mutex<BTreeMap<String, Entry>>,
    token: Option<String>,
    next: AtomicU64,
    /// One permit per pipeline being planned.
    planning: Arc<tokio::sync::Semaphore>,
    limits: ServeLimits,
    /// Raised when the server shuts down.
    stopping: Arc<AtomicBool>,
}

impl Server {
    /// A server with these limits; `stopping` is raised to shut it down.
    pub fn new(token: Option<String>, limits: ServeLimits, stopping: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            pipelines: Mutex::new(BTreeMap::new()),
            token,
            next: AtomicU64::new(1),
            planning: Arc::new(tokio::sync::Semaphore::new(limits.max_validations)),
            limits,
            stopping,
        })
    }

    /// The API's routes over this state.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/pipelines", post(create).get(list))
            .route("/pipelines/{id}", get(show).delete(stop_pipeline))
            .route("/validate", post(validate))
            .route("/openapi.json", get(openapi))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .layer(middleware::from_fn_with_state(Arc::clone(self), authorize))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(Arc::clone(self))
    }

    /// Stops every running pipeline and waits for them, at most `timeout`;
    /// names the ones that did not stop.
    pub fn stop_all(&self, timeout: Duration) -> Result<()> {
        let running: Vec<String> = lock(&self.pipelines)
            .iter()
            .filter(|(_, e)| e.running.is_some())
            .map(|(id, e)| {
                e.stop.store(true, Ordering::Relaxed);
                id.clone()
            })
            .collect();
        if !running.is_empty() {
            eprintln!("weir serve: stopping {} pipeline{}", running.len(), if running.len() == 1 { "" } else { "s" });
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut pipelines = lock(&self.pipelines);
            let mut left = Vec::new();
            for id in &running {
                if let Some(entry) = pipelines.get_mut(id) {
                    settle(entry);
                    if entry.running.is_some() {
                        left.push(id.clone());
                    }
                }
            }
            if left.is_empty() {
                for id in &running {
                    if let Some((state, error)) = pipelines.get(id).and_then(|e| e.ended.clone()) {
                        eprintln!("weir serve: pipeline {id} {state}{}", error.map(|e| format!(": {e}")).unwrap_or_default());
                    }
                }
                return Ok(());
            }
            drop(pipelines);
            if std::time::Instant::now() >= deadline {
                return Err(EngineError::Runtime(format!(
                    "pipelines {} did not stop within {}",
                    left.join(", "),
                    humantime::format_duration(timeout)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `weir serve` until `stop` is raised (SIGTERM, SIGINT); then stops
/// accepting requests, stops every pipeline (sources stop, sinks flush,
/// offsets commit) and returns, with an error when some pipeline did not
/// stop within the shutdown timeout.
pub fn serve(addr: SocketAddr, token: Option<String>, limits: ServeLimits, stop: Arc<AtomicBool>) -> Result<()> {
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(EngineError::Runtime(format!(
            "refusing to listen on {addr} without a token: anyone who can reach it could run pipelines; \
             set --token (or WEIR_TOKEN), or listen on a loopback address such as 127.0.0.1"
        )));
    }
    let timeout = limits.shutdown_timeout;
    let server = Server::new(token, limits, Arc::clone(&stop));
    eprintln!("weir serve: listening on http://{addr} (POST /pipelines, GET /metrics, /openapi.json)");
    let served = serve_until(addr, server.router(), async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // However serving ended, the pipelines stop cleanly.
    let stopped = server.stop_all(timeout);
    served.and(stopped)
}

/// Serves `router` on `addr` until `shutdown` completes, then finishes the
/// requests in flight and returns.
fn serve_until(addr: SocketAddr, router: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io("starting the HTTP runtime".into()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(io(format!("listening on {addr}")))?;
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(io("serving HTTP".into()))
    })
}

/// A submitted pipeline.
#[derive(Debug)]
struct Entry {
    sql: String,
    plan: String,
    tables: Vec<String>,
    sinks: Vec<String>,
    started: String,
    stop: Arc<AtomicBool>,
    running: Option<JoinHandle<Result<RunReport>>>,
    /// How it ended: `finished`, `stopped` or `failed`, and the error.
    ended: Option<(&'static str, Option<String>)>,
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

async fn readyz(State(server): State<Arc<Server>>) -> Response {
    if server.stopping.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response();
    }
    "ok\n".into_response()
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::metrics().encode())
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// An error answer with a JSON body.
fn refuse(status: StatusCode, error: String) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// The positioned errors of a pipeline that does not plan, as JSON.
fn invalid(d: &crate::Diagnostic, sql: &str) -> Response {
    let body = json!({"errors": [{
        "message": d.message,
        "line": d.line(),
        "column": d.column(),
        "help": d.help,
        "rendered": d.render(sql, "pipeline.sql"),
    }]});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Plans `sql` off the HTTP thread, at most `max_validations` at a time:
/// planning is CPU work that must not hold up `/metrics` or other clients.
async fn planned(server: &Server, sql: &str) -> std::result::Result<Pipeline, Response> {
    let Ok(permit) = Arc::clone(&server.planning).try_acquire_owned() else {
        let mut busy = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} pipelines are being checked already, the most this server checks at once; try again", server.limits.max_validations),
        );
        busy.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Err(busy);
    };
    let text = sql.to_string();
    let planned = tokio::task::spawn_blocking(move || {
        let planned = plan_pipeline(&text);
        drop(permit);
        planned
    })
    .await;
    match planned {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(invalid(&e, sql)),
        Err(e) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("planning failed: {e}"))),
    }
}

async fn validate(State(server): State<Arc<Server>>, sql: String) -> Response {
    match planned(&server, &sql).await {
        Ok(plan) => Json(json!({"valid": true, "plan": plan.to_string()})).into_response(),
        Err(response) => response,
    }
}

async fn create(State(server): State<Arc<Server>>, sql: String) -> Response {
    if server.stopping.load(Ordering::Relaxed) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down".into());
    }
    let pipeline: Pipeline = match planned(&server, &sql).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let mut pipelines = lock(&server.pipelines);
    pipelines.values_mut().for_each(settle);
    let running = pipelines.values().filter(|e| e.running.is_some()).count();
    if running >= server.limits.max_pipelines {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{running} pipelines are running, the most this server runs (--max-pipelines); stop one first"),
        );
    }
    forget_old(&mut pipelines);
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
    let running = std::thread::Builder::new().name(format!("pipeline {id}")).spawn(move || crate::run(pipeline, options));
    let entry = match running {
        Ok(handle) => Entry { running: Some(handle), ..entry },
        Err(e) => Entry { ended: Some(("failed", Some(format!("starting its thread: {e}")))), ..entry },
    };
    let body = describe(&id, &entry);
    pipelines.insert(id, entry);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Forgets the oldest ended pipelines beyond [`KEPT_ENDED`], so that a
/// server that runs for months does not keep every pipeline it ever ran.
fn forget_old(pipelines: &mut BTreeMap<String, Entry>) {
    let mut ended: Vec<(u64, String)> = pipelines
        .iter()
        .filter(|(_, e)| e.running.is_none())
        .map(|(id, _)| (id.trim_start_matches('p').parse().unwrap_or(0), id.clone()))
        .collect();
    if ended.len() < KEPT_ENDED {
        return;
    }
    ended.sort();
    for (_, id) in ended.iter().take(ended.len() + 1 - KEPT_ENDED) {
        pipelines.remove(id);
    }
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
    let m = crate::metrics::metrics();
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
    refuse(StatusCode::NOT_FOUND, format!("no pipeline '{id}'"))
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
async fn stop_pipeline(State(server): State<Arc<Server>>, Path(id): Path<String>) -> Response {
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
