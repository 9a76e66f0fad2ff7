//! SQL column types to Arrow types.
//!
//! The types of Flink SQL that sensor and traffic data need. `TIMESTAMP` is
//! milliseconds in UTC whatever its declared precision (event times are
//! milliseconds in practice, and one unit everywhere avoids casts between
//! sources); it reads RFC 3339 strings.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::DataType as SqlType;

/// The Arrow type of Weir's `TIMESTAMP`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The supported types, for error messages.
pub const SUPPORTED: &str =
    "VARCHAR, STRING, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), DATE, TIMESTAMP, TIMESTAMP_LTZ";

/// Maps a declared SQL type to Arrow, or `None` if Weir does not support it.
///
/// ```
/// use datafusion::sql::sqlparser::ast::DataType;
/// use datafusion::arrow::datatypes::DataType as Arrow;
/// assert_eq!(weir_engine::sql::sql_type_to_arrow(&DataType::BigInt(None)), Some(Arrow::Int64));
/// ```
pub fn sql_type_to_arrow(data_type: &SqlType) -> Option<DataType> {
    let text = data_type.to_string().to_ascii_uppercase();
    let base = text.split(['(', ' ']).next().unwrap_or("");
    Some(match base {
        "VARCHAR" | "STRING" | "TEXT" | "CHAR" | "CHARACTER" => DataType::Utf8,
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "TINYINT" => DataType::Int8,
        "SMALLINT" => DataType::Int16,
        "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" => DataType::Int64,
        "FLOAT" | "REAL" => DataType::Float32,
        "DOUBLE" => DataType::Float64,
        "DATE" => DataType::Date32,
        "TIMESTAMP" | "TIMESTAMP_LTZ" | "TIMESTAMPTZ" => timestamp_type(),
        "DECIMAL" | "NUMERIC" => {
            let (p, s) = match data_type {
                SqlType::Decimal(info) | SqlType::Numeric(info) => match info {
                    datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p as u8, *s as i8),
                    datafusion::sql::sqlparser::ast::ExactNumberInfo::Precision(p) => (*p as u8, 0),
                    datafusion::sql::sqlparser::ast::ExactNumberInfo::None => (38, 10),
                },
                _ => (38, 10),
            };
            if p == 0 || p > 38 || s as i16 > p as i16 {
                return None;
            }
            DataType::Decimal128(p, s)
        }
        _ => return None,
    })
}
