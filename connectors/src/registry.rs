//! From `'connector' = '...'` and the other options to a configured source or
//! sink. This is the only place that knows every connector by name; each
//! connector's option table lives here too, and `weir connectors` prints it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};

use crate::decode::Format;
use crate::file_source::FileSourceSpec;
use crate::generator::{self, GeneratorOptions};
use crate::generator_source::GeneratorSpec;
use crate::kafka_sink::{DeliveryGuarantee, KafkaFormat, KafkaSinkSpec};
use crate::kafka_source::{Bounded, KafkaMetadata, KafkaSourceSpec, Startup, ValueFormat, KAFKA_METADATA, METADATA_FIELD_KEY};
use crate::options::{OptionReader, OptionSpec};
use crate::sinks::{BlackholeSinkSpec, FileMode, FileSinkSpec, SinkFormat, StdoutSinkSpec};
use crate::source::{OnError, SinkSpec, SourceSpec};
use crate::{ConnectorError, Result};

const ON_ERROR: OptionSpec = OptionSpec {
    key: "on_error",
    default: Some("skip"),
    doc: "malformed records: 'skip' (count, report, go on) or 'fail' (stop with the record's position)",
};

/// Options of the `generator` source.
pub const GENERATOR_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "sensors", default: Some("100"), doc: "how many road sensors report" },
    OptionSpec { key: "rate", default: Some("0"), doc: "events per second over all workers; 0 = as fast as possible" },
    OptionSpec { key: "events", default: Some("0"), doc: "total events, then the stream ends; 0 = unbounded" },
    OptionSpec { key: "seed", default: Some("42"), doc: "the random seed; the same seed gives the same stream" },
    OptionSpec { key: "disorder_ms", default: Some("0"), doc: "events arrive up to this many ms out of event-time order" },
    OptionSpec { key: "drift_at", default: None, doc: "event index after which traffic and the congestion relationship change" },
    OptionSpec { key: "drift_concept", default: Some("road_works"), doc: "the label's change at drift_at: 'road_works' (mild) or 'inverted' (its log-odds change sign: an abrupt concept change)" },
    OptionSpec { key: "start", default: Some("2026-01-01T00:00:00Z"), doc: "event time of the first event (RFC 3339), or 'now'" },
    OptionSpec { key: "stream", default: Some("readings"), doc: "'readings', or 'labels': each reading's label, known later (sensor_id, reading_ts, ts, congested)" },
    OptionSpec { key: "label_delay_ms", default: Some("5000"), doc: "with 'stream' = 'labels': a label arrives between half this and this many ms after its reading" },
];

/// Options of the `nexmark` source (RisingWave's names).
pub const NEXMARK_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "nexmark.table.type", default: None, doc: "'Person', 'Auction' or 'Bid': which of Nexmark's three streams" },
    OptionSpec { key: "nexmark.event.num", default: Some("0"), doc: "events of all three types to generate (this table gets its share: 2% people, 6% auctions, 92% bids), then the stream ends; 0 = unbounded" },
    OptionSpec { key: "nexmark.event.rate", default: Some("10000"), doc: "events per second of event time (how far apart event times are, not a pacing)" },
    OptionSpec { key: "nexmark.base.time", default: Some("2015-07-15T00:00:00Z"), doc: "event time of the first event (RFC 3339)" },
];

/// Options of the `file` source.
pub const FILE_SOURCE_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "path", default: None, doc: "the file to read" },
    OptionSpec { key: "format", default: None, doc: "'json' (one object per line) or 'csv' (with a header line)" },
    OptionSpec { key: "follow", default: Some("false"), doc: "keep reading as the file grows, until the pipeline is stopped" },
    ON_ERROR,
];

/// Options of the `file` sink.
pub const FILE_SINK_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "path", default: None, doc: "the file to write (created if missing)" },
    OptionSpec { key: "format", default: None, doc: "'json' (JSON lines) or 'csv' (with a header line)" },
    OptionSpec { key: "mode", default: Some("append"), doc: "'append' (keep what is there; an incomplete last line from a crash is cut off) or 'overwrite' (truncate when the pipeline starts)" },
];

/// Options of the `stdout` sink.
pub const STDOUT_OPTIONS: &[OptionSpec] =
    &[OptionSpec { key: "format", default: Some("json"), doc: "'json' lines, 'csv', or 'table' aligned for people" }];

/// Options of the `blackhole` sink.
pub const BLACKHOLE_OPTIONS: &[OptionSpec] = &[];

/// Options of the `kafka` source (Flink's names). Every other
/// `properties.*` key goes to librdkafka unchanged.
pub const KAFKA_SOURCE_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "topic", default: None, doc: "the topic, or several separated by ';'" },
    OptionSpec { key: "properties.bootstrap.servers", default: None, doc: "the brokers, host:port[,host:port...]" },
    OptionSpec { key: "properties.group.id", default: Some("weir"), doc: "the consumer group (for group-offsets)" },
    OptionSpec { key: "properties.*", default: None, doc: "any librdkafka setting (security.protocol, sasl.*, ssl.*, ...), passed unchanged" },
    OptionSpec { key: "format", default: None, doc: "'json' (one object per message), 'csv' (one line per message, declared column order), 'avro' (one binary record per message) or 'raw' (the whole value as one STRING column)" },
    OptionSpec { key: "avro.schema", default: None, doc: "with format 'avro': the writer's Avro schema (a record, as JSON); fields are matched to columns by name" },
    OptionSpec { key: "scan.startup.mode", default: Some("group-offsets"), doc: "'earliest-offset', 'latest-offset', 'group-offsets' (earliest where none) or 'timestamp'" },
    OptionSpec { key: "scan.startup.timestamp-millis", default: None, doc: "with scan.startup.mode 'timestamp': start at the first message at or after this epoch ms" },
    OptionSpec { key: "scan.bounded.mode", default: Some("unbounded"), doc: "'unbounded', 'latest-offset' (stop at the partitions' ends when opened), 'group-offsets' (at the group's committed offsets) or 'timestamp'" },
    OptionSpec { key: "scan.bounded.timestamp-millis", default: None, doc: "with scan.bounded.mode 'timestamp': stop before the first message after this epoch ms" },
    OptionSpec { key: "dlq.topic", default: None, doc: "messages that do not decode go here unchanged, with headers weir.error, weir.source.topic, .partition, .offset" },
    OptionSpec { key: "scan.watermark.idle-timeout", default: None, doc: "a partition without messages for this long ('5 s') stops holding the watermark back" },
    ON_ERROR,
];

/// Options of the `upsert-kafka` source (Flink's names): a changelog keyed
/// by the table's PRIMARY KEY, read from the earliest offset.
pub const UPSERT_KAFKA_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "topic", default: None, doc: "the topic, or several separated by ';'" },
    OptionSpec { key: "properties.bootstrap.servers", default: None, doc: "the brokers, host:port[,host:port...]" },
    OptionSpec { key: "properties.group.id", default: Some("weir"), doc: "the consumer group offsets are committed to" },
    OptionSpec { key: "properties.*", default: None, doc: "any librdkafka setting (security.protocol, sasl.*, ssl.*, ...), passed unchanged" },
    OptionSpec { key: "key.format", default: None, doc: "how message keys hold the PRIMARY KEY's columns: 'json' (an object), 'csv' (the columns in key order) or 'raw' (one STRING column)" },
    OptionSpec { key: "value.format", default: None, doc: "'json', 'csv', 'avro' or 'raw' values; a message with a null value deletes its key" },
    OptionSpec { key: "value.fields-include", default: Some("ALL"), doc: "'ALL' (values hold every column, the key's too) or 'EXCEPT_KEY' (the key's columns only in the message key)" },
    OptionSpec { key: "avro.schema", default: None, doc: "with value.format 'avro': the writer's Avro schema of values (a record, as JSON)" },
    OptionSpec { key: "scan.bounded.mode", default: Some("unbounded"), doc: "'unbounded', 'latest-offset', 'group-offsets' or 'timestamp', as for kafka" },
    OptionSpec { key: "scan.bounded.timestamp-millis", default: None, doc: "with scan.bounded.mode 'timestamp': stop before the first message after this epoch ms" },
    OptionSpec { key: "dlq.topic", default: None, doc: "messages that do not decode go here unchanged, with headers as for kafka" },
    OptionSpec { key: "scan.watermark.idle-timeout", default: None, doc: "a partition without messages for this long ('5 s') stops holding the watermark back" },
    ON_ERROR,
];

/// Options of the `kafka` sink.
pub const KAFKA_SINK_OPTIONS: &[OptionSpec] = &[
    OptionSpec { key: "topic", default: None, doc: "the topic written" },
    OptionSpec { key: "properties.bootstrap.servers", default: None, doc: "the brokers, host:port[,host:port...]" },
    OptionSpec { key: "properties.*", default: None, doc: "any librdkafka setting, passed unchanged" },
    OptionSpec { key: "format", default: Some("json"), doc: "'json', 'csv', 'avro' or 'raw' (one column, its text as the value) message values" },
    OptionSpec { key: "avro.schema", default: None, doc: "with format 'avro': the Avro schema to write (JSON); derived from the columns when not given" },
    OptionSpec { key: "key.fields", default: None, doc: "columns, separated by ';', whose values (a JSON object) key each message" },
    OptionSpec {
        key: "sink.delivery-guarantee",
        default: Some("at-least-once"),
        doc: "'at-least-once' (wait for acknowledgements before sources commit), 'exactly-once' (publish each checkpoint's messages once it completes; needs checkpoints) or 'none'",
    },
    OptionSpec {
        key: "sink.transactional-id-prefix",
        default: None,
        doc: "with 'exactly-once': also publish each checkpoint's messages in one Kafka transaction, by producers '<prefix>-<worker>' (for clusters that commit transactions)",
    },
];

/// Every source connector and its options.
pub const SOURCES: &[(&str, &[OptionSpec])] =
    &[("generator", GENERATOR_OPTIONS), ("file", FILE_SOURCE_OPTIONS), ("kafka", KAFKA_SOURCE_OPTIONS), ("upsert-kafka", UPSERT_KAFKA_OPTIONS), ("nexmark", NEXMARK_OPTIONS)];

/// Every sink connector and its options.
pub const SINKS: &[(&str, &[OptionSpec])] =
    &[("file", FILE_SINK_OPTIONS), ("kafka", KAFKA_SINK_OPTIONS), ("stdout", STDOUT_OPTIONS), ("blackhole", BLACKHOLE_OPTIONS)];

fn unknown(name: &str, role: &'static str, known: &[(&str, &[OptionSpec])]) -> ConnectorError {
    ConnectorError::UnknownConnector {
        name: name.to_string(),
        role,
        known: known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
    }
}

fn on_error(r: &OptionReader<'_>) -> Result<OnError> {
    Ok(match r.choice("on_error", &["skip", "fail"])? {
        Some("fail") => OnError::Fail,
        _ => OnError::Skip,
    })
}

/// Configures a source from its options, declared columns (`None` when
/// the table has no column list) and `PRIMARY KEY` columns.
///
/// ```
/// use std::collections::BTreeMap;
/// let options = BTreeMap::from([("events".to_string(), "10".to_string())]);
/// let spec = weir_connectors::source_spec("generator", &options, None, &[])?;
/// assert_eq!(spec.schema().field(0).name(), "sensor_id");
/// # Ok::<(), weir_connectors::ConnectorError>(())
/// ```
pub fn source_spec(
    connector: &str,
    options: &BTreeMap<String, String>,
    declared: Option<SchemaRef>,
    primary_key: &[String],
) -> Result<Arc<dyn SourceSpec>> {
    if !connector.ends_with("kafka")
        && let Some(field) = declared.iter().flat_map(|d| d.fields().iter()).find(|f| f.metadata().contains_key(METADATA_FIELD_KEY))
    {
        return Err(ConnectorError::Schema {
            connector: connector.into(),
            reason: format!("column '{}' is a METADATA column; only kafka sources have metadata", field.name()),
        });
    }
    match connector {
        "generator" => {
            let r = OptionReader::new(connector, GENERATOR_OPTIONS, options)?;
            let d = GeneratorOptions::default();
            let sensors: u64 = r.parse("sensors", "a whole number of sensors, at least 1")?.unwrap_or(d.sensors);
            if sensors == 0 {
                return Err(r.invalid("sensors", "0", "a whole number of sensors, at least 1"));
            }
            let rate: f64 = r.parse("rate", "events per second (0 = unpaced)")?.unwrap_or(d.rate);
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(r.invalid("rate", &rate.to_string(), "events per second, 0 or more"));
            }
            let start_ms = match r.get("start") {
                Some("now") => chrono::Utc::now().timestamp_millis(),
                Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| r.invalid("start", text, "an RFC 3339 time such as '2026-01-01T00:00:00Z', or 'now'"))?,
                None => d.start_ms,
            };
            let options = GeneratorOptions {
                sensors,
                rate,
                events: r.parse("events", "a whole number of events (0 = unbounded)")?.unwrap_or(d.events),
                seed: r.parse("seed", "a whole number")?.unwrap_or(d.seed),
                disorder_ms: r.parse("disorder_ms", "a whole number of milliseconds")?.unwrap_or(d.disorder_ms),
                drift_at: r.parse("drift_at", "an event index")?,
                drift_concept: match r.get("drift_concept") {
                    None | Some("road_works") => generator::DriftConcept::RoadWorks,
                    Some("inverted") => generator::DriftConcept::Inverted,
                    Some(other) => return Err(r.invalid("drift_concept", other, "'road_works' or 'inverted'")),
                },
                start_ms,
                stream: match r.get("stream") {
                    None | Some("readings") => generator::GeneratorStream::Readings,
                    Some("labels") => generator::GeneratorStream::Labels,
                    Some(other) => return Err(r.invalid("stream", other, "'readings' or 'labels'")),
                },
                label_delay_ms: r.parse("label_delay_ms", "a whole number of milliseconds")?.unwrap_or(d.label_delay_ms),
            };
            let schema = subset_of(connector, generator::stream_schema(&options), declared)?;
            Ok(Arc::new(GeneratorSpec { options, schema }))
        }
        "file" => {
            let r = OptionReader::new(connector, FILE_SOURCE_OPTIONS, options)?;
            let path = PathBuf::from(r.required("path")?);
            let format = r.required("format")?;
            let format = Format::from_name(&format.to_ascii_lowercase())
                .ok_or_else(|| r.invalid("format", format, "'json' or 'csv'"))?;
            let schema = declared.ok_or_else(|| ConnectorError::Schema {
                connector: "file".into(),
                reason: "a file source needs a column list: CREATE TABLE t (col TYPE, ...) WITH (...)".into(),
            })?;
            Ok(Arc::new(FileSourceSpec { path, format, schema, follow: r.flag("follow")?, on_error: on_error(&r)? }))
        }
        "nexmark" => {
            let r = OptionReader::new(connector, NEXMARK_OPTIONS, options)?;
            let kind = r.required("nexmark.table.type")?;
            let table = crate::nexmark::NexmarkTable::from_name(kind).ok_or_else(|| r.invalid("nexmark.table.type", kind, "'Person', 'Auction' or 'Bid'"))?;
            let base = r.get("nexmark.base.time").unwrap_or("2015-07-15T00:00:00Z");
            let base_time_ms = chrono::DateTime::parse_from_rfc3339(base)
                .ok()
                .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
                .ok_or_else(|| r.invalid("nexmark.base.time", base, "an RFC 3339 time after 1970, such as '2015-07-15T00:00:00Z'"))?;
            let rate: usize = r.parse("nexmark.event.rate", "events per second, at least 1")?.unwrap_or(10_000);
            if rate == 0 {
                return Err(r.invalid("nexmark.event.rate", "0", "events per second, at least 1"));
            }
            let events = r.parse("nexmark.event.num", "a whole number of events (0 = unbounded)")?.unwrap_or(0);
            let schema = subset_of(connector, table.schema(), declared)?;
            Ok(Arc::new(crate::nexmark::NexmarkSpec { table, events, base_time_ms, rate, schema }))
        }
        "kafka" => kafka_source(connector, options, declared, None),
        "upsert-kafka" => {
            let declared = declared.ok_or_else(|| ConnectorError::Schema {
                connector: connector.into(),
                reason: "an upsert-kafka source needs a column list: CREATE TABLE t (col TYPE, ...) WITH (...)".into(),
            })?;
            if primary_key.is_empty() {
                return Err(ConnectorError::Schema {
                    connector: connector.into(),
                    reason: "an upsert-kafka table needs a PRIMARY KEY (...) NOT ENFORCED: the columns each message key holds".into(),
                });
            }
            let (rest, _) = kafka_properties(options)?;
            let r = OptionReader::new(connector, UPSERT_KAFKA_OPTIONS, &rest)?;
            r.required("value.format")?;
            let key_format = r.required("key.format")?;
            let key_format = match key_format.to_ascii_lowercase().as_str() {
                "raw" => ValueFormat::Raw,
                other => ValueFormat::Lines(Format::from_name(other).ok_or_else(|| r.invalid("key.format", key_format, "'json', 'csv' or 'raw'"))?),
            };
            let value_has_key = match r.get("value.fields-include").map(str::to_ascii_uppercase).as_deref() {
                None | Some("ALL") => true,
                Some("EXCEPT_KEY") => false,
                Some(_) => return Err(r.invalid("value.fields-include", r.get("value.fields-include").unwrap_or_default(), "'ALL' or 'EXCEPT_KEY'")),
            };
            let mut key = Vec::with_capacity(primary_key.len());
            for column in primary_key {
                let i = declared.index_of(column).map_err(|_| ConnectorError::Schema {
                    connector: connector.into(),
                    reason: format!("the PRIMARY KEY names '{column}', which is not a column"),
                })?;
                if declared.field(i).metadata().contains_key(METADATA_FIELD_KEY) {
                    return Err(ConnectorError::Schema { connector: connector.into(), reason: format!("PRIMARY KEY column '{column}' is a METADATA column; the key is read from the message key") });
                }
                key.push(i);
            }
            if key_format == ValueFormat::Raw && (key.len() != 1 || declared.field(key[0]).data_type() != &datafusion::arrow::datatypes::DataType::Utf8) {
                return Err(ConnectorError::Schema {
                    connector: connector.into(),
                    reason: "key.format 'raw' reads the whole message key into one STRING column; the PRIMARY KEY must be exactly one STRING column".into(),
                });
            }
            // Deletions hold NULL in every value column.
            let loose: Vec<_> = declared.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
            let schema = crate::upsert::with_deleted_column(&Arc::new(Schema::new(loose)));
            let mut options = options.clone();
            if let Some(format) = options.remove("value.format") {
                options.insert("format".into(), format);
            }
            for k in ["key.format", "value.fields-include"] {
                options.remove(k);
            }
            options.insert("scan.startup.mode".into(), "earliest-offset".into());
            let upsert = crate::upsert::UpsertSpec { key, key_format, value_has_key };
            kafka_source(connector, &options, Some(schema), Some(upsert))
        }
        other => Err(unknown(other, "source", SOURCES)),
    }
}

/// Configures a Kafka source (`upsert` for `upsert-kafka`, whose options
/// have been put in the `kafka` source's terms).
fn kafka_source(
    connector: &str,
    options: &BTreeMap<String, String>,
    declared: Option<SchemaRef>,
    upsert: Option<crate::upsert::UpsertSpec>,
) -> Result<Arc<dyn SourceSpec>> {
    let (options, properties) = kafka_properties(options)?;
    // An upsert source's options were checked against its own table.
    let r = OptionReader::new(connector, KAFKA_SOURCE_OPTIONS, &options)?;
    let topics: Vec<String> = r.required("topic")?.split(';').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    let format = r.required("format")?;
    let format = match format.to_ascii_lowercase().as_str() {
        "avro" => ValueFormat::Avro(
            r.get("avro.schema")
                .ok_or_else(|| ConnectorError::MissingOption {
                    connector: "kafka".into(),
                    key: "avro.schema".into(),
                    doc: "format 'avro' needs the writer's schema, as JSON".into(),
                })?
                .to_string(),
        ),
        "raw" => ValueFormat::Raw,
        other => ValueFormat::Lines(Format::from_name(other).ok_or_else(|| r.invalid("format", format, "'json', 'csv', 'avro' or 'raw'"))?),
    };
    let millis = |key: &str| -> Result<i64> {
        r.parse::<i64>(key, "epoch milliseconds")?.ok_or_else(|| ConnectorError::MissingOption {
            connector: "kafka".into(),
            key: key.into(),
            doc: "epoch milliseconds".into(),
        })
    };
    let startup = match r.choice("scan.startup.mode", &["earliest-offset", "latest-offset", "group-offsets", "timestamp"])? {
        Some("earliest-offset") => Startup::Earliest,
        Some("latest-offset") => Startup::Latest,
        Some("timestamp") => Startup::Timestamp(millis("scan.startup.timestamp-millis")?),
        _ => Startup::GroupOffsets,
    };
    let bounded = match r.choice("scan.bounded.mode", &["unbounded", "latest-offset", "group-offsets", "timestamp"])? {
        Some("latest-offset") => Bounded::LatestOffset,
        Some("group-offsets") => Bounded::GroupOffsets,
        Some("timestamp") => Bounded::Timestamp(millis("scan.bounded.timestamp-millis")?),
        _ => Bounded::Unbounded,
    };
    let schema = declared.ok_or_else(|| ConnectorError::Schema {
        connector: "kafka".into(),
        reason: "a kafka source needs a column list: CREATE TABLE t (col TYPE, ...) WITH (...)".into(),
    })?;
    let dlq_topic = r.get("dlq.topic").map(str::to_string);
    let mut metadata = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(name) = field.metadata().get(METADATA_FIELD_KEY) else { continue };
        let kind = KafkaMetadata::from_name(name).ok_or_else(|| ConnectorError::Schema {
            connector: "kafka".into(),
            reason: format!("column '{}' reads unknown metadata '{name}'; kafka has {}", field.name(), metadata_names()),
        })?;
        metadata.push((i, kind));
    }
    let spec = KafkaSourceSpec { topics, properties, startup, bounded, format, schema, metadata, on_error: on_error(&r)?, dlq_topic, upsert };
    if spec.payload_schema().fields().is_empty() {
        return Err(ConnectorError::Schema {
            connector: "kafka".into(),
            reason: "every column is a metadata column; declare the message's fields too".into(),
        });
    }
    if spec.format == ValueFormat::Raw {
        let payload = spec.payload_schema();
        if payload.fields().len() != 1 || payload.field(0).data_type() != &datafusion::arrow::datatypes::DataType::Utf8 {
            return Err(ConnectorError::Schema {
                connector: "kafka".into(),
                reason: "format 'raw' reads each whole value into one STRING column; declare exactly one (besides metadata columns)".into(),
            });
        }
    }
    if let ValueFormat::Avro(schema) = &spec.format {
        // The schema parses and fills the declared columns: checked now.
        crate::avro::AvroDecoder::new(schema, spec.payload_schema(), 1)?;
    }
    Ok(Arc::new(spec))
}

/// Splits off the `properties.*` options (librdkafka's, passed unchanged
/// without the prefix); `bootstrap.servers` is required.
fn kafka_properties(options: &BTreeMap<String, String>) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let mut rest = BTreeMap::new();
    let mut properties = BTreeMap::new();
    for (k, v) in options {
        match k.strip_prefix("properties.") {
            Some(p) => {
                properties.insert(p.to_string(), v.clone());
            }
            None => {
                rest.insert(k.clone(), v.clone());
            }
        }
    }
    if !properties.contains_key("bootstrap.servers") {
        return Err(ConnectorError::MissingOption {
            connector: "kafka".into(),
            key: "properties.bootstrap.servers".into(),
            doc: "the brokers, host:port[,host:port...]".into(),
        });
    }
    properties.entry("group.id".into()).or_insert_with(|| "weir".into());
    Ok((rest, properties))
}

/// Kafka's metadata names with their types, for messages.
pub fn metadata_names() -> String {
    KAFKA_METADATA.iter().map(|(n, t)| format!("'{n}' ({t})")).collect::<Vec<_>>().join(", ")
}

/// The declared columns of a source whose columns are fixed (`full`):
/// each must be one of them, with its type; all of them when none are
/// declared.
fn subset_of(connector: &str, full: SchemaRef, declared: Option<SchemaRef>) -> Result<SchemaRef> {
    let Some(declared) = declared else { return Ok(full) };
    for field in declared.fields() {
        let known = full.field_with_name(field.name()).map_err(|_| ConnectorError::Schema {
            connector: connector.into(),
            reason: format!("it has no column '{}'; its columns are {}", field.name(), column_list(&full)),
        })?;
        if known.data_type() != field.data_type() {
            return Err(ConnectorError::Schema {
                connector: connector.into(),
                reason: format!("column '{}' is {}, not {}", field.name(), known.data_type(), field.data_type()),
            });
        }
    }
    Ok(declared)
}

fn column_list(schema: &Schema) -> String {
    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

/// Configures a sink from its options.
pub fn sink_spec(connector: &str, options: &BTreeMap<String, String>) -> Result<Arc<dyn SinkSpec>> {
    match connector {
        "file" => {
            let r = OptionReader::new(connector, FILE_SINK_OPTIONS, options)?;
            let path = PathBuf::from(r.required("path")?);
            let format = match r.choice("format", &["json", "csv"])? {
                Some("csv") => SinkFormat::Csv,
                Some(_) => SinkFormat::Json,
                None => return Err(r.required("format").err().unwrap_or_else(|| r.invalid("format", "", "'json' or 'csv'"))),
            };
            let mode = match r.choice("mode", &["append", "overwrite"])? {
                Some("overwrite") => FileMode::Overwrite,
                _ => FileMode::Append,
            };
            Ok(Arc::new(FileSinkSpec { path, format, mode }))
        }
        "stdout" | "print" => {
            let r = OptionReader::new(connector, STDOUT_OPTIONS, options)?;
            let format = match r.choice("format", &["json", "csv", "table"])? {
                Some("csv") => SinkFormat::Csv,
                Some("table") => SinkFormat::Table,
                _ => SinkFormat::Json,
            };
            Ok(Arc::new(StdoutSinkSpec { format }))
        }
        "kafka" => {
            let (options, properties) = kafka_properties(options)?;
            let r = OptionReader::new(connector, KAFKA_SINK_OPTIONS, &options)?;
            let topic = r.required("topic")?.to_string();
            let format = match r.choice("format", &["json", "csv", "avro", "raw"])? {
                Some("csv") => KafkaFormat::Csv,
                Some("raw") => KafkaFormat::Raw,
                Some("avro") => KafkaFormat::Avro(r.get("avro.schema").map(str::to_string)),
                _ => KafkaFormat::Json,
            };
            let key_fields = r
                .get("key.fields")
                .map(|k| k.split(';').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect())
                .unwrap_or_default();
            let guarantee = match r.choice("sink.delivery-guarantee", &["exactly-once", "at-least-once", "none"])? {
                Some("exactly-once") => DeliveryGuarantee::ExactlyOnce,
                Some("none") => DeliveryGuarantee::None,
                _ => DeliveryGuarantee::AtLeastOnce,
            };
            let transactional_id_prefix = r.get("sink.transactional-id-prefix").map(str::to_string);
            if transactional_id_prefix.is_some() && guarantee != DeliveryGuarantee::ExactlyOnce {
                return Err(r.invalid(
                    "sink.transactional-id-prefix",
                    transactional_id_prefix.as_deref().unwrap_or_default(),
                    "only with 'sink.delivery-guarantee' = 'exactly-once'",
                ));
            }
            Ok(Arc::new(KafkaSinkSpec { topic, properties, key_fields, format, guarantee, transactional_id_prefix }))
        }
        "blackhole" => {
            OptionReader::new(connector, BLACKHOLE_OPTIONS, options)?;
            Ok(Arc::new(BlackholeSinkSpec))
        }
        other => Err(unknown(other, "sink", SINKS)),
    }
}

/// Whether `connector` can be written to.
pub fn is_sink(connector: &str) -> bool {
    SINKS.iter().any(|(n, _)| *n == connector || (*n == "stdout" && connector == "print"))
}

/// Whether `connector` can be read from.
pub fn is_source(connector: &str) -> bool {
    SOURCES.iter().any(|(n, _)| *n == connector)
}
