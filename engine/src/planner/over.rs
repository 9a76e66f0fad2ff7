//! Planning `OVER` windows on a stream: `LAG` and running aggregates per
//! key in event-time order.
//!
//! What a stream can answer without waiting on the future is allowed:
//! `PARTITION BY` any keys, `ORDER BY` the event-time column ascending,
//! frames that end at the current row (`ROWS n PRECEDING`, `RANGE INTERVAL
//! ... PRECEDING`, unbounded preceding), `LAG`. `LEAD` and `FOLLOWING`
//! frames are rejected: they would have to wait for rows that have not
//! arrived.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, Window, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::sql::sqlparser::tokenizer::Span;
use weir_operators::{OverFrame, OverFunction};

use super::windows::on_time;
use super::{display_expr, from_datafusion, Planner};
use crate::diagnostic::Diagnostic;
use crate::plan::{self, Node};

impl Planner {
    /// Lowers a `Window` plan (the `OVER` functions of one SELECT).
    pub(super) fn over(&self, window: &Window, statement: Span) -> Result<Node, Diagnostic> {
        let state = self.state();
        let input = on_time(self.lower(&window.input, statement)?);
        let in_df = window.input.schema();
        let physical_input = in_df.as_arrow();
        let planning = PhysicalPlanningContext::default();
        let mut spec: Option<(&[Expr], &[datafusion::logical_expr::SortExpr])> = None;
        let mut functions = Vec::with_capacity(window.window_expr.len());
        let mut texts = Vec::with_capacity(window.window_expr.len());
        for e in &window.window_expr {
            let text = display_expr(e);
            let short = match unalias(e) {
                Expr::WindowFunction(wf) => {
                    let args: Vec<String> = wf.params.args.iter().map(display_expr).collect();
                    format!("{}({})", wf.fun.name(), args.join(", "))
                }
                _ => text.clone(),
            };
            let Expr::WindowFunction(wf) = unalias(e) else {
                return Err(Diagnostic::at(format!("unsupported window expression {text}"), statement));
            };
            let WindowFunction { fun, params } = wf.as_ref();
            match spec {
                None => spec = Some((&params.partition_by, &params.order_by)),
                Some((p, o)) if p == params.partition_by.as_slice() && o == params.order_by.as_slice() => {}
                Some(_) => {
                    return Err(Diagnostic::at("every OVER of one SELECT must use the same PARTITION BY and ORDER BY", statement)
                        .with_help("compute the others in a view and select from it"));
                }
            }
            if params.distinct || params.filter.is_some() {
                return Err(Diagnostic::at(format!("{text}: DISTINCT and FILTER are not supported in OVER windows"), statement));
            }
            let function = match fun {
                WindowFunctionDefinition::WindowUDF(udwf) => match udwf.name().to_ascii_lowercase().as_str() {
                    "lag" => self.lag(&params.args, in_df, &text, statement)?,
                    "lead" => {
                        return Err(Diagnostic::at(
                            "LEAD looks at rows that have not arrived yet; a stream cannot wait for them",
                            statement,
                        )
                        .with_help("use LAG, which looks back: the previous row's value, n rows back"));
                    }
                    other => {
                        return Err(Diagnostic::at(format!("the window function {other} is not supported on streams"), statement)
                            .with_help("use LAG or an aggregate (count, sum, avg, min, max, ...) OVER (... PRECEDING)"));
                    }
                },
                WindowFunctionDefinition::AggregateUDF(udaf) => {
                    let frame = frame(&params.window_frame, &text, statement)?;
                    let aggregate =
                        Expr::AggregateFunction(AggregateFunction::new_udf(Arc::clone(udaf), params.args.clone(), false, None, vec![], None));
                    let lowered = LoweredAggregateBuilder::new(&aggregate, in_df, physical_input, state.execution_props(), &planning)
                        .build()
                        .map_err(from_datafusion)?;
                    let bounded = matches!(frame, OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_)));
                    if bounded && lowered.aggregate.create_sliding_accumulator().is_err() {
                        return Err(Diagnostic::at(format!("{} cannot slide over a bounded frame", udaf.name()), statement)
                            .with_help("use ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, or an aggregate that can (count, sum, avg, min, max)"));
                    }
                    OverFunction::Aggregate { expr: lowered.aggregate, frame }
                }
            };
            texts.push(match &function {
                OverFunction::Aggregate { frame, .. } => format!("{short} {frame}"),
                OverFunction::Lag { .. } => short,
            });
            functions.push(function);
        }
        let Some((partition, order)) = spec else {
            return Err(Diagnostic::at("an empty window", statement));
        };
        let found = order.iter().map(|s| format!("{} {}", display_expr(&s.expr), if s.asc { "ASC" } else { "DESC" })).collect::<Vec<_>>();
        let found = if found.is_empty() { "no ORDER BY".to_string() } else { format!("ORDER BY {}", found.join(", ")) };
        let time = match order {
            [sort] if sort.asc => match &sort.expr {
                Expr::Column(c) => in_df.index_of_column(c).map_err(from_datafusion)?,
                _ => return Err(order_error(statement, &found)),
            },
            _ => return Err(order_error(statement, &found)),
        };
        if !matches!(in_df.field(time).data_type(), datafusion::arrow::datatypes::DataType::Timestamp(..)) {
            return Err(order_error(statement, &format!("{found}, which is not a TIMESTAMP")));
        }
        let Some(origins) = self.time_origins(&input, time) else {
            return Err(order_error(statement, &format!("{found}, which is computed, not a table's event-time column")));
        };
        for (table, column) in origins {
            self.require_watermark(&table, &column, statement)?;
        }
        let mut keys = Vec::with_capacity(partition.len());
        let mut key_texts = Vec::with_capacity(partition.len());
        for p in partition {
            keys.push(state.create_physical_expr(p.clone(), in_df).map_err(from_datafusion)?);
            key_texts.push(display_expr(p));
        }
        let over = plan::Over { keys, key_texts, time, functions, texts, schema: Arc::new(window.schema.as_arrow().clone()) };
        Ok(Node::new(over, vec![input]))
    }

    fn lag(&self, args: &[Expr], schema: &datafusion::common::DFSchema, text: &str, at: Span) -> Result<OverFunction, Diagnostic> {
        let state = self.state();
        let Some(arg) = args.first() else {
            return Err(Diagnostic::at(format!("{text}: LAG needs a column"), at));
        };
        let data_type = arg.get_type(schema).map_err(from_datafusion)?;
        let offset = match args.get(1) {
            None => 1,
            Some(Expr::Literal(v, _)) => match v.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if n >= 1 => n as usize,
                _ => return Err(Diagnostic::at(format!("{text}: LAG's offset must be a whole number, at least 1"), at)),
            },
            Some(_) => return Err(Diagnostic::at(format!("{text}: LAG's offset must be a constant"), at)),
        };
        let null = ScalarValue::try_from(&data_type).map_err(from_datafusion)?;
        let default = match args.get(2) {
            None => None,
            Some(d) => {
                let d = d.clone().cast_to(&data_type, schema).map_err(from_datafusion)?;
                Some(state.create_physical_expr(d, schema).map_err(from_datafusion)?)
            }
        };
        let arg = state.create_physical_expr(arg.clone(), schema).map_err(from_datafusion)?;
        Ok(OverFunction::Lag { arg, offset, default, null })
    }
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

fn order_error(at: Span, found: &str) -> Diagnostic {
    Diagnostic::at(format!("OVER on a stream must ORDER BY the event-time column, ascending; found {found}"), at)
        .with_help("for example OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)")
}

/// A frame that ends at the current row.
fn frame(frame: &datafusion::logical_expr::WindowFrame, text: &str, at: Span) -> Result<OverFrame, Diagnostic> {
    if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) && !is_zero_following(&frame.end_bound) {
        return Err(Diagnostic::at(format!("{text}: a frame that ends after the current row would wait on the future"), at)
            .with_help("end the frame at CURRENT ROW"));
    }
    let unbounded = |v: &ScalarValue| v.is_null();
    match (&frame.units, &frame.start_bound) {
        (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow) => Ok(OverFrame::Rows(Some(0))),
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) if unbounded(v) => Ok(OverFrame::Rows(None)),
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) => match v.cast_to(&datafusion::arrow::datatypes::DataType::UInt64) {
            Ok(ScalarValue::UInt64(Some(n))) => Ok(OverFrame::Rows(Some(n))),
            _ => Err(Diagnostic::at(format!("{text}: ROWS takes a whole number of rows"), at)),
        },
        (WindowFrameUnits::Range, WindowFrameBound::CurrentRow) => Ok(OverFrame::Range(Some(0))),
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) if unbounded(v) => Ok(OverFrame::Range(None)),
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) => match v {
            ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => {
                Ok(OverFrame::Range(Some(i64::from(i.days) * 86_400_000 + i.nanoseconds / 1_000_000)))
            }
            ScalarValue::IntervalDayTime(Some(i)) => Ok(OverFrame::Range(Some(i64::from(i.days) * 86_400_000 + i64::from(i.milliseconds)))),
            _ => Err(Diagnostic::at(format!("{text}: RANGE on event time takes a fixed INTERVAL, such as INTERVAL '1' MINUTE PRECEDING"), at)),
        },
        (WindowFrameUnits::Groups, _) => Err(Diagnostic::at(format!("{text}: GROUPS frames are not supported on streams"), at)),
        _ => Err(Diagnostic::at(format!("{text}: the frame must start before or at the current row"), at)),
    }
}

fn is_zero_following(bound: &WindowFrameBound) -> bool {
    match bound {
        WindowFrameBound::Following(v) => {
            matches!(v.cast_to(&datafusion::arrow::datatypes::DataType::UInt64), Ok(ScalarValue::UInt64(Some(0))))
        }
        _ => false,
    }
}

