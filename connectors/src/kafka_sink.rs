//! The Kafka sink: one message per row, JSON (or CSV) values, optional keys
//! from `'key.fields'` so that one sensor's rows stay in one partition.
//!
//! The producer is idempotent (no duplicates from its own retries);
//! librdkafka retries deliveries for `delivery.timeout.ms`, after which a
//! failed delivery becomes a pipeline error naming the topic. Every worker
//! writes its own rows; flushing on shutdown waits for every delivery.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::encode::{write_csv, write_json};
use crate::kafka_source::kafka_err;
use crate::source::{Sink, SinkSpec, Split};
use crate::{ConnectorError, Result};

/// How long shutdown waits for outstanding deliveries.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

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

    fn open(&self, _split: Split) -> Result<Box<dyn Sink>> {
        let mut config = ClientConfig::new();
        config.set("enable.idempotence", "true").set("linger.ms", "5");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        let producer: BaseProducer<Deliveries> =
            config.create_with_context(Deliveries::default()).map_err(kafka_err(format!("creating the producer for '{}'", self.topic)))?;
        Ok(Box::new(KafkaSink { spec: self.clone(), producer: Arc::new(producer) }))
    }
}

struct KafkaSink {
    spec: KafkaSinkSpec,
    producer: Arc<BaseProducer<Deliveries>>,
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
            KafkaFormat::Json => write_json(batch, &mut out)?,
            KafkaFormat::Csv => write_csv(batch, false, &mut out)?,
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
        Ok(out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect())
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
            loop {
                let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.spec.topic).payload(value.as_slice());
                if let Some(k) = key {
                    record = record.key(k);
                }
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // Back-pressure: let deliveries drain.
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => return Err(kafka_err(format!("producing to '{}'", self.spec.topic))(e)),
                }
            }
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
        self.producer.flush(FLUSH_TIMEOUT).map_err(kafka_err(format!("flushing '{}'", self.spec.topic)))?;
        self.check()
    }
}
