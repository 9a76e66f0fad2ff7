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
//!
//! `'sink.delivery-guarantee'` (Flink's option): `at-least-once` (the
//! default) waits for acknowledgements before sources commit; `none` does
//! not wait (only at the end); `exactly-once` stages each checkpoint's
//! messages and publishes them once it completes ([`crate::kafka_staged`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::encode::{write_csv, write_json};
use crate::kafka_source::kafka_err;
use crate::kafka_staged::{self, Stage, Staged};
use crate::source::{Cancel, Position, Publisher, Resume, Sink, SinkSpec, Split};
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

/// `'sink.delivery-guarantee'`, as Flink names its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryGuarantee {
    /// Publish each checkpoint's messages once it completes, tagged so
    /// that a restart publishes each once (needs checkpoints).
    ExactlyOnce,
    /// Wait for acknowledgements before sources commit (the default).
    #[default]
    AtLeastOnce,
    /// Do not wait for acknowledgements, except at the end.
    None,
}

impl DeliveryGuarantee {
    /// The option's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::ExactlyOnce => "exactly-once",
            Self::AtLeastOnce => "at-least-once",
            Self::None => "none",
        }
    }
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
    /// `'sink.delivery-guarantee'`.
    pub guarantee: DeliveryGuarantee,
    /// `'sink.transactional-id-prefix'`: exactly once, each checkpoint's
    /// messages in one transaction of the producer `<prefix>-<worker>`.
    pub transactional_id_prefix: Option<String>,
}

/// Remembers the first failed delivery for the pipeline to report.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl Deliveries {
    /// The first failed delivery, as an error in `context`.
    fn check(&self, context: &str) -> Result<()> {
        match kafka_staged::lock(&self.failed).clone() {
            Some(reason) => Err(ConnectorError::Kafka { context: context.to_string(), reason }),
            None => Ok(()),
        }
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result {
            let mut failed = kafka_staged::lock(&self.failed);
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
        let guarantee = match self.guarantee {
            DeliveryGuarantee::AtLeastOnce => String::new(),
            g => format!(" sink.delivery-guarantee={}", g.name()),
        };
        let guarantee = match &self.transactional_id_prefix {
            Some(prefix) => format!("{guarantee} sink.transactional-id-prefix={prefix}"),
            None => guarantee,
        };
        format!("kafka topic={} servers={servers} format={format}{keys}{guarantee}", self.topic)
    }

    fn parallel(&self) -> bool {
        true
    }

    fn resumable(&self) -> bool {
        self.guarantee == DeliveryGuarantee::ExactlyOnce
    }

    fn needs_checkpoints(&self) -> Option<String> {
        (self.guarantee == DeliveryGuarantee::ExactlyOnce).then(|| {
            "'sink.delivery-guarantee' = 'exactly-once' publishes what each checkpoint completes, so the pipeline must checkpoint".to_string()
        })
    }

    fn open(&self, split: Split, cancel: &Cancel) -> Result<Box<dyn Sink>> {
        self.open_from(split, cancel, "", None)
    }

    /// Exactly once: the writer publishes what the checkpoint it resumes
    /// from had sealed and not yet published (reading the topic's tail
    /// for what the crashed run did publish), then stages from there.
    fn open_from(&self, split: Split, cancel: &Cancel, writer: &str, resume: Option<Resume<'_>>) -> Result<Box<dyn Sink>> {
        let mut config = ClientConfig::new();
        config.set("enable.idempotence", "true").set("linger.ms", "5");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        let transactional = self.guarantee == DeliveryGuarantee::ExactlyOnce && self.transactional_id_prefix.is_some();
        if let Some(prefix) = self.transactional_id_prefix.as_ref().filter(|_| transactional) {
            config.set("transactional.id", format!("{prefix}-{}", split.worker));
        }
        let producer: BaseProducer<Deliveries> =
            config.create_with_context(Deliveries::default()).map_err(kafka_err(format!("creating the producer for '{}'", self.topic)))?;
        if transactional {
            // Fences a crashed writer with the same id and aborts what it
            // left open.
            producer
                .init_transactions(kafka_staged::TIMEOUT)
                .map_err(kafka_err(format!("starting transactions on '{}' (does the cluster support them?)", self.topic)))?;
        }
        let producer = Arc::new(producer);
        let patience = patience(&self.properties);
        let stage = match self.guarantee {
            DeliveryGuarantee::ExactlyOnce => {
                if writer.is_empty() {
                    return Err(ConnectorError::Resume(self.needs_checkpoints().unwrap_or_default()));
                }
                let stage = Arc::new(Stage {
                    topic: self.topic.clone(),
                    writer: writer.to_string(),
                    sealed: Mutex::new(Vec::new()),
                    cancel: cancel.clone(),
                    patience,
                    transactional,
                });
                if let Some(Resume { position, staged }) = resume {
                    let sealed = kafka_staged::decode(staged)?;
                    if !sealed.is_empty() {
                        let published = kafka_staged::published(&self.properties, &self.topic, writer, position, cancel)?;
                        let total: usize = sealed.iter().map(|s| s.messages.len()).sum();
                        tracing::info!(topic = %self.topic, writer, staged = total, already = published.len(), "kafka sink: publishing what the checkpoint staged");
                        *kafka_staged::lock(&stage.sealed) = sealed;
                        stage.publish(&producer, u64::MAX, &published)?;
                    }
                }
                Some(stage)
            }
            _ if resume.is_some() => return Err(ConnectorError::Resume("only an exactly-once Kafka sink continues from a checkpoint".into())),
            _ => None,
        };
        Ok(Box::new(KafkaSink { spec: self.clone(), producer, cancel: cancel.clone(), patience, stage, pending: Vec::new() }))
    }
}

struct KafkaSink {
    spec: KafkaSinkSpec,
    producer: Arc<BaseProducer<Deliveries>>,
    cancel: Cancel,
    patience: Duration,
    /// Exactly once: the sealed messages, shared with the publisher.
    stage: Option<Arc<Stage>>,
    /// Exactly once: what was written since the last cut.
    pending: Vec<Staged>,
}

impl KafkaSink {
    fn check(&self) -> Result<()> {
        self.producer.context().check(&format!("delivering to '{}'", self.spec.topic))
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

/// Each row's encoded value and, with `'key.fields'`, each row's key.
type Encoded = (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>);

impl KafkaSink {
    /// Each row's value and, with `'key.fields'`, its key.
    fn encode(&self, batch: &RecordBatch) -> Result<Encoded> {
        let values = Self::values(batch, &self.spec.format)?;
        if self.spec.key_fields.is_empty() {
            return Ok((values, None));
        }
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
        Ok((values, Some(Self::values(&projected, &KafkaFormat::Json)?)))
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let (values, keys) = self.encode(batch)?;
        if self.stage.is_some() {
            match keys {
                Some(keys) => self.pending.extend(keys.into_iter().map(Some).zip(values)),
                None => self.pending.extend(values.into_iter().map(|v| (None, v))),
            }
            return Ok(());
        }
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
        if self.stage.is_some() {
            // What is left is sealed into the last checkpoint.
            return self.check();
        }
        flush(&self.producer, &format!("'{}'", self.spec.topic), &self.cancel, self.patience)?;
        self.check()
    }

    fn sync(&mut self) -> Result<()> {
        match (self.spec.guarantee, &self.stage) {
            // Nothing is the writer's to deliver before its checkpoint
            // completes; with `none`, nothing is waited for.
            (_, Some(_)) | (DeliveryGuarantee::None, _) => self.flush(),
            _ => {
                flush(&self.producer, &format!("'{}'", self.spec.topic), &self.cancel, self.patience)?;
                self.check()
            }
        }
    }

    fn position(&mut self) -> Result<Option<Position>> {
        if self.stage.is_none() {
            self.sync()?;
            return Ok(None);
        }
        self.check()?;
        kafka_staged::end_offsets(&self.producer, &self.spec.topic).map(Some)
    }

    fn seal(&mut self, checkpoint: u64) -> Result<Vec<u8>> {
        Ok(match &self.stage {
            Some(stage) => stage.seal(checkpoint, std::mem::take(&mut self.pending)),
            None => Vec::new(),
        })
    }

    fn publisher(&self) -> Option<Publisher> {
        let stage = Arc::clone(self.stage.as_ref()?);
        let producer = Arc::clone(&self.producer);
        Some(Arc::new(move |checkpoint| {
            stage.publish(&producer, checkpoint, &HashSet::new())?;
            producer.context().check(&format!("publishing to '{}'", stage.topic))
        }))
    }
}
