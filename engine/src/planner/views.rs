//! `CREATE VIEW` and planning a query with DataFusion.

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, Spanned, Statement};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::diagnostic::Diagnostic;
use crate::sql;

use super::{from_datafusion, Planner};

impl Planner {
    pub(super) fn plan_query(&self, query: &Query) -> Result<LogicalPlan, Diagnostic> {
        let statement = DfStatement::Statement(Box::new(Statement::Query(Box::new(query.clone()))));
        let state = self.state();
        let plan = futures::executor::block_on(state.statement_to_plan(statement)).map_err(from_datafusion)?;
        self.bound_by_ttl(self.with_as_of(plan)?)
    }

    pub(super) fn create_view(
        &mut self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
        query: &Query,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let view = sql::object_name(name);
        self.check_new_name(&view, name.span())?;
        let query = self.windowed(query)?;
        let plan = self.plan_query(&query)?;
        // Lowering now reports streaming restrictions at the view, not at
        // every INSERT that uses it.
        let optimized = self.state().optimize(&plan).map_err(from_datafusion)?;
        self.lower(&optimized, span)?;
        self.apply_default_watermarks()?;
        self.ctx
            .register_table(view.as_str(), Arc::new(ViewTable::new(plan, Some(query.to_string()))))
            .map_err(from_datafusion)?;
        self.view_plans.insert(view.clone(), optimized);
        self.views.push(view);
        Ok(())
    }
}
