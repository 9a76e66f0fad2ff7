//! Flink SQL functions DataFusion does not have.
//!
//! `TO_TIMESTAMP_LTZ(epoch, precision)` is how Flink users turn integer epoch
//! times into event-time timestamps in computed columns
//! (`ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)`), so Weir provides it with Flink's
//! meaning: precision 0 reads seconds, 3 milliseconds (the default), 6
//! microseconds, 9 nanoseconds; the result is Weir's `TIMESTAMP`.

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

/// Every function Weir adds to DataFusion's.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![ScalarUDF::new_from_impl(ToTimestampLtz::default())]
}
