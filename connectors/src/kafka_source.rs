//! The Kafka source: `'connector' = 'kafka'`, with Flink's option names.
//!
//! Each worker is assigned (not subscribed to) a fixed share of the topics'
//! partitions, partition `i` of the sorted list going to worker `i %
//! workers`, so the split is deterministic and needs no group rebalancing.
//! Messages are gathered into one buffer per poll and decoded together by
//! the same Arrow decoders as files, so a batch costs one decoder pass, not
//! one per message; a message that does not decode is isolated, counted
//! with its `topic/partition@offset`, and skipped (or fails the pipeline).
//!
//! Each poll's messages are decoded per partition, so that every batch
//! belongs to one partition: the engine keeps a watermark per partition and
//! commits each partition's offsets once the rows before them have been
//! handed to every sink (`Source::commit`). Metadata columns (`ts
//! TIMESTAMP(3) METADATA FROM 'timestamp'`, `partition`, `offset`, `key`,
//! `topic`) are filled from the messages, as Flink's and Arroyo's are.
//!
//! Bounded reads (`'scan.bounded.mode' = 'latest-offset'`) note each
//! partition's high watermark when the reader opens and finish when every
//! assigned partition has reached it, so backfills and tests end by
//! themselves. Every `properties.*` option goes to librdkafka unchanged
//! (security, SASL, SSL, tuning).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::decode::{Format, RecordDecoder};
use crate::source::{BadRecords, Cancel, OnError, Polled, Position, Source, SourceSpec, SourceStatus, Split};
use crate::{ConnectorError, Result};

/// How long broker requests at open time may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Messages gathered into one decoder pass at most.
const MAX_MESSAGES: usize = 8192;

/// Where a reader starts (`scan.startup.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// The earliest offset still in the log.
    Earliest,
    /// Only messages produced after the reader opens.
    Latest,
    /// The group's committed offsets (earliest where there are none).
    GroupOffsets,
    /// The first message at or after this time (epoch ms).
    Timestamp(i64),
}

/// Where a bounded reader stops (`scan.bounded.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    /// Never: read until the pipeline is stopped.
    Unbounded,
    /// The partitions' ends when the reader opened.
    LatestOffset,
    /// The consumer group's committed offsets when the reader opened
    /// (nothing for a partition without one).
    GroupOffsets,
    /// The first message after this time (epoch ms).
    Timestamp(i64),
}

/// The field metadata key that marks a declared column as a metadata
/// column; its value is the metadata's name (`timestamp`, `partition`...).
pub const METADATA_FIELD_KEY: &str = "weir.metadata";

/// What a Kafka metadata column reads, with its natural type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaMetadata {
    /// The topic (STRING).
    Topic,
    /// The partition (INT).
    Partition,
    /// The offset (BIGINT).
    Offset,
    /// The message timestamp (TIMESTAMP(3), UTC).
    Timestamp,
    /// The message key (read as STRING: its bytes as UTF-8, NULL if not).
    Key,
}

/// Kafka's metadata names, as Flink spells them, with their types.
pub const KAFKA_METADATA: &[(&str, &str)] = &[
    ("topic", "STRING"),
    ("partition", "INT"),
    ("offset", "BIGINT"),
    ("timestamp", "TIMESTAMP(3)"),
    ("key", "STRING"),
];

impl KafkaMetadata {
    /// Parses a metadata name.
    ///
    /// ```
    /// use weir_connectors::KafkaMetadata;
    /// assert_eq!(KafkaMetadata::from_name("timestamp"), Some(KafkaMetadata::Timestamp));
    /// assert_eq!(KafkaMetadata::from_name("headers"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "topic" => Some(Self::Topic),
            "partition" => Some(Self::Partition),
            "offset" => Some(Self::Offset),
            "timestamp" => Some(Self::Timestamp),
            "key" => Some(Self::Key),
            _ => None,
        }
    }

    /// The Arrow type the values come in (cast to the declared type).
    pub fn data_type(self) -> DataType {
        match self {
            Self::Topic => DataType::Utf8,
            Self::Partition => DataType::Int32,
            Self::Offset => DataType::Int64,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Self::Key => DataType::Binary,
        }
    }
}

/// How a Kafka source's message values are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFormat {
    /// One JSON object or one CSV line (declared column order) per message.
    Lines(Format),
    /// One Avro record per message, written with this schema (JSON).
    Avro(String),
    /// The whole value as the table's one STRING column (Flink's `raw`).
    Raw,
}

/// Decoded batches, and the index and reason of each message that did not decode.
type Decoded = (Vec<RecordBatch>, Vec<(usize, String)>);

/// The decoder of message values (and of an upsert source's keys).
pub(crate) enum ValueDecoder {
    Lines(Box<RecordDecoder>),
    Avro(Box<crate::avro::AvroDecoder>),
    Raw,
}

impl ValueDecoder {
    /// A decoder of `format` into `schema`.
    pub(crate) fn new(format: &ValueFormat, schema: &SchemaRef) -> Result<Self> {
        Ok(match format {
            ValueFormat::Lines(Format::Json) => ValueDecoder::Lines(Box::new(RecordDecoder::json(Arc::clone(schema))?)),
            ValueFormat::Lines(Format::Csv) => {
                let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                ValueDecoder::Lines(Box::new(RecordDecoder::csv(Arc::clone(schema), &header)?))
            }
            ValueFormat::Avro(avro) => ValueDecoder::Avro(Box::new(crate::avro::AvroDecoder::new(avro, Arc::clone(schema), MAX_MESSAGES)?)),
            ValueFormat::Raw => ValueDecoder::Raw,
        })
    }

    /// Whether each message is a line of text to the decoder (JSON, CSV).
    pub(crate) fn is_lines(&self) -> bool {
        matches!(self, ValueDecoder::Lines(_))
    }

    /// Decodes one partition's gathered messages into batches of `payload`;
    /// returns them with the index and reason of each message that did not
    /// decode (in order). With `OnError::Fail` the first one stops decoding.
    pub(crate) fn decode(&mut self, gathered: &Gathered, policy: OnError, payload: &SchemaRef) -> Result<Decoded> {
        let mut decoded = Vec::new();
        let mut failed: Vec<(usize, String)> = Vec::new();
        if gathered.origins.is_empty() {
            return Ok((decoded, failed));
        }
        match self {
            ValueDecoder::Lines(decoder) => {
                let starts: Vec<usize> = gathered.origins.iter().map(|o| o.start).collect();
                decoder
                    .decode_records(&gathered.buffer, &starts, &mut decoded, &mut |offset, reason| {
                        let at = gathered.origins.partition_point(|o| o.start <= offset).saturating_sub(1);
                        failed.push((at, reason));
                        match policy {
                            OnError::Skip => Ok(()),
                            OnError::Fail => Err(ConnectorError::MalformedRecord { position: String::new(), reason: String::new() }),
                        }
                    })
                    // A stop for a failure is reported by the caller, with its position.
                    .or_else(|e| if failed.is_empty() { Err(e) } else { Ok(()) })?;
            }
            ValueDecoder::Avro(decoder) => {
                let (batch, bad) = decoder.decode(&bodies(gathered))?;
                decoded.push(batch);
                failed = bad;
            }
            ValueDecoder::Raw => {
                let mut values = Vec::with_capacity(gathered.origins.len());
                for (i, body) in bodies(gathered).into_iter().enumerate() {
                    match std::str::from_utf8(body) {
                        Ok(text) => values.push(text),
                        Err(e) => failed.push((i, format!("the value is not UTF-8: {e}"))),
                    }
                }
                let column: ArrayRef = Arc::new(StringArray::from(values));
                let batch = RecordBatch::try_new(Arc::clone(payload), vec![column])
                    .map_err(|source| ConnectorError::Arrow { context: "raw values".into(), source })?;
                decoded.push(batch);
            }
        }
        Ok((decoded, failed))
    }
}

/// A configured Kafka source.
#[derive(Debug, Clone)]
pub struct KafkaSourceSpec {
    /// Topics read.
    pub topics: Vec<String>,
    /// librdkafka configuration: `bootstrap.servers`, `group.id` and every
    /// `properties.*` option without its prefix.
    pub properties: BTreeMap<String, String>,
    /// Where to start.
    pub startup: Startup,
    /// Where to stop.
    pub bounded: Bounded,
    /// How message values are encoded.
    pub format: ValueFormat,
    /// The declared columns, metadata columns included.
    pub schema: SchemaRef,
    /// The metadata columns: their index in `schema` and what they read.
    pub metadata: Vec<(usize, KafkaMetadata)>,
    /// What to do with messages that do not decode.
    pub on_error: OnError,
    /// Where messages that do not decode go, unchanged, with headers naming
    /// the error and where they came from (`'dlq.topic'`).
    pub dlq_topic: Option<String>,
    /// Read as Flink's `upsert-kafka`: keyed values and deletions (then
    /// `schema` ends with [`crate::upsert::DELETED_COLUMN`]).
    pub upsert: Option<crate::upsert::UpsertSpec>,
}

pub(crate) fn kafka_err(context: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> ConnectorError {
    let context = context.into();
    move |e| ConnectorError::Kafka { context, reason: e.to_string() }
}

/// One assigned partition and how far it must be read.
#[derive(Debug)]
struct Assigned {
    topic: String,
    partition: i32,
    /// Stop before this offset (bounded reads).
    end: Option<i64>,
    /// The next offset to read.
    next: i64,
}

/// Where a message in a partition's decode buffer came from.
pub(crate) struct Origin {
    /// Its line's start in the buffer.
    pub start: usize,
    pub offset: i64,
    /// The message timestamp (epoch ms), if it has one.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// The value as received, kept only for the dead-letter topic.
    pub value: Option<Vec<u8>>,
}

/// The messages of one partition gathered by a poll.
#[derive(Default)]
pub(crate) struct Gathered {
    buffer: Vec<u8>,
    origins: Vec<Origin>,
    /// Messages with a null value, read by an upsert source as deletions.
    tombstones: Vec<Origin>,
    /// Messages read (decoded or not): the position moved.
    read: bool,
}

impl Gathered {
    /// Adds one message body (with a line end for line formats).
    pub(crate) fn push(&mut self, offset: i64, body: &[u8], lines: bool) {
        self.origins.push(Origin { start: self.buffer.len(), offset, timestamp: None, key: None, value: None });
        self.buffer.extend_from_slice(body);
        if lines {
            self.buffer.push(b'\n');
        }
    }
}

struct KafkaSource {
    consumer: BaseConsumer<LagContext>,
    dlq: Option<(String, BaseProducer)>,
    partitions: Vec<Assigned>,
    bounded: bool,
    decoder: ValueDecoder,
    /// The columns decoded from values.
    payload: SchemaRef,
    /// The declared columns; the decoder produces those that are not metadata.
    schema: SchemaRef,
    metadata: Vec<(usize, KafkaMetadata)>,
    on_error: OnError,
    bad: Arc<BadRecords>,
    gathered: Vec<Gathered>,
    /// Commits go to the consumer group only when the table names one.
    commits: bool,
    /// The broker is unreachable (logged once per outage).
    outage: bool,
    /// An upsert source's key decoder and row layout.
    upsert: Option<crate::upsert::Upsert>,
    /// Raised when the pipeline fails: the dead-letter producer stops waiting.
    cancel: Cancel,
    /// The longest the dead-letter producer waits (see `kafka_sink::patience`).
    patience: Duration,
}

/// Keeps the consumer lag of each partition from librdkafka's statistics.
#[derive(Default)]
struct LagContext {
    lags: std::sync::Mutex<std::collections::HashMap<(String, i32), i64>>,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let mut lags = match self.lags.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition >= 0 && p.consumer_lag >= 0 {
                    lags.insert((topic.clone(), partition), p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

impl KafkaSourceSpec {
    /// The columns decoded from message values: the declared ones without
    /// the metadata columns (and, for an upsert source, without the
    /// deletion marker and the key's columns where values do not hold them).
    pub fn payload_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .data_schema()
            .fields()
            .iter()
            .filter(|f| match &self.upsert {
                None => true,
                Some(u) => {
                    let key = u.key.iter().any(|&k| self.schema.field(k).name() == f.name());
                    f.name() != crate::upsert::DELETED_COLUMN && (u.value_has_key || !key)
                }
            })
            .map(Arc::clone)
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The declared columns that are not metadata columns.
    fn data_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.metadata.iter().any(|(m, _)| m == i))
            .map(|(_, f)| Arc::clone(f))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

impl SourceSpec for KafkaSourceSpec {
    fn resumable(&self) -> bool {
        true
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn bounded(&self) -> bool {
        self.bounded != Bounded::Unbounded
    }

    fn describe(&self) -> String {
        let servers = self.properties.get("bootstrap.servers").map(String::as_str).unwrap_or("?");
        let bounded = match self.bounded {
            Bounded::Unbounded => String::new(),
            Bounded::LatestOffset => " bounded=latest-offset".into(),
            Bounded::GroupOffsets => " bounded=group-offsets".into(),
            Bounded::Timestamp(t) => format!(" bounded=timestamp:{t}"),
        };
        let startup = match self.startup {
            Startup::Earliest => "earliest-offset".to_string(),
            Startup::Latest => "latest-offset".to_string(),
            Startup::GroupOffsets => "group-offsets".to_string(),
            Startup::Timestamp(t) => format!("timestamp:{t}"),
        };
        let connector = if self.upsert.is_some() { "upsert-kafka" } else { "kafka" };
        format!("{connector} topic={} servers={servers} startup={startup}{bounded}", self.topics.join(";"))
    }

    fn open(&self, split: Split, bad: Arc<BadRecords>, cancel: &Cancel) -> Result<Box<dyn Source>> {
        let mut config = ClientConfig::new();
        config.set("enable.auto.commit", "false").set("enable.partition.eof", "false");
        config.set("auto.offset.reset", "earliest");
        // librdkafka's statistics carry each partition's consumer lag.
        config.set("statistics.interval.ms", "5000");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        let consumer: BaseConsumer<LagContext> =
            config.create_with_context(LagContext::default()).map_err(kafka_err("creating the consumer"))?;
        let mut all: Vec<(String, i32)> = Vec::new();
        for topic in &self.topics {
            let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(kafka_err(format!("metadata of topic '{topic}'")))?;
            for t in metadata.topics() {
                if let Some(e) = t.error() {
                    return Err(ConnectorError::Kafka { context: format!("topic '{topic}'"), reason: format!("{e:?}") });
                }
                all.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
            }
        }
        all.sort();
        let mine: Vec<(String, i32)> =
            all.into_iter().enumerate().filter(|(i, _)| i % split.workers.max(1) == split.worker).map(|(_, p)| p).collect();

        let mut start = TopicPartitionList::new();
        for (topic, partition) in &mine {
            let offset = match self.startup {
                Startup::Earliest => Offset::Beginning,
                Startup::Latest => Offset::End,
                Startup::GroupOffsets => Offset::Stored,
                Startup::Timestamp(t) => Offset::Offset(t),
            };
            start.add_partition_offset(topic, *partition, offset).map_err(kafka_err("assigning partitions"))?;
        }
        if let Startup::Timestamp(_) = self.startup {
            start = consumer.offsets_for_times(start, TIMEOUT).map_err(kafka_err("offsets for scan.startup.timestamp-millis"))?;
        }
        if self.startup == Startup::GroupOffsets && !mine.is_empty() {
            let committed = consumer.committed_offsets(start.clone(), TIMEOUT).map_err(kafka_err("the group's committed offsets"))?;
            for e in committed.elements() {
                if let Offset::Offset(o) = e.offset() {
                    start.set_partition_offset(e.topic(), e.partition(), Offset::Offset(o)).map_err(kafka_err("assigning partitions"))?;
                } else {
                    start.set_partition_offset(e.topic(), e.partition(), Offset::Beginning).map_err(kafka_err("assigning partitions"))?;
                }
            }
        }
        let committed_ends = match self.bounded {
            Bounded::GroupOffsets if !mine.is_empty() => {
                let list = consumer.committed_offsets(start.clone(), TIMEOUT).map_err(kafka_err("the group's committed offsets"))?;
                list.elements().iter().map(|e| ((e.topic().to_string(), e.partition()), e.offset().to_raw().filter(|o| *o >= 0))).collect()
            }
            _ => std::collections::HashMap::new(),
        };
        let mut partitions = Vec::with_capacity(mine.len());
        for e in start.elements() {
            let (low, high) = consumer
                .fetch_watermarks(e.topic(), e.partition(), TIMEOUT)
                .map_err(kafka_err(format!("offsets of {}/{}", e.topic(), e.partition())))?;
            let next = match e.offset() {
                Offset::Offset(o) => o,
                Offset::End => high,
                _ => low,
            };
            // The lag as the reader opens; librdkafka's statistics update it.
            if let Ok(mut lags) = consumer.context().lags.lock() {
                lags.insert((e.topic().to_string(), e.partition()), (high - next).max(0));
            }
            let end = match self.bounded {
                Bounded::Unbounded => None,
                Bounded::LatestOffset => Some(high),
                Bounded::GroupOffsets => Some(committed_ends.get(&(e.topic().to_string(), e.partition())).copied().flatten().unwrap_or(next)),
                Bounded::Timestamp(t) => {
                    let mut at = TopicPartitionList::new();
                    at.add_partition_offset(e.topic(), e.partition(), Offset::Offset(t)).map_err(kafka_err("bounded timestamp"))?;
                    let found = consumer.offsets_for_times(at, TIMEOUT).map_err(kafka_err("offsets for scan.bounded.timestamp-millis"))?;
                    Some(found.elements().first().and_then(|f| f.offset().to_raw()).filter(|o| *o >= 0).unwrap_or(high))
                }
            };
            partitions.push(Assigned { topic: e.topic().to_string(), partition: e.partition(), end, next });
        }
        consumer.assign(&start).map_err(kafka_err("assigning partitions"))?;
        let dlq = match &self.dlq_topic {
            None => None,
            Some(topic) => {
                let mut config = ClientConfig::new();
                config.set("enable.idempotence", "true");
                for (k, v) in self.properties.iter().filter(|(k, _)| k.as_str() != "group.id") {
                    config.set(k, v);
                }
                let producer: BaseProducer = config.create().map_err(kafka_err(format!("creating the producer for dlq.topic '{topic}'")))?;
                Some((topic.clone(), producer))
            }
        };
        let payload = self.payload_schema();
        let decoder = ValueDecoder::new(&self.format, &payload)?;
        let upsert = match &self.upsert {
            None => None,
            Some(spec) => Some(crate::upsert::Upsert::new(spec, &self.schema, self.data_schema(), &payload)?),
        };
        let gathered = partitions.iter().map(|_| Gathered::default()).collect();
        Ok(Box::new(KafkaSource {
            consumer,
            dlq,
            partitions,
            bounded: self.bounded != Bounded::Unbounded,
            decoder,
            payload,
            schema: Arc::clone(&self.schema),
            metadata: self.metadata.clone(),
            on_error: self.on_error,
            bad,
            gathered,
            commits: self.properties.contains_key("group.id"),
            outage: false,
            upsert,
            cancel: cancel.clone(),
            patience: crate::kafka_sink::patience(&self.properties),
        }))
    }
}

impl KafkaSource {
    fn finished(&self) -> bool {
        self.bounded && self.partitions.iter().all(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Decodes the messages gathered for partition `index` into one batch
    /// of the declared columns, metadata included.
    fn decode(&mut self, index: usize, out: &mut Vec<Polled>) -> Result<()> {
        let gathered = std::mem::take(&mut self.gathered[index]);
        if !gathered.read {
            self.gathered[index] = gathered;
            return Ok(());
        }
        let position = Some(self.partitions[index].next);
        let (mut decoded, failed) = self.decoder.decode(&gathered, self.on_error, &self.payload)?;
        for (at, reason) in &failed {
            self.reject(index, &gathered.origins[*at], reason)?;
        }
        let mut bad = vec![false; gathered.origins.len()];
        for (at, _) in &failed {
            bad[*at] = true;
        }
        let kept: Vec<&Origin> = gathered.origins.iter().zip(&bad).filter(|(_, b)| !**b).map(|(o, _)| o).collect();
        let rows: usize = decoded.iter().map(RecordBatch::num_rows).sum();
        let payload = match decoded.len() {
            0 => RecordBatch::new_empty(Arc::clone(&self.payload)),
            1 => decoded.remove(0),
            _ => datafusion::arrow::compute::concat_batches(&self.payload, &decoded)
                .map_err(|source| ConnectorError::Arrow { context: "joining decoded messages".into(), source })?,
        };
        if rows != kept.len() {
            // Cannot happen: the decoders reject a message that holds no
            // record or several. Never shift rows onto other messages.
            return Err(ConnectorError::MalformedRecord {
                position: format!("{}/{}", self.partitions[index].topic, self.partitions[index].partition),
                reason: format!("{} messages decoded into {rows} records; each message must hold exactly one", kept.len()),
            });
        }
        let (batch, row_positions) = match self.upsert.as_mut() {
            None => {
                let batch = self.with_metadata(index, payload, &kept)?;
                (batch, kept.iter().map(|o| o.offset + 1).collect::<Vec<i64>>())
            }
            Some(upsert) => {
                let assembled = upsert.assemble(payload, &kept, &gathered.tombstones, self.on_error)?;
                for (origin, reason) in &assembled.failed {
                    self.reject(index, origin, reason)?;
                }
                let batch = self.with_metadata(index, assembled.batch, &assembled.origins)?;
                (batch, assembled.origins.iter().map(|o| o.offset + 1).collect())
            }
        };
        drop(kept);
        // Keep the allocations for the next poll.
        let Gathered { mut buffer, mut origins, mut tombstones, .. } = gathered;
        buffer.clear();
        origins.clear();
        tombstones.clear();
        self.gathered[index] = Gathered { buffer, origins, tombstones, read: false };
        out.push(Polled { partition: index, batch, position, row_positions });
        Ok(())
    }

    /// Counts a message that did not decode, dead-letters it, or fails.
    fn reject(&self, index: usize, origin: &Origin, reason: &str) -> Result<()> {
        let p = &self.partitions[index];
        if let (Some((topic, producer)), Some(value)) = (&self.dlq, &origin.value) {
            dead_letter(producer, topic, &p.topic, p.partition, origin, value, reason, &self.cancel, self.patience)?;
            self.bad.dead_letter();
        }
        self.bad.handle(self.on_error, format!("{}/{}@{}", p.topic, p.partition, origin.offset), reason.to_string())
    }

    /// The declared columns: the decoded ones with the metadata columns
    /// put in their places.
    fn with_metadata(&self, index: usize, payload: RecordBatch, kept: &[&Origin]) -> Result<RecordBatch> {
        if self.metadata.is_empty() {
            return Ok(payload);
        }
        let p = &self.partitions[index];
        let messages: Vec<MessageMeta<'_>> = kept
            .iter()
            .map(|o| MessageMeta { topic: &p.topic, partition: p.partition, offset: o.offset, timestamp: o.timestamp, key: o.key.as_deref() })
            .collect();
        let mut decoded = payload.columns().iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            match self.metadata.iter().find(|(m, _)| *m == i) {
                Some((_, kind)) => columns.push(metadata_column(*kind, field, &messages)?),
                None => match decoded.next() {
                    Some(c) => columns.push(Arc::clone(c)),
                    None => return Err(ConnectorError::Schema { connector: "kafka".into(), reason: "decoded too few columns".into() }),
                },
            }
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|source| ConnectorError::Arrow { context: "adding metadata columns".into(), source })
    }
}

/// What a message carries besides its value, for metadata columns.
#[derive(Debug, Clone, Copy)]
pub struct MessageMeta<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (epoch ms), if it has one.
    pub timestamp: Option<i64>,
    /// Its key, if it has one.
    pub key: Option<&'a [u8]>,
}

/// One metadata column of `field`'s declared type for `messages`: the
/// metadata's natural type cast safely (a key that is not UTF-8, read as
/// STRING, is NULL; a value that does not fit is NULL).
///
/// ```
/// use datafusion::arrow::array::{Array, AsArray};
/// use datafusion::arrow::datatypes::{DataType, Field};
/// use weir_connectors::kafka_source::{metadata_column, MessageMeta};
/// use weir_connectors::KafkaMetadata;
/// let m = |key: &'static [u8]| MessageMeta { topic: "t", partition: 0, offset: 7, timestamp: None, key: Some(key) };
/// let keys = metadata_column(KafkaMetadata::Key, &Field::new("k", DataType::Utf8, true), &[m(b"s1"), m(&[0xff])])?;
/// assert_eq!(keys.as_string::<i32>().value(0), "s1");
/// assert!(keys.is_null(1)); // not UTF-8
/// # Ok::<(), weir_connectors::ConnectorError>(())
/// ```
pub fn metadata_column(kind: KafkaMetadata, field: &datafusion::arrow::datatypes::Field, messages: &[MessageMeta<'_>]) -> Result<ArrayRef> {
    let n = messages.len();
    let natural: ArrayRef = match kind {
        KafkaMetadata::Topic => Arc::new(StringArray::from_iter_values(messages.iter().map(|m| m.topic))),
        KafkaMetadata::Partition => Arc::new(Int32Array::from_iter_values(messages.iter().map(|m| m.partition))),
        KafkaMetadata::Offset => Arc::new(Int64Array::from_iter_values(messages.iter().map(|m| m.offset))),
        KafkaMetadata::Timestamp => Arc::new(TimestampMillisecondArray::from(messages.iter().map(|m| m.timestamp).collect::<Vec<_>>()).with_timezone("UTC")),
        KafkaMetadata::Key => Arc::new(BinaryArray::from(messages.iter().map(|m| m.key).collect::<Vec<_>>())),
    };
    debug_assert_eq!(natural.len(), n);
    if natural.data_type() == field.data_type() {
        return Ok(natural);
    }
    cast_with_options(&natural, field.data_type(), &CastOptions { safe: true, ..Default::default() })
        .map_err(|source| ConnectorError::Arrow { context: format!("metadata column '{}'", field.name()), source })
}

/// Each gathered message's value, for formats that keep values whole.
fn bodies(gathered: &Gathered) -> Vec<&[u8]> {
    let ends = gathered.origins.iter().skip(1).map(|o| o.start).chain([gathered.buffer.len()]);
    gathered.origins.iter().zip(ends).map(|(o, end)| &gathered.buffer[o.start..end]).collect()
}

/// Sends a message that did not decode to the dead-letter topic, unchanged,
/// with headers saying why and where from.
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    producer: &BaseProducer,
    topic: &str,
    source_topic: &str,
    partition: i32,
    origin: &Origin,
    value: &[u8],
    reason: &str,
    cancel: &Cancel,
    patience: Duration,
) -> Result<()> {
    let partition = partition.to_string();
    let offset = origin.offset.to_string();
    let headers = OwnedHeaders::new()
        .insert(Header { key: "weir.error", value: Some(reason) })
        .insert(Header { key: "weir.source.topic", value: Some(source_topic) })
        .insert(Header { key: "weir.source.partition", value: Some(partition.as_str()) })
        .insert(Header { key: "weir.source.offset", value: Some(offset.as_str()) });
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(value).headers(headers);
    if let Some(k) = origin.key.as_deref() {
        record = record.key(k);
    }
    crate::kafka_sink::send(producer, record, cancel, patience)
}

impl Source for KafkaSource {
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus> {
        let mut polled = Vec::new();
        let status = self.poll_partitioned(&mut polled)?;
        out.extend(polled.into_iter().map(|p| p.batch).filter(|b| b.num_rows() > 0));
        Ok(status)
    }

    fn poll_partitioned(&mut self, out: &mut Vec<Polled>) -> Result<SourceStatus> {
        if self.finished() {
            return Ok(SourceStatus::Finished);
        }
        let mut read = 0;
        let mut unavailable = false;
        let keep = self.dlq.is_some();
        let wants_key = keep || self.upsert.is_some() || self.metadata.iter().any(|(_, m)| *m == KafkaMetadata::Key);
        while read < MAX_MESSAGES {
            let wait = if read == 0 { Duration::from_millis(100) } else { Duration::ZERO };
            let Some(message) = self.consumer.poll(wait) else { break };
            let message = match message {
                Ok(m) => m,
                // Transport errors and the like are librdkafka telling us it
                // is reconnecting: wait (without spinning) and go on from
                // where we were; it resumes the assigned offsets itself.
                Err(rdkafka::error::KafkaError::MessageConsumption(code)) => {
                    if !self.outage {
                        tracing::warn!(%code, "kafka: cannot read ({code}); waiting for the broker");
                        self.outage = true;
                    }
                    unavailable = true;
                    break;
                }
                Err(e) => return Err(kafka_err("reading")(e)),
            };
            if self.outage {
                tracing::info!("kafka: reading again");
                self.outage = false;
            }
            let Some(index) = self
                .partitions
                .iter()
                .position(|p| p.partition == message.partition() && p.topic == message.topic())
            else {
                continue;
            };
            let p = &mut self.partitions[index];
            if p.end.is_some_and(|end| message.offset() >= end) {
                p.next = p.next.max(message.offset() + 1);
                continue;
            }
            p.next = message.offset() + 1;
            read += 1;
            if self.upsert.is_some() && message.payload().is_none() {
                // A tombstone: the deletion of its key.
                let gathered = &mut self.gathered[index];
                gathered.read = true;
                let key = message.key().map(<[u8]>::to_vec);
                gathered.tombstones.push(Origin { start: 0, offset: message.offset(), timestamp: message.timestamp().to_millis(), key, value: None });
                continue;
            }
            let payload = message.payload().unwrap_or_default();
            let origin = Origin {
                start: self.gathered[index].buffer.len(),
                offset: message.offset(),
                timestamp: message.timestamp().to_millis(),
                key: if wants_key { message.key().map(<[u8]>::to_vec) } else { None },
                value: keep.then(|| payload.to_vec()),
            };
            self.gathered[index].read = true;
            if payload.is_empty() || (matches!(self.decoder, ValueDecoder::Lines(_)) && payload.iter().all(u8::is_ascii_whitespace)) {
                // An empty value (a tombstone) holds no record.
                self.reject(index, &origin, "the message has no value")?;
                continue;
            }
            let lines = matches!(self.decoder, ValueDecoder::Lines(_));
            let gathered = &mut self.gathered[index];
            gathered.origins.push(origin);
            if lines {
                // One record per message, whatever newlines it holds (a CSV
                // value may quote one): the decoder is told where each starts.
                gathered.buffer.extend_from_slice(payload);
                gathered.buffer.push(b'\n');
            } else {
                gathered.buffer.extend_from_slice(payload);
            }
        }
        for index in 0..self.partitions.len() {
            self.decode(index, out)?;
        }
        if let Some((_, producer)) = &self.dlq {
            producer.poll(Duration::ZERO);
        }
        if self.finished() {
            if let Some((topic, producer)) = &self.dlq {
                crate::kafka_sink::flush(producer, &format!("dlq.topic '{topic}'"), &self.cancel, self.patience)?;
            }
            return Ok(SourceStatus::Finished);
        }
        Ok(match (read, unavailable) {
            (0, true) => SourceStatus::Idle(Duration::from_millis(500)),
            (0, false) => SourceStatus::Idle(Duration::from_millis(50)),
            _ => SourceStatus::Active,
        })
    }

    fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn lag(&self) -> Vec<(usize, i64)> {
        let lags = match self.consumer.context().lags.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        self.partitions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| lags.get(&(p.topic.clone(), p.partition)).map(|lag| (i, *lag)))
            .collect()
    }

    fn partition_label(&self, partition: usize) -> Option<String> {
        self.partitions.get(partition).map(|p| format!("{}/{}", p.topic, p.partition))
    }

    fn partition_finished(&self, partition: usize) -> bool {
        self.partitions.get(partition).is_some_and(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Per partition of the split, in order: the next offset to read and
    /// where a bounded read stops (-1: it does not), so a resumed read of
    /// a bounded topic ends where the first run would have.
    fn position(&self) -> Option<Position> {
        let values = self.partitions.iter().flat_map(|p| [p.next, p.end.unwrap_or(-1)]).collect();
        let text = self.partitions.iter().map(|p| format!("{}/{} at offset {}", p.topic, p.partition, p.next)).collect::<Vec<_>>().join(", ");
        Some(Position::new(values, if text.is_empty() { "no partitions".to_string() } else { text }))
    }

    fn resume(&mut self, position: &Position) -> Result<()> {
        if position.values.len() != self.partitions.len() * 2 {
            return Err(ConnectorError::Resume(format!(
                "the checkpoint has {} partitions for this reader, the topics now give it {}: their partitions changed",
                position.values.len() / 2,
                self.partitions.len()
            )));
        }
        let mut list = TopicPartitionList::new();
        for (p, pair) in self.partitions.iter_mut().zip(position.values.chunks(2)) {
            p.next = pair[0];
            p.end = (pair[1] >= 0).then_some(pair[1]);
            list.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next)).map_err(kafka_err("resuming partitions"))?;
        }
        self.consumer.assign(&list).map_err(kafka_err("resuming partitions"))
    }

    fn commit(&mut self, positions: &[(usize, i64)], last: bool) -> Result<()> {
        if !self.commits || positions.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (index, offset) in positions {
            let Some(p) = self.partitions.get(*index) else { continue };
            list.add_partition_offset(&p.topic, p.partition, Offset::Offset(*offset)).map_err(kafka_err("committing offsets"))?;
        }
        let mode = if last { CommitMode::Sync } else { CommitMode::Async };
        match self.consumer.commit(&list, mode) {
            Ok(()) => Ok(()),
            // A commit that fails while the broker is away is retried with
            // the next one; only the final commit must succeed.
            Err(e) if !last => {
                tracing::debug!(error = %e, "kafka: offset commit failed; the next one retries");
                Ok(())
            }
            Err(e) => Err(kafka_err("committing the final offsets")(e)),
        }
    }
}
