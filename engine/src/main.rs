//! The `weir` command line.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use weir_engine::{export, plan_pipeline, run, serve, EngineError, RunOptions};

mod demo;
mod signals;

/// Weir: streaming SQL pipelines for real-time machine learning.
///
/// Write a pipeline in Flink-style SQL (sources and sinks with CREATE TABLE,
/// features with SELECT, results with INSERT INTO) and run it on as many
/// worker threads as the machine has.
#[derive(Debug, Parser)]
#[command(name = "weir", version, propagate_version = true, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until its inputs end or Ctrl-C, then flush every sink.
    ///
    /// Exits 0 when the pipeline finished, 2 when the pipeline is invalid
    /// (nothing ran), 1 when it failed while running.
    Run {
        /// The pipeline file (`-` reads standard input).
        pipeline: PathBuf,
        /// Worker threads [default: the number of CPU cores].
        #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        workers: Option<u32>,
        /// Do not print the summary (rows read and written) on stderr.
        #[arg(short, long)]
        quiet: bool,
        /// Serve Prometheus metrics (and /healthz) here; `off` to not.
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_addr: String,
        /// Keep consistent checkpoints here (a path or file:// URL), and
        /// resume from the latest one; overrides 'state.checkpoints.dir'.
        #[arg(long)]
        checkpoint_dir: Option<String>,
        /// How often to checkpoint ('10s'); overrides
        /// 'execution.checkpointing.interval'.
        #[arg(long, value_parser = humantime::parse_duration)]
        checkpoint_interval: Option<std::time::Duration>,
        /// Start from scratch even if the checkpoint directory holds
        /// checkpoints (new ones are written after them).
        #[arg(long)]
        fresh: bool,
    },
    /// List the checkpoints in a checkpoint directory: id, when it
    /// completed, its size, and every source's position.
    Checkpoints {
        /// The directory ('state.checkpoints.dir', --checkpoint-dir).
        dir: String,
    },
    /// Run as a service: a REST API to submit, watch and stop pipelines
    /// (POST /pipelines with the SQL as the body), with /metrics for
    /// Prometheus and the API described at /openapi.json.
    Serve {
        /// Where to listen. Without a token only a loopback address is
        /// accepted: anyone who reaches the API can run pipelines.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Require `Authorization: Bearer TOKEN` on every request but the
        /// health checks.
        #[arg(long, env = "WEIR_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Pipelines that may run at once; more are refused (429).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        max_pipelines: u32,
        /// Pipelines that may be checked (planned) at once, by POST
        /// /validate and POST /pipelines together; more are refused (503).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
        max_validations: u32,
        /// On SIGTERM or SIGINT, how long to wait for the running pipelines
        /// to stop (flush, commit) before exiting with an error.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        shutdown_timeout: std::time::Duration,
    },
    /// Check a pipeline without running it and print its dataflow plan.
    ///
    /// Exits 0 when the pipeline is valid, 2 with a positioned error when not.
    Check {
        /// The pipeline file (`-` reads standard input).
        pipeline: PathBuf,
    },
    /// List the connectors and their options.
    Connectors,
    /// The main example through Kafka: starts a Kafka-protocol broker
    /// (tansu) on loopback, produces the generator's readings into topic
    /// 'traffic', and runs examples/traffic.sql reading that topic, until
    /// Ctrl-C. Prints the bootstrap address for your own clients.
    Demo {
        /// Produce the example's events first, read them to the end, exit.
        #[arg(long)]
        bounded: bool,
        /// Events per second of the generator [default: the example's].
        #[arg(long)]
        rate: Option<f64>,
        /// Partitions of the 'traffic' topic.
        #[arg(long, default_value_t = 4)]
        partitions: u32,
        /// Worker threads of the example's pipeline [default: the CPU cores].
        #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        workers: Option<u32>,
    },
    /// Work with trained models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Write a model trained by a pipeline, read from its 'snapshot.path',
    /// as JSON (the snapshot document, format weir-model/2) or safetensors
    /// (tensors with a leading key dimension; see docs/models.md).
    ///
    /// Exits 0 when written, 2 when the pipeline is invalid or has no such
    /// model, 1 when the model has no snapshot or it cannot be read.
    Export {
        /// The pipeline file that declares the model (`-` reads standard input).
        pipeline: PathBuf,
        /// The model's name.
        model: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Where to write [default: standard output].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Safetensors,
}

fn read_pipeline(path: &PathBuf) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading the pipeline from standard input")?;
        return Ok((text, "<stdin>".to_string()));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading pipeline {}", path.display()))?;
    Ok((text, path.display().to_string()))
}

/// Reads and plans a pipeline; on failure prints why and gives the exit
/// code (2: the pipeline is invalid or unreadable, nothing ran).
fn load(path: &PathBuf) -> Result<(weir_engine::Pipeline, String, String), ExitCode> {
    let (text, origin) = read_pipeline(path).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })?;
    match plan_pipeline(&text) {
        Ok(plan) => Ok((plan, text, origin)),
        Err(d) => {
            eprintln!("{}", d.render(&text, &origin));
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { pipeline } => {
            let (text, origin) = match read_pipeline(&pipeline) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(2));
                }
            };
            match plan_pipeline(&text) {
                Ok(plan) => {
                    emit(&plan.to_string())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(d) => {
                    eprintln!("{}", d.render(&text, &origin));
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Serve { addr, token, max_pipelines, max_validations, shutdown_timeout } => {
            let limits = serve::ServeLimits { max_pipelines: max_pipelines as usize, max_validations: max_validations as usize, shutdown_timeout };
            let stop = signals::stop_on_signals("stopping every pipeline, flushing their sinks")?;
            serve::serve(addr, token, limits, stop)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoints { dir } => {
            emit(&weir_engine::checkpoint::list(&dir)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { pipeline, workers, quiet, metrics_addr, checkpoint_dir, checkpoint_interval, fresh } => {
            let (plan, text, origin) = match load(&pipeline) {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            for warning in &plan.warnings {
                eprintln!("weir: warning: {warning}");
            }
            if metrics_addr != "off" {
                let addr: std::net::SocketAddr = metrics_addr.parse().with_context(|| format!("--metrics-addr '{metrics_addr}' is not host:port"))?;
                serve::metrics_only(addr);
            }
            let stop = signals::stop_on_signals("stopping; flushing sinks and committing")?;
            let mut options = RunOptions { stop, checkpoint_dir, checkpoint_interval, fresh, notice: Some(notice), ..RunOptions::default() };
            if let Some(w) = workers {
                options = options.workers(w as usize);
            }
            run_reported(plan, &text, &origin, options, quiet)
        }
        Command::Demo { bounded, rate, partitions, workers } => {
            let stop = signals::stop_on_signals("stopping; flushing sinks and committing")?;
            let options = demo::DemoOptions { bounded, rate, partitions };
            demo::run(options, stop, |plan, text, stop| {
                let mut options = RunOptions { stop, notice: Some(notice), ..RunOptions::default() };
                if let Some(w) = workers {
                    options = options.workers(w as usize);
                }
                run_reported(plan, text, "weir demo", options, false)
            })
        }
        Command::Model { command: ModelCommand::Export { pipeline, model, format, output } } => {
            let (plan, _, _) = match load(&pipeline) {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            if !plan.models.iter().any(|m| m.name == model) {
                let known: Vec<&str> = plan.models.iter().map(|m| m.name.as_str()).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                eprintln!("error: the pipeline has no model '{model}' that a query trains or scores (it has: {known})");
                return Ok(ExitCode::from(2));
            }
            let format = match format {
                Format::Json => export::ExportFormat::Json,
                Format::Safetensors => export::ExportFormat::Safetensors,
            };
            let (snapshot, from) = export::read_model(&plan, &model)?;
            let bytes = export::export(&snapshot, format)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("weir: wrote model {model} from {from} to {} ({} bytes)", path.display(), bytes.len());
                }
                None => {
                    eprintln!("weir: model {model} from {from}");
                    emit_bytes(&bytes)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connectors => {
            let mut text = String::new();
            for (role, list) in [("source", weir_connectors::SOURCES), ("sink", weir_connectors::SINKS)] {
                for (name, options) in list {
                    text.push_str(&format!("{role} '{name}'\n"));
                    for o in *options {
                        let default = o.default.map(|d| format!(" (default '{d}')")).unwrap_or_default();
                        text.push_str(&format!("  '{}'{default}: {}\n", o.key, o.doc));
                    }
                    if options.is_empty() {
                        text.push_str("  (no options)\n");
                    }
                }
            }
            emit(&text)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a planned pipeline and prints its summary; the exit code says how
/// it ended.
fn run_reported(plan: weir_engine::Pipeline, text: &str, origin: &str, options: RunOptions, quiet: bool) -> anyhow::Result<ExitCode> {
    let workers = options.workers;
    let status = (!quiet && std::io::stderr().is_terminal()).then(|| status_line(options.name.clone()));
    let result = run(plan, options);
    if let Some((done, line)) = status {
        done.store(true, Ordering::Relaxed);
        let _ = line.join();
    }
    match result {
        Ok(report) => {
            for summary in &report.malformed_summaries {
                eprintln!("weir: {summary}");
            }
            if let Some(summary) = &report.failed_summary {
                eprintln!("weir: {summary}");
            }
            if !quiet && !report.window_latencies.is_empty() {
                let l = &report.window_latencies;
                let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
                eprintln!(
                    "weir: {} windows emitted {:.2} ms (p50), {:.2} ms (p99) after the watermark passed their end",
                    l.len(),
                    at(0.5),
                    at(0.99)
                );
            }
            for (table, late) in report.rows_late.iter().filter(|(_, n)| **n > 0) {
                eprintln!("weir: {late} rows of {table} arrived behind its watermark and were left out of its windows");
            }
            for (name, m) in &report.models {
                eprintln!("weir: {}", model_summary(name, m));
            }
            if let Some(c) = report.checkpoints.as_ref().filter(|_| !quiet) {
                let last = c.last.map(|id| format!(", the last {id} ({} bytes of state)", c.last_bytes)).unwrap_or_default();
                let failed = if c.failed > 0 { format!(", {} failed", c.failed) } else { String::new() };
                eprintln!("weir: wrote {} checkpoint{}{failed}{last}", c.written, if c.written == 1 { "" } else { "s" });
            }
            for (operator, peak) in report.state_peaks.iter().filter(|_| !quiet) {
                eprintln!("weir: {operator} held at most {peak} rows of state");
            }
            if !quiet {
                eprintln!("weir: {}; {:.3} s on {workers} worker{}", summary(&report), report.elapsed.as_secs_f64(), if workers == 1 { "" } else { "s" });
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(EngineError::Pipeline(d)) => {
            eprintln!("{}", d.render(text, origin));
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// What a run read and wrote: `read 10 rows from t; wrote 12 rows to o;
/// trained model m`. Rows of several INSERTs into one table are summed.
fn summary(report: &weir_engine::RunReport) -> String {
    let read: Vec<String> = report.rows_read.iter().map(|(t, n)| format!("{n} rows from {t}")).collect();
    let mut written: Vec<(&str, u64)> = Vec::new();
    for (t, n) in report.rows_written.iter().filter(|(t, _)| !report.models.contains_key(t)) {
        match written.iter_mut().find(|(w, _)| w == t) {
            Some((_, total)) => *total += n,
            None => written.push((t, *n)),
        }
    }
    let mut parts = vec![if read.is_empty() { "read nothing".to_string() } else { format!("read {}", read.join(", ")) }];
    if !written.is_empty() {
        let w: Vec<String> = written.iter().map(|(t, n)| format!("{n} rows to {t}")).collect();
        parts.push(format!("wrote {}", w.join(", ")));
    }
    let models: Vec<&str> = report.models.keys().filter(|m| report.rows_written.iter().any(|(t, _)| t == *m)).map(String::as_str).collect();
    if !models.is_empty() {
        parts.push(format!("trained {} {}", if models.len() == 1 { "model" } else { "models" }, models.join(", ")));
    }
    parts.join("; ")
}

/// On a terminal, a status line refreshed every second: rows/s, the
/// watermark and its lag behind the clock, model accuracy. Returns the
/// flag that ends it and its thread.
/// Prints what the engine says a person should know as a run starts.
fn notice(text: &str) {
    eprintln!("weir: {text}");
}

fn status_line(pipeline: String) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let line = std::thread::spawn(move || {
        let m = weir_engine::metrics::metrics();
        let mut last = 0.0;
        let mut shown = false;
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let read: f64 = m.values("weir_source_records_total", &pipeline).iter().sum();
            let mut parts = vec![format!("{:.0} rows/s", read - last)];
            last = read;
            if let Some(w) = m.values("weir_source_watermark_seconds", &pipeline).into_iter().reduce(f64::min) {
                let at = chrono::DateTime::from_timestamp_millis((w * 1000.0) as i64).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default();
                parts.push(format!("watermark {at}"));
            }
            if let Some(lag) = m.values("weir_source_watermark_lag_seconds", &pipeline).into_iter().reduce(f64::max) {
                parts.push(format!("lag {lag:.1} s"));
            }
            let accuracy = m.values("weir_model_accuracy", &pipeline);
            if !accuracy.is_empty() {
                parts.push(format!("accuracy {:.3}", accuracy.iter().sum::<f64>() / accuracy.len() as f64));
            }
            if let Some(id) = m.values("weir_checkpoint_last_id", &pipeline).into_iter().reduce(f64::max) {
                let ago = m.values("weir_checkpoint_since_last_seconds", &pipeline).into_iter().reduce(f64::min).unwrap_or(0.0);
                parts.push(format!("checkpoint {id:.0} {ago:.0} s ago"));
            }
            eprint!("\r\x1b[2Kweir: {}", parts.join(", "));
            shown = true;
        }
        if shown {
            eprint!("\r\x1b[2K");
        }
    });
    (done, line)
}

/// One line on what a model learned: rows, keys, prequential metrics, device.
fn model_summary(name: &str, m: &weir_engine::ModelReport) -> String {
    let p = &m.metrics;
    let mut parts = vec![format!("learned {} rows", p.rows), format!("scored {}", m.rows_scored), format!("{} keys", m.keys)];
    if let Some(a) = p.accuracy().filter(|_| p.log_loss_sum > 0.0) {
        parts.push(format!("prequential accuracy {a:.4}"));
        parts.extend(p.log_loss().map(|l| format!("log loss {l:.4}")));
    } else if let (Some(mae), Some(rmse)) = (p.mae(), p.rmse()) {
        parts.push(format!("prequential MAE {mae:.4}, RMSE {rmse:.4}"));
    }
    if p.skipped > 0 {
        parts.push(format!("{} rows skipped (NULL key, label or feature)", p.skipped));
    }
    format!("model {name}: {}; on {}", parts.join(", "), m.device)
}

/// Writes `text` to standard output. A reader that went away (`weir check
/// p.sql | head`) is not an error: the output is simply not wanted.
fn emit(text: &str) -> anyhow::Result<()> {
    emit_bytes(text.as_bytes())
}

fn emit_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to standard output"),
        _ => Ok(()),
    }
}
