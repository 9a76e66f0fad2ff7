//! The Kafka sink: one message per row, JSON (or CSV) values, optional keys
//! from `'key.fields'` so that one sensor's rows stay in one partition.
//!
//! The producer is idempotent (no duplicates from its own retries);
//! librdkafka retries deliveries for `delivery.timeout.ms`, after which a
//! failed delivery becomes a pipeline error naming the topic. Every worker
//! writes its own rows; flushing on shutdown waits for every delivery.
//!
//! No wait here is unbounded: a full producer queue and a flush are waited
//! on in short steps, for at most the delivery timeout (librdkafka's
//! `delivery.timeout.ms`, 300 s unless the table says otherwise, plus a
//! margin), and not at all once the pipeline has failed ([`Cancel`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::encode::{write_csv, write_json};
use crate::kafka_source::kafka_err;
use crate::source::{Cancel, Sink, SinkSpec, Split};
use crate::{ConnectorError, Result};

/// librdkafka's default `delivery.timeout.ms`.
const DELIVERY_TIMEOUT_MS: u64 = 300_000;
/// One step of a wait, between looks at the cancel flag.
const STEP: Duration = Duration::from_millis(100);

/// How long a producer configured with `properties` may keep a message
/// before librdkafka gives up on it, with a margin: longer than that, a
/// wait cannot end well.
pub(crate) fn patience(properties: &BTreeMap<String, String>) -> Duration {
    let ms = ["delivery.timeout.ms", "message.timeout.ms"]
        .iter()
        .find_map(|k| properties.get(*k).and_then(|v| v.trim().parse::<u64>().ok()))
        .unwrap_or(DELIVERY_TIMEOUT_MS);
    Duration::from_millis(ms) + Duration::from_secs(5)
}

/// Sends `record`, waiting in steps while the producer's queue is full:
/// at most `patience`, and not once `cancel` is raised.
pub(crate) fn send<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    cancel: &Cancel,
    patience: Duration,
) -> Result<()> {
    let topic = record.topic.to_string();
    let started = Instant::now();
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                let reason = if cancel.aborted() {
                    Some("the pipeline stopped while the producer's queue was full".to_string())
                } else if started.elapsed() >= patience {
                    Some(format!("the producer's queue stayed full for {} s: the broker takes no messages", patience.as_secs()))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(ConnectorError::Kafka { context: format!("producing to '{topic}'"), reason });
                }
                record = returned;
                // Back-pressure: let deliveries drain.
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(kafka_err(format!("producing to '{topic}'"))(e)),
        }
    }
}

/// Waits until every message `producer` holds is delivered (or failed), in
/// steps: at most `patience`, and not once `cancel` is raised.
pub(crate) fn flush<C: ProducerContext>(producer: &BaseProducer<C>, what: &str, cancel: &Cancel, patience: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        match producer.flush(STEP) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(e) => return Err(kafka_err(format!("flushing {what}"))(e)),
        }
        let left = producer.in_flight_count();
        if cancel.aborted() {
            return Err(ConnectorError::Kafka {
                context: format!("flushing {what}"),
                reason: format!("the pipeline stopped with {left} messages not yet acknowledged"),
            });
        }
        if started.elapsed() >= patience {
            return Err(ConnectorError::Kafka {
                context: format!("flushing {what}"),
                reason: format!("{left} messages were not acknowledged within {} s", patience.as_secs()),
            });
        }
    }
}

/// The value format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaFormat {
    /// One JSON object per message.
    Json,
    /// One CSV line per message, no header.
    Csv,
    /// One Avro record per message (binary, no framing), with this schema
    /// (JSON) or, without one, a schema derived from the columns.
    Avro(Option<String>),
    /// The one column's text as the whole value (Flink's `raw`).
    Raw,
}

/// A configured Kafka sink.
#[derive(Debug, Clone)]
pub struct KafkaSinkSpec {
    /// The topic written.
    pub topic: String,
    /// librdkafka configuration (`bootstrap.servers`, `properties.*`).
    pub properties: BTreeMap<String, String>,
    /// Columns whose values, as a JSON object, key each message.
    pub key_fields: Vec<String>,
    /// The value format.
    pub format: KafkaFormat,
}

/// Remembers the first failed delivery for the pipeline to report.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result {
            let mut failed = match self.failed.lock() {
                Ok(f) => f,
                Err(poisoned) => poisoned.into_inner(),
            };
            if failed.is_none() {
                *failed = Some(error.to_string());
            }
        }
    }
}

impl SinkSpec for KafkaSinkSpec {
    fn describe(&self) -> String {
        let servers = self.properties.get("bootstrap.servers").map(String::as_str).unwrap_or("?");
        let keys = if self.key_fields.is_empty() { String::new() } else { format!(" key.fields={}", self.key_fields.join(";")) };
        let format = match self.format {
            KafkaFormat::Json => "json",
            KafkaFormat::Csv => "csv",
            KafkaFormat::Avro(_) => "avro",
            KafkaFormat::Raw => "raw",
        };
        format!("kafka topic={} servers={servers} format={format}{keys}", self.topic)
    }

    fn parallel(&self) -> bool {
        true
    }

    fn open(&self, _split: Split, cancel: &Cancel) -> Result<Box<dyn Sink>> {
        let mut config = ClientConfig::new();
        config.set("enable.idempotence", "true").set("linger.ms", "5");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        let producer: BaseProducer<Deliveries> =
            config.create_with_context(Deliveries::default()).map_err(kafka_err(format!("creating the producer for '{}'", self.topic)))?;
        Ok(Box::new(KafkaSink { spec: self.clone(), producer: Arc::new(producer), cancel: cancel.clone(), patience: patience(&self.properties) }))
    }
}

struct KafkaSink {
    spec: KafkaSinkSpec,
    producer: Arc<BaseProducer<Deliveries>>,
    cancel: Cancel,
    patience: Duration,
}

impl KafkaSink {
    fn check(&self) -> Result<()> {
        let failed = match self.producer.context().failed.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        match failed {
            Some(reason) => Err(ConnectorError::Kafka { context: format!("delivering to '{}'", self.spec.topic), reason }),
            None => Ok(()),
        }
    }

    /// One encoded value per row.
    fn values(batch: &RecordBatch, format: &KafkaFormat) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        match format {
            // JSON lines never hold a raw newline (strings escape it) and a
            // row is never empty, so the encoded batch splits into its rows.
            KafkaFormat::Json => write_json(batch, &mut out)?,
            KafkaFormat::Csv => {
                // A CSV row can hold a quoted newline, and a row of one NULL
                // is an empty line: encode each row on its own.
                return (0..batch.num_rows())
                    .map(|i| {
                        let mut row = Vec::new();
                        write_csv(&batch.slice(i, 1), false, &mut row)?;
                        if row.last() == Some(&b'\n') {
                            row.pop();
                        }
                        Ok(row)
                    })
                    .collect();
            }
            KafkaFormat::Avro(schema) => return crate::avro::encode(batch, schema.as_deref()),
            KafkaFormat::Raw => {
                if batch.num_columns() != 1 {
                    return Err(ConnectorError::Schema {
                        connector: "kafka".into(),
                        reason: format!("format 'raw' writes one column as the value; the query produces {}", batch.num_columns()),
                    });
                }
                let text = datafusion::arrow::compute::cast(batch.column(0), &datafusion::arrow::datatypes::DataType::Utf8)
                    .map_err(|source| ConnectorError::Arrow { context: "raw values".into(), source })?;
                let text = datafusion::arrow::array::AsArray::as_string::<i32>(text.as_ref());
                return Ok(text.iter().map(|v| v.unwrap_or_default().as_bytes().to_vec()).collect());
            }
        }
        let values: Vec<Vec<u8>> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        if values.len() != batch.num_rows() {
            // Never shift a key onto another row's value.
            return Err(ConnectorError::Schema {
                connector: "kafka".into(),
                reason: format!("{} rows encoded into {} messages", batch.num_rows(), values.len()),
            });
        }
        Ok(values)
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let values = Self::values(batch, &self.spec.format)?;
        let keys = if self.spec.key_fields.is_empty() {
            None
        } else {
            let indices = self
                .spec
                .key_fields
                .iter()
                .map(|k| {
                    batch.schema().index_of(k).map_err(|_| ConnectorError::Schema {
                        connector: "kafka".into(),
                        reason: format!("'key.fields' names '{k}', which the query does not produce"),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let projected = batch.project(&indices).map_err(|e| ConnectorError::Schema { connector: "kafka".into(), reason: e.to_string() })?;
            Some(Self::values(&projected, &KafkaFormat::Json)?)
        };
        let mut key_lines = keys.as_ref().map(|k| k.iter());
        for value in &values {
            let key = key_lines.as_mut().and_then(Iterator::next).map(Vec::as_slice);
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.spec.topic).payload(value.as_slice());
            if let Some(k) = key {
                record = record.key(k);
            }
            send(&self.producer, record, &self.cancel, self.patience)?;
        }
        self.producer.poll(Duration::ZERO);
        self.check()
    }

    fn flush(&mut self) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        self.check()
    }

    fn finish(&mut self) -> Result<()> {
        self.sync()
    }

    fn sync(&mut self) -> Result<()> {
        flush(&self.producer, &format!("'{}'", self.spec.topic), &self.cancel, self.patience)?;
        self.check()
    }
}
