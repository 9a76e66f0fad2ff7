//! `CREATE MONITOR name ON t (columns) WITH (...)`: a drift detector over
//! columns of a table or view, read as a stream of alerts by `SELECT ...
//! FROM name`.
//!
//! The monitor is registered as a table with the alert columns
//! (`weir_operators::drift::alerts_schema`) whose scans lower to a
//! `Monitor` node over the watched rows, the way window and `ML_METRICS`
//! placeholders do; so any query can filter, project and `INSERT INTO` its
//! alerts, Kafka included.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::empty::EmptyTable;
use datafusion::sql::sqlparser::ast::Spanned;
use weir_kernels::DeviceRequest;
use weir_operators::drift::{DetectorSpec, Mode, MonitorSpec, ReferenceSpec, WindowMethod, WindowSpec, alerts_schema};

use super::{Planner, from_datafusion};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node, type_name};
use crate::sql::{self, CreateMonitor};

/// Every option of `CREATE MONITOR ... WITH (...)`: (name, the methods it
/// belongs to, what it takes). River's names and defaults.
const MONITOR_OPTIONS: &[(&str, &[&str], &str)] = &[
    ("method", &[], "'adwin', 'page_hinkley', 'ddm', 'kswin' (point detectors on each value), 'psi', 'jensen_shannon', 'ks', 'wasserstein' (windows against a reference); required"),
    ("reference.rows", &["psi", "jensen_shannon", "ks", "wasserstein"], "values per key and column in the reference: the first ones seen (1000)"),
    ("reference.start", &["psi", "jensen_shannon", "ks", "wasserstein"], "with 'reference.end': the reference is the values of this event-time range, such as '2026-11-02 00:00:00'"),
    ("reference.end", &["psi", "jensen_shannon", "ks", "wasserstein"], "the (exclusive) end of the reference's event-time range; windows start after it"),
    ("reference.path", &["psi", "jensen_shannon", "ks", "wasserstein"], "a JSON-lines or CSV file (with a header) of reference values: the watched columns by name, and the partition_by column for per-key references"),
    ("window", &["psi", "jensen_shannon", "ks", "wasserstein"], "event-time window measured against the reference, such as '1 minute'; required"),
    ("slide", &["psi", "jensen_shannon", "ks", "wasserstein"], "time between window starts, at most the window: hopping windows (default: the window, tumbling)"),
    ("device", &["psi", "jensen_shannon"], "where windows are binned: 'auto' (a GPU when usable, else the CPU), 'cpu' or 'cuda'"),
    ("threshold", &["page_hinkley", "psi", "jensen_shannon", "ks", "wasserstein"], "page_hinkley: detection threshold lambda (50); psi: 0.25; jensen_shannon: 0.1; ks: p-value below which drift is raised (0.01); wasserstein: required"),
    ("partition_by", &[], "a column: one detector per value of it and watched column"),
    ("delta", &["adwin", "page_hinkley"], "adwin: confidence of the change test (0.002); page_hinkley: tolerated deviation (0.005)"),
    ("clock", &["adwin"], "values between change tests (32)"),
    ("max_buckets", &["adwin"], "buckets of each size before two merge (5)"),
    ("min_window_length", &["adwin"], "shortest sub-window a cut may leave (5)"),
    ("grace_period", &["adwin"], "values before the first change test (10)"),
    ("min_instances", &["page_hinkley"], "values before a detection (30)"),
    ("alpha", &["page_hinkley", "kswin"], "page_hinkley: forgetting factor (0.9999); kswin: p-value at or below which drift is signalled (0.005)"),
    ("window_size", &["kswin"], "values in the sliding window (100)"),
    ("stat_size", &["kswin"], "values in each sample the KS test compares, at most half the window (30)"),
    ("seed", &["kswin"], "seed of the random sample, as Python's random.Random(seed) (42; River draws one)"),
    ("mode", &["page_hinkley"], "'both' (default), 'up' or 'down'"),
    ("warm_start", &["ddm"], "values before a detection (30)"),
    ("warning_threshold", &["ddm"], "deviations above the minimum that warn (2)"),
    ("drift_threshold", &["ddm"], "deviations above the minimum that signal drift (3)"),
];

impl Planner {
    pub(super) fn create_monitor(&mut self, m: CreateMonitor) -> Result<(), Diagnostic> {
        let name = sql::object_name(&m.name);
        self.check_new_name(&name, m.name.span())?;
        let known: Vec<&str> = MONITOR_OPTIONS.iter().map(|(k, _, _)| *k).collect();
        let options = super::models::option_map(&m.options, &known, "monitor")?;
        let bad = |key: &str, why: String| {
            let span = options.get(key).map_or(m.options_span, |o| o.span);
            let help = MONITOR_OPTIONS.iter().find(|(k, _, _)| *k == key).map_or("", |(_, _, h)| h);
            Diagnostic::at(why, span).with_help(format!("'{key}': {help}"))
        };
        let method = match options.get("method").map(|o| o.value.to_ascii_lowercase()) {
            Some(method) if ["adwin", "page_hinkley", "ddm", "kswin", "psi", "jensen_shannon", "ks", "wasserstein"].contains(&method.as_str()) => method,
            Some(method) => return Err(bad("method", format!("unknown method '{method}'"))),
            None => {
                return Err(Diagnostic::at(format!("monitor '{name}' needs a 'method'"), m.options_span)
                    .with_help("add 'method' = 'adwin' (or 'page_hinkley', 'ddm', 'kswin') to its WITH options"));
            }
        };
        for (key, option) in &options {
            if let Some((_, methods, _)) = MONITOR_OPTIONS.iter().find(|(k, _, _)| k == key)
                && !methods.is_empty()
                && !methods.contains(&method.as_str())
            {
                return Err(Diagnostic::at(format!("'{key}' is an option of {}, not of '{method}'", methods.join(", ")), option.span));
            }
        }
        let number = |key: &str, default: f64| -> Result<f64, Diagnostic> {
            match options.get(key) {
                None => Ok(default),
                Some(o) => match o.value.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(bad(key, format!("'{key}' must be a non-negative number, found '{}'", o.value))),
                },
            }
        };
        let count = |key: &str, default: u64| -> Result<u64, Diagnostic> {
            match options.get(key) {
                None => Ok(default),
                Some(o) => o.value.trim().parse::<u64>().map_err(|_| bad(key, format!("'{key}' must be a whole number, found '{}'", o.value))),
            }
        };
        let windowed = |method: WindowMethod, default: Option<f64>| -> Result<MonitorSpec, Diagnostic> {
            let window_ms = match options.get("window") {
                Some(o) => match humantime::parse_duration(o.value.trim()) {
                    Ok(d) if d.as_millis() > 0 => d.as_millis() as i64,
                    _ => return Err(bad("window", format!("'window' must be a duration such as '1 minute', found '{}'", o.value))),
                },
                None => return Err(Diagnostic::at(format!("a '{}' monitor needs a 'window'", method.name()), m.options_span).with_help("add 'window' = '1 minute'")),
            };
            let threshold = match (options.contains_key("threshold"), default) {
                (true, _) => number("threshold", 0.0)?,
                (false, Some(d)) => d,
                (false, None) => {
                    return Err(Diagnostic::at(format!("a '{}' monitor needs a 'threshold'", method.name()), m.options_span)
                        .with_help("its distance has the feature's units, so there is no default"));
                }
            };
            let slide_ms = match options.get("slide") {
                None => window_ms,
                Some(o) => match humantime::parse_duration(o.value.trim()) {
                    Ok(d) if d.as_millis() > 0 && d.as_millis() as i64 <= window_ms => d.as_millis() as i64,
                    _ => return Err(bad("slide", format!("'slide' must be a duration no longer than the window, found '{}'", o.value))),
                },
            };
            let time = |key: &str| -> Result<Option<i64>, Diagnostic> {
                match options.get(key) {
                    None => Ok(None),
                    Some(o) => string_to_timestamp_nanos(o.value.trim())
                        .map(|ns| Some(ns.div_euclid(1_000_000)))
                        .map_err(|_| bad(key, format!("'{key}' must be a timestamp such as '2026-11-02 00:00:00', found '{}'", o.value))),
                }
            };
            let given = ["reference.rows", "reference.start", "reference.path"].iter().filter(|k| options.contains_key(**k)).count();
            if given > 1 {
                return Err(Diagnostic::at("give the reference one way: 'reference.rows', a time range, or 'reference.path'", m.options_span));
            }
            let reference = match (time("reference.start")?, time("reference.end")?) {
                (None, None) if options.contains_key("reference.path") => {
                    let o = options["reference.path"];
                    let key = options.get("partition_by").map(|k| k.value.as_str());
                    let watched: Vec<String> = m.columns.iter().map(|c| c.value.clone()).collect();
                    let values = super::reference_file::read(&o.value, key, &watched).map_err(|e| bad("reference.path", e))?;
                    ReferenceSpec::File(Arc::new(values))
                }
                (None, None) => ReferenceSpec::Rows(count("reference.rows", 1000)?.max(2) as usize),
                (Some(start_ms), Some(end_ms)) => {
                    if end_ms <= start_ms {
                        return Err(bad("reference.end", "'reference.end' must be after 'reference.start'".into()));
                    }
                    ReferenceSpec::Range { start_ms, end_ms }
                }
                (Some(_), None) => return Err(bad("reference.start", "'reference.start' needs a 'reference.end'".into())),
                (None, Some(_)) => return Err(bad("reference.end", "'reference.end' needs a 'reference.start'".into())),
            };
            let device: DeviceRequest = match options.get("device") {
                None => DeviceRequest::Auto,
                Some(o) => o.value.parse().map_err(|e: String| bad("device", e))?,
            };
            Ok(MonitorSpec::Windowed(WindowSpec { method, reference, window_ms, slide_ms, threshold, device }))
        };
        let spec = match method.as_str() {
            "psi" => windowed(WindowMethod::Psi, Some(0.25))?,
            "jensen_shannon" => windowed(WindowMethod::JensenShannon, Some(0.1))?,
            "ks" => windowed(WindowMethod::Ks, Some(0.01))?,
            "wasserstein" => windowed(WindowMethod::Wasserstein, None)?,
            point => {
                let text = |key: &str| options.get(key).map(|o| o.value.to_ascii_lowercase());
                match point_detector(point, &number, &count, &text, &bad)? {
                    Some(detector) => MonitorSpec::Point(detector),
                    None => return Err(bad("method", format!("unknown method '{point}'"))),
                }
            }
        };
        let input_name = sql::object_name(&m.input);
        let input = self.rows_of(&input_name, m.input.span(), m.span)?;
        let schema = input.schema();
        let mut columns = Vec::new();
        for c in &m.columns {
            let i = schema.index_of(&c.value).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Diagnostic::at(format!("'{}' is not a column of '{input_name}'", c.value), c.span).with_help(format!("columns: {}", names.join(", ")))
            })?;
            let t = schema.field(i).data_type();
            if !(t.is_numeric() || t == &DataType::Boolean) {
                return Err(Diagnostic::at(format!("'{}' is {}: a monitor watches numbers (or BOOLEAN, as 0 and 1)", c.value, type_name(t)), c.span));
            }
            columns.push((i, c.value.clone()));
        }
        let key = match options.get("partition_by") {
            Some(o) => Some(schema.index_of(&o.value).map_err(|_| bad("partition_by", format!("'{}' is not a column of '{input_name}'", o.value)))?),
            None => None,
        };
        let time = (0..schema.fields().len()).find(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(..)));
        if matches!(spec, MonitorSpec::Windowed(_)) {
            let Some(t) = time else {
                return Err(Diagnostic::at(format!("'{input_name}' has no TIMESTAMP column for the monitor's event-time windows"), m.input.span()));
            };
            // Windows close as the watermark passes them: the tables the
            // time comes from need one (the default, unless declared).
            for (table, column) in self.time_origins(&input, t).unwrap_or_default() {
                self.require_watermark(&table, &column, m.span)?;
            }
            self.apply_default_watermarks()?;
        }
        // A point detector follows its rows' order: event-time order when
        // the time comes from tables with a watermark, so its alerts are
        // the same on every run.
        let ordered = matches!(spec, MonitorSpec::Point(_)) && time.is_some_and(|t| self.is_event_time(&input, t));
        let alerts = alerts_schema();
        self.ctx.register_table(name.as_str(), Arc::new(EmptyTable::new(Arc::clone(&alerts)))).map_err(from_datafusion)?;
        self.windows.insert(name.clone(), Node::new(plan::Monitor { monitor: name, spec, key, columns, time, ordered, schema: alerts }, vec![input]));
        Ok(())
    }
}

/// A point detector named `method` with River's parameters, read with
/// `number`, `count` and `text` (each by the parameter's River name; the
/// caller maps it to its option, such as `'delta'` or `'drift.delta'`,
/// and positions errors with `bad`); `None` when `method` is not a point
/// detector.
pub(super) fn point_detector(
    method: &str,
    number: &dyn Fn(&str, f64) -> Result<f64, Diagnostic>,
    count: &dyn Fn(&str, u64) -> Result<u64, Diagnostic>,
    text: &dyn Fn(&str) -> Option<String>,
    bad: &dyn Fn(&str, String) -> Diagnostic,
) -> Result<Option<DetectorSpec>, Diagnostic> {
    Ok(Some(match method {
        "adwin" => DetectorSpec::Adwin {
            delta: number("delta", 0.002)?,
            clock: count("clock", 32)?.max(1),
            max_buckets: count("max_buckets", 5)?.max(1) as usize,
            min_window_length: count("min_window_length", 5)?,
            grace_period: count("grace_period", 10)?,
        },
        "page_hinkley" => DetectorSpec::PageHinkley {
            min_instances: count("min_instances", 30)?,
            delta: number("delta", 0.005)?,
            threshold: number("threshold", 50.0)?,
            alpha: number("alpha", 1.0 - 0.0001)?,
            mode: match text("mode").as_deref() {
                None | Some("both") => Mode::Both,
                Some("up") => Mode::Up,
                Some("down") => Mode::Down,
                Some(other) => return Err(bad("mode", format!("unknown mode '{other}'"))),
            },
        },
        "ddm" => DetectorSpec::Ddm {
            warm_start: count("warm_start", 30)?,
            warning_threshold: number("warning_threshold", 2.0)?,
            drift_threshold: number("drift_threshold", 3.0)?,
        },
        "kswin" => {
            let alpha = number("alpha", 0.005)?;
            if alpha > 1.0 {
                return Err(bad("alpha", format!("'alpha' is a probability, found {alpha}")));
            }
            let (window_size, stat_size) = (count("window_size", 100)?, count("stat_size", 30)?);
            if stat_size == 0 || window_size < 2 * stat_size {
                return Err(bad("stat_size", format!("'stat_size' ({stat_size}) must be at least 1 and at most half of 'window_size' ({window_size})")));
            }
            DetectorSpec::Kswin { alpha, window_size: window_size as usize, stat_size: stat_size as usize, seed: count("seed", 42)? }
        }
        _ => return Ok(None),
    }))
}
