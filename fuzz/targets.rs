//! The fuzz targets' bodies, shared by the libFuzzer binaries
//! (`fuzz_targets/*.rs`) and the regression test that replays `corpus/`
//! (`tests/it/fuzz.rs`). Each takes arbitrary bytes and must neither panic
//! nor hang; where the input's shape allows, it also checks a property
//! (every record is either a row or a counted failure, never both, never
//! neither).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// libfuzzer-sys's panic hook aborts before any `catch_unwind` runs, but
/// Weir's decoders catch panics inside arrow on purpose (`guarded` in
/// connectors/src/decode.rs). The targets put the default hook back once: a
/// panic that escapes Weir still aborts, in libfuzzer-sys's own catch_unwind.
fn unwinding() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}

/// The SQL front end: parse and plan any text (nothing runs).
pub(crate) fn sql(data: &[u8]) {
    unwinding();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = weir_engine::plan_pipeline(text);
    }
}

/// Target schemas the decoders are fuzzed against, picked by the input's
/// first byte: NOT NULL columns, decimals, timestamps, strings.
fn schema(pick: u8) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(match pick % 3 {
        0 => vec![
            Field::new("sensor_id", DataType::Int64, false),
            Field::new("ts", ts, false),
            Field::new("speed", DataType::Float64, true),
            Field::new("road", DataType::Utf8, true),
        ],
        1 => vec![
            Field::new("d", DataType::Decimal128(10, 2), true),
            Field::new("n", DataType::Int32, false),
            Field::new("ok", DataType::Boolean, true),
        ],
        _ => vec![
            Field::new("big", DataType::Decimal128(38, 4), true),
            Field::new("t", ts, true),
            Field::new("s", DataType::Utf8, false),
        ],
    }))
}

fn check_rows(batches: &[RecordBatch], schema: &SchemaRef) -> usize {
    for b in batches {
        assert_eq!(&b.schema(), schema, "every batch has the target schema");
    }
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The JSON decoder, by lines (files) and by records (Kafka messages): each
/// record becomes one row or one failure.
pub(crate) fn json(data: &[u8]) {
    unwinding();
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let schema = schema(pick);
    let Ok(mut decoder) = weir_connectors::decode::RecordDecoder::json(Arc::clone(&schema)) else {
        return;
    };
    // By lines: complete lines only, as the file source hands them over.
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let lines = &bytes[..end];
    let (mut out, mut failed) = (Vec::new(), 0usize);
    if decoder
        .decode(lines, &mut out, &mut |_, _| {
            failed += 1;
            Ok(())
        })
        .is_ok()
    {
        let records = lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        assert_eq!(
            check_rows(&out, &schema) + failed,
            records,
            "every line is a row or a failure"
        );
    }
    // By records, as a Kafka source hands over messages.
    by_records(&mut decoder, bytes, &schema);
}

/// Decodes `bytes` as records separated by 0x1e (one Kafka message each)
/// and checks that each became one row or one failure.
fn by_records(decoder: &mut weir_connectors::decode::RecordDecoder, bytes: &[u8], schema: &SchemaRef) {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(bytes.iter().enumerate().filter(|(_, b)| **b == 0x1e).map(|(i, _)| i + 1))
        .collect();
    let (mut out, mut failed) = (Vec::new(), 0usize);
    let counted = decoder.decode_records(bytes, &starts, &mut out, &mut |_, _| {
        failed += 1;
        Ok(())
    });
    if counted.is_ok() {
        assert_eq!(check_rows(&out, schema) + failed, starts.len(), "every record is a row or a failure");
    }
}

/// The CSV decoder, with a header from the input's first line.
pub(crate) fn csv(data: &[u8]) {
    unwinding();
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let schema = schema(pick);
    let Some(header_end) = bytes.iter().position(|b| *b == b'\n') else {
        return;
    };
    let header: Vec<String> = String::from_utf8_lossy(&bytes[..header_end])
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let Ok(mut decoder) = weir_connectors::decode::RecordDecoder::csv(Arc::clone(&schema), &header)
    else {
        return;
    };
    let body = &bytes[header_end + 1..];
    let end = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::new();
    if decoder
        .decode(&body[..end], &mut out, &mut |_, _| Ok(()))
        .is_ok()
    {
        check_rows(&out, &schema);
    }
    by_records(&mut decoder, body, &schema);
}

/// The writer schema of the Avro target.
const AVRO_SCHEMA: &str = r#"{"type": "record", "name": "reading", "fields": [
  {"name": "sensor_id", "type": "long"},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "speed", "type": ["null", "double"]},
  {"name": "road", "type": ["null", "string"]},
  {"name": "lanes", "type": "int"}
]}"#;

/// The Avro decoder: one record per message body (bodies split at 0xFE).
pub(crate) fn avro(data: &[u8]) {
    unwinding();
    let target: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("speed", DataType::Float64, true),
        Field::new("road", DataType::Utf8, true),
        Field::new("lanes", DataType::Int64, true),
    ]));
    let target = &target;
    let Ok(mut decoder) =
        weir_connectors::avro::AvroDecoder::new(AVRO_SCHEMA, Arc::clone(target), 64)
    else {
        return;
    };
    let bodies: Vec<&[u8]> = data.split(|b| *b == 0xfe).collect();
    if let Ok((batch, bad)) = decoder.decode(&bodies) {
        assert_eq!(&batch.schema(), target);
        assert_eq!(
            batch.num_rows() + bad.len(),
            bodies.len(),
            "every body is a row or a failure"
        );
    }
}

/// Kafka's metadata columns: arbitrary messages (partition, offset,
/// timestamp, key bytes) into every metadata kind and a declared type.
pub(crate) fn kafka_metadata(data: &[u8]) {
    unwinding();
    use weir_connectors::KafkaMetadata;
    use weir_connectors::kafka_source::{MessageMeta, metadata_column};
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let types = [
        DataType::Utf8,
        DataType::Binary,
        DataType::Int32,
        DataType::Int64,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        DataType::Timestamp(TimeUnit::Second, None),
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        DataType::Float64,
        DataType::Boolean,
        DataType::Decimal128(10, 2),
    ];
    let field = Field::new("m", types[pick as usize % types.len()].clone(), true);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut metas: Vec<(i32, i64, Option<i64>)> = Vec::new();
    while rest.len() >= 21 {
        let (head, tail) = rest.split_at(21);
        let partition = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let offset = i64::from_le_bytes(head[4..12].try_into().unwrap_or_default());
        let stamp = i64::from_le_bytes(head[12..20].try_into().unwrap_or_default());
        let key_len = usize::from(head[20] % 32).min(tail.len());
        keys.push(tail[..key_len].to_vec());
        metas.push((partition, offset, (stamp % 3 != 0).then_some(stamp)));
        rest = &tail[key_len..];
    }
    let messages: Vec<MessageMeta<'_>> = metas
        .iter()
        .zip(&keys)
        .map(|(&(partition, offset, timestamp), key)| MessageMeta {
            topic: "traffic",
            partition,
            offset,
            timestamp,
            key: (!key.is_empty()).then_some(key.as_slice()),
        })
        .collect();
    for kind in [
        KafkaMetadata::Topic,
        KafkaMetadata::Partition,
        KafkaMetadata::Offset,
        KafkaMetadata::Timestamp,
        KafkaMetadata::Key,
    ] {
        if let Ok(column) = metadata_column(kind, &field, &messages) {
            assert_eq!(column.len(), messages.len());
            assert_eq!(column.data_type(), field.data_type());
        }
    }
}

/// The REST API's request handling, straight into its router: the input is
/// a method byte, a path line, a header line and a body.
pub(crate) fn rest(data: &[u8]) {
    unwinding();
    use tower::ServiceExt as _;
    static RUNTIME: OnceLock<Option<(tokio::runtime::Runtime, Arc<weir_engine::serve::Server>)>> =
        OnceLock::new();
    let Some((runtime, server)) = RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        // No pipeline is ever started: the limit is reached before any.
        let limits = weir_engine::serve::ServeLimits {
            max_pipelines: 0,
            ..Default::default()
        };
        Some((
            runtime,
            weir_engine::serve::Server::new(Some("t".into()), limits, Default::default()),
        ))
    }) else {
        return;
    };
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let method =
        ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"][usize::from(method) % 7];
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default().to_vec();
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        });
    if let Some((name, value)) = header.split_once(':') {
        request = request.header(name.trim(), value.trim());
    }
    let Ok(request) = request.body(axum::body::Body::from(body)) else {
        return;
    };
    let router = server.router();
    let Ok(response) = runtime.block_on(async move { router.oneshot(request).await });
    assert!(response.status().as_u16() >= 200, "a real status");
    assert_ne!(
        response.status().as_u16(),
        500,
        "no request makes the API fail"
    );
}
