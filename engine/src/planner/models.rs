//! `CREATE MODEL`, training by `INSERT INTO model SELECT ...`, and scoring
//! by `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))`.
//!
//! A model is declared once with Flink SQL's syntax and Weir's options for
//! online learning; the planner checks its options, then matches every
//! training query's columns to the model by name (INPUT columns, the
//! OUTPUT column as the label, the `partition_by` column as the key) and
//! every `ML_PREDICT` call's DESCRIPTOR to the INPUT columns by position,
//! as Flink does.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::empty::EmptyTable;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::sql::sqlparser::ast::Spanned;
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_kernels::{Activation, DeviceRequest, MAX_UNITS, ModelSpec, Optimizer, Task};
use weir_operators::{ModelDriftSpec, OnDrift};

use super::{Planner, from_datafusion};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, ModelPlan, Node, SinkPlan, SourceRows, type_name};
use crate::sql::{self, CreateModel, Insert, SqlOption, WindowCall};

/// Every option of `CREATE MODEL ... WITH (...)`, with what it takes.
const MODEL_OPTIONS: &[(&str, &str)] = &[
    ("task", "'classification' (BOOLEAN output: binary; STRING or integer output: multiclass) or 'regression' (numeric output); required"),
    ("algorithm", "'logistic_regression' (binary), 'softmax_regression' (multiclass), 'linear_regression' (regression) or 'mlp' (any task)"),
    ("classes", "multiclass only: the class names in order for a STRING output ('free, slow, jammed'), or their number for an integer output (labels 0 to n - 1)"),
    ("hidden_layers", "mlp only: one or two hidden layer sizes, such as '32' or '32, 16' (default '32'; at most 256 each)"),
    ("activation", "mlp only: 'relu' (default), 'tanh' or 'sigmoid'"),
    ("batch_size", "rows of one key per gradient step: default 1 (fully online, River's way) for linear models, 8 for an mlp"),
    ("seed", "mlp only: seed of the initial weights (default 42)"),
    ("optimizer", "'sgd' (default) or 'adam'"),
    ("learning_rate", "step size: default 0.01 for sgd, 0.1 for adam (River's defaults)"),
    ("l2", "L2 penalty l2·‖w‖², default 0"),
    ("intercept_lr", "linear models only: step size of the biases (plain SGD, as River), default 0.01; an mlp's biases move with its optimizer"),
    ("scaler", "'standard' (running mean and variance per key) or 'none' (default)"),
    ("partition_by", "a column: one model per value of it, created on first sight"),
    ("device", "'auto' (default: CUDA for per-key linear models learning online when a GPU is usable, else the CPU; see docs/models.md), 'cpu' or 'cuda'"),
    ("drift.detector", "'adwin', 'page_hinkley', 'ddm' or 'kswin': a detector per key on the prequential errors (0/1 for a classifier); its alerts are ML_ALERTS(MODEL m)"),
    ("on_drift", "'none' (default: alerts only), 'reset' (a fresh model for the key) or 'background' (a model started at the warning is swapped in; ddm)"),
    ("drift.delta", "adwin: confidence of the change test (0.002); page_hinkley: tolerated deviation (0.005)"),
    ("drift.clock", "adwin: values between change tests (32)"),
    ("drift.max_buckets", "adwin: buckets of each size before two merge (5)"),
    ("drift.min_window_length", "adwin: shortest sub-window a cut may leave (5)"),
    ("drift.grace_period", "adwin: values before the first change test (10)"),
    ("drift.min_instances", "page_hinkley: values before a detection (30)"),
    ("drift.threshold", "page_hinkley: detection threshold lambda (50)"),
    ("drift.alpha", "page_hinkley: forgetting factor (0.9999); kswin: p-value at or below which drift is signalled (0.005)"),
    ("drift.window_size", "kswin: values in the sliding window (100)"),
    ("drift.stat_size", "kswin: values in each sample the KS test compares (30)"),
    ("drift.seed", "kswin: seed of the random sample (42)"),
    ("drift.mode", "page_hinkley: 'both' (default), 'up' or 'down'"),
    ("drift.warm_start", "ddm: values before a detection (30)"),
    ("drift.warning_threshold", "ddm: deviations above the minimum that warn (2)"),
    ("drift.drift_threshold", "ddm: deviations above the minimum that signal drift (3)"),
    ("scoring", "'latest' (default: a row is scored at once by the model as it is then; lowest latency) or 'event-time' (a row is scored, once the watermark passes it, by the model that has learned exactly the training rows earlier than it: the same predictions on every run, worker count and recovery)"),
    ("snapshot.path", "a JSON file: the model starts warm from it if it exists, and is saved to it"),
    ("snapshot.interval", "how often the snapshot is rewritten while running, such as '30 s' (default '1 min')"),
];

/// A model's declaration, kept for positioned errors.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub(super) plan: ModelPlan,
    /// Whether some query trains or scores it.
    pub(super) used: bool,
    /// Where queries train it (`INSERT INTO m`) and score it (`ML_PREDICT`).
    pub(super) trained_at: Vec<Span>,
    pub(super) scored_at: Vec<Span>,
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl Planner {
    pub(super) fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.plan.name == name)
    }

    pub(super) fn create_model(&mut self, m: CreateModel) -> Result<(), Diagnostic> {
        let name = sql::object_name(&m.name);
        self.check_new_name(&name, m.name.span())?;
        let known: Vec<&str> = MODEL_OPTIONS.iter().map(|(k, _)| *k).collect();
        let options = option_map(&m.options, &known, "model")?;
        let value = |key: &str| options.get(key).map(|o| o.value.to_ascii_lowercase());
        let bad = |key: &str, why: String| {
            let span = options.get(key).map_or(m.options_span, |o| o.span);
            let help = MODEL_OPTIONS.iter().find(|(k, _)| *k == key).map_or("", |(_, h)| h);
            Diagnostic::at(why, span).with_help(format!("'{key}': {help}"))
        };
        let number = |key: &str, default: f32| -> Result<f32, Diagnostic> {
            match value(key) {
                None => Ok(default),
                Some(v) => match v.parse::<f32>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(bad(key, format!("'{key}' must be a non-negative number, found '{v}'"))),
                },
            }
        };
        let optimizer = match value("optimizer").as_deref() {
            None | Some("sgd") => Optimizer::Sgd { lr: number("learning_rate", 0.01)? },
            Some("adam") => Optimizer::Adam { lr: number("learning_rate", 0.1)?, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            Some(other) => return Err(bad("optimizer", format!("unknown optimizer '{other}'"))),
        };
        let scale = match value("scaler").as_deref() {
            None | Some("none") => false,
            Some("standard") => true,
            Some(other) => return Err(bad("scaler", format!("unknown scaler '{other}'"))),
        };
        let device: DeviceRequest = value("device").unwrap_or_else(|| "auto".into()).parse().map_err(|e: String| bad("device", e))?;
        if device == DeviceRequest::Cuda
            && let Some(reason) = weir_kernels::cuda_unavailable()
        {
            return Err(bad("device", format!("'device' = 'cuda' was asked for, but {reason}"))
                .with_help("use 'device' = 'auto' to run on the CPU when no GPU is usable"));
        }
        let partition_by = options.get("partition_by").map(|o| o.value.clone());
        // INPUT: numeric features; OUTPUT: one column whose type fits the task.
        let mut inputs = Vec::new();
        for c in &m.inputs {
            let t = sql::sql_type_to_arrow(&c.data_type).filter(is_numeric).ok_or_else(|| {
                Diagnostic::at(format!("model input '{}' must be numeric, found {}", c.name.value, c.data_type), c.type_span)
            })?;
            let _ = t;
            inputs.push(c.name.value.clone());
        }
        let [output] = m.outputs.as_slice() else {
            return Err(Diagnostic::at(format!("a model has one OUTPUT column, found {}", m.outputs.len()), m.outputs_span));
        };
        let out_type = sql::sql_type_to_arrow(&output.data_type);
        let classification = match value("task").as_deref() {
            Some("classification") => true,
            Some("regression") => false,
            Some(other) => return Err(bad("task", format!("unknown task '{other}'"))),
            None => return Err(Diagnostic::at(format!("model '{name}' needs a 'task'"), m.options_span)
                .with_help("add 'task' = 'classification' or 'task' = 'regression' to its WITH options")),
        };
        // The OUTPUT's type says which kind of classification.
        let (task, classes) = match (classification, &out_type) {
            (true, Some(DataType::Boolean)) => {
                if options.contains_key("classes") {
                    return Err(bad("classes", "a BOOLEAN output has two classes already; 'classes' is for STRING or integer outputs".into()));
                }
                (Task::Binary, None)
            }
            (true, Some(t)) if is_string(t) || t.is_integer() => {
                let Some(given) = options.get("classes") else {
                    return Err(Diagnostic::at(format!("a multiclass model needs 'classes' (its OUTPUT '{}' is {})", output.name.value, output.data_type), m.options_span)
                        .with_help(if t.is_integer() { "add 'classes' = 'n': the labels are 0 to n - 1" } else { "add 'classes' = 'a, b, c': the labels, in order" }));
                };
                let names = if t.is_integer() {
                    match given.value.trim().parse::<usize>() {
                        Ok(n) if (2..=MAX_UNITS).contains(&n) => (0..n).map(|c| c.to_string()).collect(),
                        _ => return Err(bad("classes", format!("an integer OUTPUT needs 'classes' = the number of classes (2 to {MAX_UNITS}), found '{}'", given.value))),
                    }
                } else {
                    let names: Vec<String> = given.value.split(',').map(|c| c.trim().to_string()).collect();
                    let distinct: std::collections::HashSet<&String> = names.iter().collect();
                    if names.len() < 2 || names.len() > MAX_UNITS || names.iter().any(String::is_empty) || distinct.len() != names.len() {
                        return Err(bad("classes", format!("'classes' must list 2 to {MAX_UNITS} distinct, non-empty names separated by commas, found '{}'", given.value)));
                    }
                    names
                };
                (Task::Multiclass { classes: names.len() as u32 }, Some(names))
            }
            (true, _) => {
                return Err(Diagnostic::at(
                    format!("a classification model's OUTPUT is BOOLEAN (binary), STRING or an integer (multiclass), found {}", output.data_type),
                    output.type_span,
                )
                .with_help("for a number to predict use 'task' = 'regression'"));
            }
            (false, Some(t)) if is_numeric(t) => (Task::Regression, None),
            (false, _) => {
                return Err(Diagnostic::at(
                    format!("a regression model's OUTPUT is numeric, found {}", output.data_type),
                    output.type_span,
                ));
            }
        };
        if classes.is_none() && options.contains_key("classes") && task == Task::Regression {
            return Err(bad("classes", "'classes' is for multiclass classification, and this model is a regression".into()));
        }
        let algorithm = value("algorithm").unwrap_or_else(|| match task {
            Task::Binary => "logistic_regression".into(),
            Task::Multiclass { .. } => "softmax_regression".into(),
            Task::Regression => "linear_regression".into(),
        });
        let fits = match algorithm.as_str() {
            "logistic_regression" => matches!(task, Task::Binary),
            "softmax_regression" => matches!(task, Task::Multiclass { .. }),
            "linear_regression" => task == Task::Regression,
            "mlp" => true,
            other => return Err(bad("algorithm", format!("unknown algorithm '{other}'"))),
        };
        if !fits {
            let hint = match task {
                Task::Binary => "a BOOLEAN output is learned by 'logistic_regression' or 'mlp'",
                Task::Multiclass { .. } => "a multiclass output is learned by 'softmax_regression' or 'mlp'",
                Task::Regression => "a regression is learned by 'linear_regression' or 'mlp'",
            };
            return Err(bad("algorithm", format!("'{algorithm}' does not fit this model's task and OUTPUT type")).with_help(hint));
        }
        let mlp = algorithm == "mlp";
        for key in ["hidden_layers", "activation", "seed"] {
            if !mlp && options.contains_key(key) {
                return Err(bad(key, format!("'{key}' is an option of 'algorithm' = 'mlp', and this model is a {algorithm}")));
            }
        }
        if mlp && options.contains_key("intercept_lr") {
            return Err(bad("intercept_lr", "an mlp's biases move with its optimizer; 'intercept_lr' is for linear models".into()));
        }
        let hidden = match (mlp, options.get("hidden_layers")) {
            (false, _) => [0, 0],
            (true, None) => [32, 0],
            (true, Some(o)) => {
                let sizes: Vec<Option<u32>> = o.value.split(',').map(|h| h.trim().parse::<u32>().ok().filter(|&h| (1..=MAX_UNITS as u32).contains(&h))).collect();
                match sizes.as_slice() {
                    [Some(a)] => [*a, 0],
                    [Some(a), Some(b)] => [*a, *b],
                    _ => return Err(bad("hidden_layers", format!("'hidden_layers' must be one or two sizes from 1 to {MAX_UNITS}, such as '32' or '32, 16', found '{}'", o.value))),
                }
            }
        };
        let activation = match value("activation").as_deref() {
            None | Some("relu") => Activation::Relu,
            Some("tanh") => Activation::Tanh,
            Some("sigmoid") => Activation::Sigmoid,
            Some(other) => return Err(bad("activation", format!("unknown activation '{other}'"))),
        };
        let whole = |key: &str, default: u64, max: u64| -> Result<u64, Diagnostic> {
            match value(key) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(x) if (1..=max).contains(&x) => Ok(x),
                    _ => Err(bad(key, format!("'{key}' must be a whole number from 1 to {max}, found '{v}'"))),
                },
            }
        };
        let batch_size = whole("batch_size", if mlp { 8 } else { 1 }, 1 << 20)? as u32;
        let seed = whole("seed", 42, u64::MAX)?;
        let l2 = number("l2", 0.0)?;
        let intercept_lr = number("intercept_lr", 0.01)?;
        let spec = ModelSpec {
            task,
            n_features: inputs.len(),
            hidden,
            activation,
            optimizer,
            l2,
            intercept_lr,
            scale,
            batch_size,
            seed,
        };
        let snapshot = options.get("snapshot.path").map(|o| std::path::PathBuf::from(&o.value));
        let snapshot_interval = match options.get("snapshot.interval") {
            None => std::time::Duration::from_secs(60),
            Some(o) => match humantime::parse_duration(o.value.trim()) {
                Ok(d) if !d.is_zero() => d,
                _ => return Err(bad("snapshot.interval", format!("'snapshot.interval' must be a duration such as '30 s', found '{}'", o.value))),
            },
        };
        if snapshot.is_none() && options.contains_key("snapshot.interval") {
            return Err(bad("snapshot.interval", "'snapshot.interval' needs 'snapshot.path'".into()));
        }
        let drift = self.model_drift(&options, &bad, task)?;
        let event_time_scoring = match options.get("scoring").map(|o| o.value.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "latest" => false,
            Some(v) if v == "event-time" => true,
            Some(v) => return Err(bad("scoring", format!("'scoring' must be 'latest' or 'event-time', found '{v}'"))),
        };
        let plan = ModelPlan {
            drift,
            event_time_scoring,
            name,
            algorithm,
            spec,
            device,
            partition_by,
            inputs,
            output: output.name.value.clone(),
            output_type: out_type.unwrap_or(DataType::Float64),
            classes,
            snapshot,
            snapshot_interval,
            key_type: None,
        };
        self.models.push(Model { plan, used: false, trained_at: Vec::new(), scored_at: Vec::new() });
        Ok(())
    }

    /// Records the type of a model's key column, or says why this query's
    /// differs from an earlier one's: keys of different types hash to
    /// different workers, so one key would have two models.
    fn use_key_type(&mut self, model: &str, key_type: &DataType, at: Span) -> Result<(), Diagnostic> {
        let Some(m) = self.models.iter_mut().find(|m| m.plan.name == model) else { return Ok(()) };
        match &m.plan.key_type {
            Some(t) if t != key_type => Err(Diagnostic::at(
                format!(
                    "'{}' is {} here but {} in an earlier query of model '{model}'",
                    m.plan.partition_by.clone().unwrap_or_default(),
                    type_name(key_type),
                    type_name(t)
                ),
                at,
            )
            .with_help("CAST the key to one type in every query that trains or scores the model")),
            _ => {
                m.plan.key_type = Some(key_type.clone());
                Ok(())
            }
        }
    }

    /// `INSERT INTO model SELECT ...`: trains the model on the query's rows.
    pub(super) fn train(&mut self, insert: Insert) -> Result<(), Diagnostic> {
        let name = sql::object_name(&insert.table);
        let Some(model) = self.model(&name).map(|m| m.plan.clone()) else {
            return Err(Diagnostic::at(format!("unknown model '{name}'"), insert.table.span()));
        };
        let query = self.windowed(&insert.query)?;
        let plan = self.plan_query(&query)?;
        let optimized = self.state().optimize(&plan).map_err(from_datafusion)?;
        let input = self.lower(&optimized, insert.span)?;
        self.apply_default_watermarks()?;
        let schema = input.schema();
        let at = insert.query.span();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let find = |column: &str, role: &str| -> Result<usize, Diagnostic> {
            schema.index_of(column).map_err(|_| {
                Diagnostic::at(format!("the query that trains '{name}' has no column '{column}' ({role})"), at)
                    .with_help(format!("the query's columns: {}; name them with AS to match the model", columns.join(", ")))
            })
        };
        let mut features = Vec::new();
        for column in &model.inputs {
            let i = find(column, "an INPUT column of the model")?;
            let t = schema.field(i).data_type();
            if !is_numeric(t) {
                return Err(Diagnostic::at(format!("feature '{column}' is {}, not a number", type_name(t)), at));
            }
            features.push(i);
        }
        let label = find(&model.output, "the model's OUTPUT, the label to learn")?;
        let label_type = schema.field(label).data_type();
        let fits = match model.spec.task {
            Task::Binary => label_type == &DataType::Boolean,
            Task::Regression => is_numeric(label_type),
            Task::Multiclass { .. } if model.output_type.is_integer() => label_type.is_integer(),
            Task::Multiclass { .. } => is_string(label_type),
        };
        if !fits {
            let want = match model.spec.task {
                Task::Binary => "BOOLEAN (classification)",
                Task::Regression => "numeric (regression)",
                Task::Multiclass { .. } if model.output_type.is_integer() => "integer class index (multiclass)",
                Task::Multiclass { .. } => "STRING class name (multiclass)",
            };
            return Err(Diagnostic::at(
                format!("the label '{}' is {}, but '{name}' learns a {want} label", model.output, type_name(label_type)),
                at,
            ));
        }
        let key = match &model.partition_by {
            Some(k) => Some(find(k, "the model's 'partition_by' key")?),
            None => None,
        };
        if let Some(k) = key {
            self.use_key_type(&name, schema.field(k).data_type(), at)?;
        }
        // An event-time column straight from tables with a watermark: learn
        // in its order once the watermark passes each row.
        let time = (0..schema.fields().len())
            .find(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(..)) && self.is_event_time(&input, i));
        let train = plan::Train { model: name.clone(), key, features, label, time, schema: weir_operators::model::metrics_schema() };
        let input = Node::new(train, vec![input]);
        let spec = weir_connectors::sink_spec("blackhole", &BTreeMap::new()).map_err(|e| Diagnostic::new(e.to_string()))?;
        let schema = input.schema();
        if let Some(m) = self.models.iter_mut().find(|m| m.plan.name == name) {
            m.used = true;
            m.trained_at.push(insert.span);
        }
        self.sinks.push(SinkPlan { table: name, line: insert.span.start.line, spec, input, cast: None, schema });
        Ok(())
    }

    /// `ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(...))`: registers the
    /// placeholder for the scored rows.
    pub(super) fn register_predict(&mut self, call: WindowCall) -> Result<(), Diagnostic> {
        let usage = || format!("write {}", call.function.signature());
        let name = sql::object_name(&call.input);
        let input = self.rows_of(&name, call.input.span(), call.span).map_err(|d| d.with_help(usage()))?;
        let Some(model_ident) = call.model.clone() else {
            return Err(Diagnostic::at("ML_PREDICT needs a model", call.span).with_help(usage()));
        };
        let Some(model) = self.model(&model_ident.value).map(|m| m.plan.clone()) else {
            let known: Vec<&str> = self.models.iter().map(|m| m.plan.name.as_str()).collect();
            let d = Diagnostic::at(format!("unknown model '{}'", model_ident.value), model_ident.span);
            return Err(match weir_connectors::options::closest(&model_ident.value, &known) {
                Some(k) => d.with_help(format!("did you mean '{k}'?")),
                None => d.with_help("declare it first: CREATE MODEL m INPUT (...) OUTPUT (...) WITH (...)"),
            });
        };
        let schema = input.schema();
        if call.columns.len() != model.inputs.len() {
            return Err(Diagnostic::at(
                format!(
                    "model '{}' takes {} features ({}), but DESCRIPTOR names {}",
                    model.name,
                    model.inputs.len(),
                    model.inputs.join(", "),
                    call.columns.len()
                ),
                call.span,
            ));
        }
        let mut features = Vec::new();
        for c in &call.columns {
            let i = schema.index_of(&c.value).map_err(|_| {
                let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Diagnostic::at(format!("'{}' is not a column of '{name}'", c.value), c.span)
                    .with_help(format!("columns: {}", columns.join(", ")))
            })?;
            let t = schema.field(i).data_type();
            if !is_numeric(t) {
                return Err(Diagnostic::at(format!("feature '{}' is {}, not a number", c.value, type_name(t)), c.span));
            }
            features.push(i);
        }
        let key = match &model.partition_by {
            Some(k) => Some(schema.index_of(k).map_err(|_| {
                Diagnostic::at(format!("model '{}' is partitioned by '{k}', which is not a column of '{name}'", model.name), call.span)
                    .with_help("each row is scored by its key's model, so the scored rows need the key column")
            })?),
            None => None,
        };
        if let Some(k) = key {
            self.use_key_type(&model.name, schema.field(k).data_type(), call.span)?;
        }
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let appended: Vec<(&str, DataType)> = match model.spec.task {
            Task::Regression => vec![("prediction", DataType::Float64)],
            _ => vec![("prediction", model.output_type.clone()), ("probability", DataType::Float64)],
        };
        for (column, t) in &appended {
            if fields.iter().any(|f| f.name() == column) {
                return Err(Diagnostic::at(format!("'{name}' already has a column '{column}'"), call.span)
                    .with_help("rename it in a view before scoring"));
            }
            fields.push(Field::new(*column, t.clone(), true));
        }
        let scored = Arc::new(Schema::new(fields));
        self.ctx
            .register_table(call.placeholder.as_str(), Arc::new(EmptyTable::new(Arc::clone(&scored))))
            .map_err(from_datafusion)?;
        if let Some(m) = self.models.iter_mut().find(|m| m.plan.name == model.name) {
            m.used = true;
            m.scored_at.push(call.span);
        }
        let time = (0..schema.fields().len())
            .find(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(..)) && self.is_event_time(&input, i));
        self.windows.insert(
            call.placeholder,
            Node::new(plan::Predict { model: model.name, key, features, time, learns: None, schema: scored }, vec![input]),
        );
        Ok(())
    }
}

impl Planner {
    /// `'drift.detector'` with its `'drift.*'` parameters, and `'on_drift'`.
    fn model_drift(
        &self,
        options: &BTreeMap<String, &SqlOption>,
        bad: &dyn Fn(&str, String) -> Diagnostic,
        task: Task,
    ) -> Result<Option<ModelDriftSpec>, Diagnostic> {
        let Some(detector) = options.get("drift.detector").map(|o| o.value.to_ascii_lowercase()) else {
            if let Some(key) = options.keys().find(|k| k.starts_with("drift.") || *k == "on_drift") {
                return Err(bad(key, format!("'{key}' needs 'drift.detector'")));
            }
            return Ok(None);
        };
        let key = |name: &str| format!("drift.{name}");
        let number = |name: &str, default: f64| -> Result<f64, Diagnostic> {
            match options.get(&key(name)) {
                None => Ok(default),
                Some(o) => match o.value.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(bad(&key(name), format!("'{}' must be a non-negative number, found '{}'", key(name), o.value))),
                },
            }
        };
        let count = |name: &str, default: u64| -> Result<u64, Diagnostic> {
            match options.get(&key(name)) {
                None => Ok(default),
                Some(o) => o.value.trim().parse::<u64>().map_err(|_| bad(&key(name), format!("'{}' must be a whole number, found '{}'", key(name), o.value))),
            }
        };
        let text = |name: &str| options.get(&key(name)).map(|o| o.value.to_ascii_lowercase());
        let bad_param = |name: &str, why: String| bad(&key(name), why);
        let Some(spec) = super::monitors::point_detector(&detector, &number, &count, &text, &bad_param)? else {
            return Err(bad("drift.detector", format!("unknown drift detector '{detector}'")));
        };
        if detector == "ddm" && !task.is_classification() {
            return Err(bad("drift.detector", "'ddm' watches a 0/1 error stream: it is for classifiers; use 'adwin', 'page_hinkley' or 'kswin' on a regressor's absolute errors".into()));
        }
        // Only the chosen detector's parameters.
        for (k, _) in options.iter().filter(|(k, _)| k.starts_with("drift.") && *k != "drift.detector") {
            let help = MODEL_OPTIONS.iter().find(|(o, _)| o == k).map_or("", |(_, h)| h);
            if !help.contains(&format!("{detector}:")) {
                return Err(bad(k, format!("'{k}' is not a parameter of '{detector}'")));
            }
        }
        let on_drift = match options.get("on_drift").map(|o| o.value.to_ascii_lowercase()).as_deref() {
            None | Some("none") => OnDrift::None,
            Some("reset") => OnDrift::Reset,
            Some("background") => OnDrift::Background,
            Some(other) => return Err(bad("on_drift", format!("unknown 'on_drift' '{other}'"))),
        };
        Ok(Some(ModelDriftSpec { detector: spec, on_drift }))
    }

    /// `ML_METRICS(MODEL m)` and `ML_ALERTS(MODEL m)`: registers the
    /// placeholder for the model's metrics or alert rows; the model must be
    /// trained somewhere in the pipeline (checked once every statement is
    /// planned), and for alerts have a `'drift.detector'`.
    pub(super) fn register_metrics(&mut self, call: WindowCall) -> Result<(), Diagnostic> {
        let alerts = call.function == crate::sql::WindowFunction::MlAlerts;
        let function = if alerts { "ML_ALERTS" } else { "ML_METRICS" };
        let Some(model) = call.model.clone() else {
            return Err(Diagnostic::at(format!("{function} needs a model"), call.span).with_help(format!("write {function}(MODEL m)")));
        };
        if self.model(&model.value).is_none() {
            let known: Vec<&str> = self.models.iter().map(|m| m.plan.name.as_str()).collect();
            let d = Diagnostic::at(format!("unknown model '{}'", model.value), model.span);
            return Err(match weir_connectors::options::closest(&model.value, &known) {
                Some(k) => d.with_help(format!("did you mean '{k}'?")),
                None => d.with_help("declare it first: CREATE MODEL m INPUT (...) OUTPUT (...) WITH (...)"),
            });
        }
        if alerts && self.model(&model.value).is_some_and(|m| m.plan.drift.is_none()) {
            return Err(Diagnostic::at(format!("model '{}' has no drift detector for ML_ALERTS to read", model.value), model.span)
                .with_help("add 'drift.detector' = 'adwin' (or 'page_hinkley', 'ddm') to the model's WITH options"));
        }
        let schema = if alerts { weir_operators::drift::alerts_schema() } else { weir_operators::model::metrics_schema() };
        self.ctx
            .register_table(call.placeholder.as_str(), Arc::new(EmptyTable::new(Arc::clone(&schema))))
            .map_err(from_datafusion)?;
        self.metrics_reads.push((model.value.clone(), model.span, function));
        self.windows.insert(call.placeholder, Node::new(plan::Metrics { model: model.value, alerts, schema }, Vec::new()));
        Ok(())
    }

    /// Every `ML_METRICS(MODEL m)` needs an `INSERT INTO m` in the pipeline.
    pub(super) fn check_metrics_reads(&self) -> Result<(), Diagnostic> {
        for (model, span, function) in &self.metrics_reads {
            let trained = self.sinks.iter().any(|s| s.trains() == Some(model.as_str()));
            if !trained {
                return Err(Diagnostic::at(format!("{function} reads the training of '{model}', but nothing trains it"), *span)
                    .with_help(format!("add INSERT INTO {model} SELECT ... to the pipeline")));
            }
        }
        Ok(())
    }
}

/// The `WITH` options by lower-case name, or a positioned error for an
/// unknown one (with "did you mean") or one given twice.
pub(super) fn option_map<'a>(options: &'a [SqlOption], known: &[&str], what: &str) -> Result<BTreeMap<String, &'a SqlOption>, Diagnostic> {
    let mut map = BTreeMap::new();
    for option in options {
        let key = option.key.to_ascii_lowercase();
        if !known.contains(&key.as_str()) {
            let d = Diagnostic::at(format!("unknown {what} option '{}'", option.key), option.span);
            return Err(match weir_connectors::options::closest(&key, known) {
                Some(k) => d.with_help(format!("did you mean '{k}'?")),
                None => d.with_help(format!("{what} options: {}", known.join(", "))),
            });
        }
        if map.insert(key, option).is_some() {
            return Err(Diagnostic::at(format!("option '{}' is given twice", option.key), option.span));
        }
    }
    Ok(map)
}

impl Planner {
    /// Every row of table or view `name` (named at `at`, used by the
    /// statement at `statement`), for an operator that reads it whole.
    pub(super) fn rows_of(&self, name: &str, at: Span, statement: Span) -> Result<Node, Diagnostic> {
        if let Some(table) = self.table(name) {
            let Some(source) = &table.source else {
                return Err(Diagnostic::at(format!("'{name}' can only be written to"), at));
            };
            return Ok(plan::Scan::node(name, Arc::clone(&source.schema), SourceRows::All));
        }
        match self.view_plans.get(name) {
            Some(plan) => self.lower(plan, statement),
            None => Err(Diagnostic::at(format!("unknown table or view '{name}'"), at)),
        }
    }
}

/// The key column of a model's operator as a partitioning expression.
pub(crate) fn key_exprs(schema: &Schema, key: Option<usize>) -> Vec<Arc<dyn PhysicalExpr>> {
    key.map(|k| Arc::new(Column::new(schema.field(k).name(), k)) as Arc<dyn PhysicalExpr>).into_iter().collect()
}
