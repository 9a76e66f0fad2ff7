//! Flink SQL functions DataFusion does not have.
//!
//! `TO_TIMESTAMP_LTZ(epoch, precision)` is how Flink users turn integer epoch
//! times into event-time timestamps in computed columns
//! (`ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)`), so Weir provides it with Flink's
//! meaning: precision 0 reads seconds, 3 milliseconds (the default), 6
//! microseconds, 9 nanoseconds; the result is Weir's `TIMESTAMP`.
//!
//! `MOD(a, b)` is Flink's (and standard SQL's) remainder, `a % b` in
//! DataFusion: the sign of `a`, an error (a row error) for `b = 0`.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use crate::sql::types_timestamp;

/// `TO_TIMESTAMP_LTZ(numeric[, precision])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestampLtz {
    signature: Signature,
}

impl Default for ToTimestampLtz {
    fn default() -> Self {
        Self {
            signature: Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToTimestampLtz {
    fn name(&self) -> &str {
        "to_timestamp_ltz"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types[0].is_numeric() && arg_types[0] != DataType::Null {
            return plan_err!("TO_TIMESTAMP_LTZ expects a numeric epoch time, got {}", arg_types[0]);
        }
        if arg_types.len() == 2 && !arg_types[1].is_integer() {
            return plan_err!("TO_TIMESTAMP_LTZ's precision must be 0, 3, 6 or 9, got a {}", arg_types[1]);
        }
        Ok(types_timestamp())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let precision = match args.args.get(1) {
            None => 3,
            Some(ColumnarValue::Scalar(s)) => match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(p)) => p,
                _ => return exec_err!("TO_TIMESTAMP_LTZ's precision must be a constant 0, 3, 6 or 9"),
            },
            Some(ColumnarValue::Array(_)) => {
                return exec_err!("TO_TIMESTAMP_LTZ's precision must be a constant 0, 3, 6 or 9");
            }
        };
        let values = args.args[0].to_array(args.number_rows)?;
        let values = cast(&values, &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        let millis: TimestampMillisecondArray = match precision {
            0 => values.unary_opt(|v| v.checked_mul(1000)),
            3 => values.unary(|v| v),
            6 => values.unary(|v| v.div_euclid(1_000)),
            9 => values.unary(|v| v.div_euclid(1_000_000)),
            p => return exec_err!("TO_TIMESTAMP_LTZ's precision must be 0, 3, 6 or 9, got {p}"),
        };
        let result = millis.with_timezone("UTC");
        debug_assert_eq!(result.len(), args.number_rows);
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `MOD(a, b)`: the remainder of integers, as Flink's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Mod {
    signature: Signature,
}

impl Default for Mod {
    fn default() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Mod {
    fn name(&self) -> &str {
        "mod"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types.iter().all(|t| t.is_integer() || t == &DataType::Null) {
            return plan_err!("MOD takes two integers, got {} and {}", arg_types[0], arg_types[1]);
        }
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let a = cast(&args.args[0].to_array(n)?, &DataType::Int64)?;
        let b = cast(&args.args[1].to_array(n)?, &DataType::Int64)?;
        Ok(ColumnarValue::Array(datafusion::arrow::compute::kernels::numeric::rem(&a, &b)?))
    }
}

/// Every function Weir adds to DataFusion's.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![ScalarUDF::new_from_impl(ToTimestampLtz::default()), ScalarUDF::new_from_impl(Mod::default())]
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    fn values(sql: &str) -> datafusion::error::Result<Vec<Option<i64>>> {
        let ctx = crate::session();
        let batches = futures::executor::block_on(async { ctx.sql(sql).await?.collect().await })?;
        Ok(batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().collect::<Vec<_>>()).collect())
    }

    #[test]
    fn mod_is_flinks_remainder() {
        let got = values("SELECT MOD(a, b) FROM (VALUES (7, 3), (-7, 3), (7, -3), (NULL, 3), (123, 123)) AS t(a, b)").expect("runs");
        assert_eq!(got, vec![Some(1), Some(-1), Some(1), None, Some(0)]);
        assert!(values("SELECT MOD(1, 0)").is_err(), "division by zero is an error");
        assert!(values("SELECT MOD(1.5, 2)").is_err(), "integers only");
    }
}
