//! `INSERT INTO`: a query planned, lowered and cast to its sink's columns.

use std::sync::Arc;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::Schema;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::Spanned;
use weir_connectors::SinkSpec;

use crate::diagnostic::Diagnostic;
use crate::plan::{type_name, SinkPlan};
use crate::sql::{self, Insert};

use super::{from_datafusion, Planner};

impl Planner {
    pub(super) fn insert(&mut self, insert: Insert) -> Result<(), Diagnostic> {
        let name = sql::object_name(&insert.table);
        let Some(table) = self.table(&name) else {
            let known: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
            let mut d = Diagnostic::at(format!("unknown table '{name}'"), insert.table.span());
            if self.views.contains(&name) {
                d = Diagnostic::at(format!("'{name}' is a view; INSERT INTO needs a table with a sink connector"), insert.table.span());
            } else if let Some(k) = weir_connectors::options::closest(&name, &known) {
                d = d.with_help(format!("did you mean '{k}'?"));
            } else if !known.is_empty() {
                d = d.with_help(format!("tables: {}", known.join(", ")));
            }
            return Err(d);
        };
        let mut config = table.options.clone();
        config.remove("connector");
        let spec: Arc<dyn SinkSpec> =
            weir_connectors::sink_spec(&table.connector, &config).map_err(|e| table.connector_error(e))?;
        let declared = table.declared.clone();
        let line = insert.span.start.line;

        let query = self.windowed(&insert.query)?;
        let plan = self.plan_query(&query)?;
        let optimized = self.state().optimize(&plan).map_err(from_datafusion)?;
        let input = self.lower(&optimized, insert.span)?;
        self.apply_default_watermarks()?;
        let produced = input.schema();
        let (cast, schema) = match declared {
            None => (None, produced),
            Some(declared) => {
                if declared.fields().len() != produced.fields().len() {
                    return Err(Diagnostic::at(
                        format!(
                            "'{name}' has {} columns but the query produces {}",
                            declared.fields().len(),
                            produced.fields().len()
                        ),
                        insert.query.span(),
                    )
                    .with_help(format!("'{name}' expects: {}", describe_columns(&declared))));
                }
                let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
                for (i, (want, got)) in declared.fields().iter().zip(produced.fields()).enumerate() {
                    let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(got.name(), i));
                    if want.data_type() == got.data_type() {
                        exprs.push(column);
                    } else if can_cast_types(got.data_type(), want.data_type()) {
                        exprs.push(Arc::new(CastExpr::new(column, want.data_type().clone(), None)));
                    } else {
                        return Err(Diagnostic::at(
                            format!(
                                "column {} of the query ('{}', {}) cannot be written to '{}.{}', which is {}",
                                i + 1,
                                got.name(),
                                type_name(got.data_type()),
                                name,
                                want.name(),
                                type_name(want.data_type())
                            ),
                            insert.query.span(),
                        )
                        .with_help("CAST the value in the SELECT list"));
                    }
                }
                (Some((exprs, Arc::clone(&declared))), declared)
            }
        };
        // Every INSERT into one table feeds its one writer, so they must
        // write the same columns (a declared table casts each to its own).
        if let Some(first) = self.sinks.iter().find(|s| s.table == name)
            && !same_columns(&first.schema, &schema)
        {
            return Err(Diagnostic::at(
                format!(
                    "'{name}' is already written by the INSERT at line {} with columns ({}); this INSERT writes ({})",
                    first.line,
                    describe_columns(&first.schema),
                    describe_columns(&schema)
                ),
                insert.query.span(),
            )
            .with_help(format!("every INSERT into one table writes the same columns: declare '{name}' with a column list, or write to another table")));
        }
        self.sinks.push(SinkPlan { table: name, line, spec, input, cast, schema });
        Ok(())
    }
}

/// Whether two schemas have the same column names and types.
pub(super) fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields()).all(|(x, y)| x.name() == y.name() && x.data_type().equals_datatype(y.data_type()))
}

pub(super) fn describe_columns(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}
