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
//! Bounded reads (`'scan.bounded.mode' = 'latest-offset'`) note each
//! partition's high watermark when the reader opens and finish when every
//! assigned partition has reached it, so backfills and tests end by
//! themselves. Every `properties.*` option goes to librdkafka unchanged
//! (security, SASL, SSL, tuning).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::decode::{Format, RecordDecoder};
use crate::source::{BadRecords, OnError, Source, SourceSpec, SourceStatus, Split};
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
    /// The first message after this time (epoch ms).
    Timestamp(i64),
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
    /// JSON or CSV payloads.
    pub format: Format,
    /// The declared columns.
    pub schema: SchemaRef,
    /// What to do with messages that do not decode.
    pub on_error: OnError,
    /// Where messages that do not decode go, unchanged, with headers naming
    /// the error and where they came from (`'dlq.topic'`).
    pub dlq_topic: Option<String>,
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

/// Where a message in the decode buffer came from.
struct Origin {
    /// Its line's start in the buffer.
    start: usize,
    topic: String,
    partition: i32,
    offset: i64,
    /// The message as received, kept only for the dead-letter topic.
    original: Option<(Option<Vec<u8>>, Vec<u8>)>,
}

impl Origin {
    fn position(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

struct KafkaSource {
    consumer: BaseConsumer,
    dlq: Option<(String, BaseProducer)>,
    partitions: Vec<Assigned>,
    bounded: bool,
    decoder: RecordDecoder,
    on_error: OnError,
    bad: Arc<BadRecords>,
    buffer: Vec<u8>,
    origins: Vec<Origin>,
    /// The broker is unreachable (logged once per outage).
    outage: bool,
}

impl SourceSpec for KafkaSourceSpec {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn describe(&self) -> String {
        let servers = self.properties.get("bootstrap.servers").map(String::as_str).unwrap_or("?");
        let bounded = match self.bounded {
            Bounded::Unbounded => String::new(),
            Bounded::LatestOffset => " bounded=latest-offset".into(),
            Bounded::Timestamp(t) => format!(" bounded=timestamp:{t}"),
        };
        let startup = match self.startup {
            Startup::Earliest => "earliest-offset".to_string(),
            Startup::Latest => "latest-offset".to_string(),
            Startup::GroupOffsets => "group-offsets".to_string(),
            Startup::Timestamp(t) => format!("timestamp:{t}"),
        };
        format!("kafka topic={} servers={servers} startup={startup}{bounded}", self.topics.join(";"))
    }

    fn open(&self, split: Split, bad: Arc<BadRecords>) -> Result<Box<dyn Source>> {
        let mut config = ClientConfig::new();
        config.set("enable.auto.commit", "false").set("enable.partition.eof", "false");
        config.set("auto.offset.reset", "earliest");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        let consumer: BaseConsumer = config.create().map_err(kafka_err("creating the consumer"))?;
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
            let end = match self.bounded {
                Bounded::Unbounded => None,
                Bounded::LatestOffset => Some(high),
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
        let decoder = match self.format {
            Format::Json => RecordDecoder::json(Arc::clone(&self.schema))?,
            Format::Csv => {
                let header: Vec<String> = self.schema.fields().iter().map(|f| f.name().clone()).collect();
                RecordDecoder::csv(Arc::clone(&self.schema), &header)?
            }
        };
        Ok(Box::new(KafkaSource {
            consumer,
            dlq,
            partitions,
            bounded: self.bounded != Bounded::Unbounded,
            decoder,
            on_error: self.on_error,
            bad,
            buffer: Vec::new(),
            origins: Vec::new(),
            outage: false,
        }))
    }
}

impl KafkaSource {
    fn finished(&self) -> bool {
        self.bounded && self.partitions.iter().all(|p| p.end.is_some_and(|end| p.next >= end))
    }

    fn decode(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut failures: Vec<(usize, String)> = Vec::new();
        let policy = self.on_error;
        let buffer = std::mem::take(&mut self.buffer);
        let result = self.decoder.decode(&buffer, out, &mut |offset, reason| {
            failures.push((offset, reason));
            match policy {
                OnError::Skip => Ok(()),
                OnError::Fail => Err(ConnectorError::MalformedRecord { position: String::new(), reason: String::new() }),
            }
        });
        for (offset, reason) in failures {
            let at = self.origins.partition_point(|o| o.start <= offset);
            let Some(origin) = at.checked_sub(1).and_then(|i| self.origins.get(i)) else { continue };
            if let (Some((topic, producer)), Some((key, value))) = (&self.dlq, &origin.original) {
                dead_letter(producer, topic, origin, key.as_deref(), value, &reason)?;
            }
            self.bad.handle(self.on_error, origin.position(), reason)?;
        }
        self.origins.clear();
        self.buffer = buffer;
        self.buffer.clear();
        result
    }
}

/// Sends a message that did not decode to the dead-letter topic, unchanged,
/// with headers saying why and where from.
fn dead_letter(producer: &BaseProducer, topic: &str, origin: &Origin, key: Option<&[u8]>, value: &[u8], reason: &str) -> Result<()> {
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    let headers = OwnedHeaders::new()
        .insert(Header { key: "weir.error", value: Some(reason) })
        .insert(Header { key: "weir.source.topic", value: Some(origin.topic.as_str()) })
        .insert(Header { key: "weir.source.partition", value: Some(partition.as_str()) })
        .insert(Header { key: "weir.source.offset", value: Some(offset.as_str()) });
    loop {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(value).headers(headers.clone());
        if let Some(k) = key {
            record = record.key(k);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::error::RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(kafka_err(format!("sending to dlq.topic '{topic}'"))(e)),
        }
    }
}

impl Source for KafkaSource {
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus> {
        if self.finished() {
            return Ok(SourceStatus::Finished);
        }
        let mut read = 0;
        let mut unavailable = false;
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
            let Some(p) = self
                .partitions
                .iter_mut()
                .find(|p| p.partition == message.partition() && p.topic == message.topic())
            else {
                continue;
            };
            if p.end.is_some_and(|end| message.offset() >= end) {
                p.next = p.next.max(message.offset() + 1);
                continue;
            }
            p.next = message.offset() + 1;
            read += 1;
            let payload = message.payload().unwrap_or_default();
            let original = self.dlq.as_ref().map(|_| (message.key().map(<[u8]>::to_vec), payload.to_vec()));
            self.origins.push(Origin {
                start: self.buffer.len(),
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
                original,
            });
            // One record per message: a raw newline is never valid inside a
            // JSON string, so it is whitespace and can be replaced.
            self.buffer.extend(payload.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
            self.buffer.push(b'\n');
        }
        self.decode(out)?;
        if let Some((_, producer)) = &self.dlq {
            producer.poll(Duration::ZERO);
        }
        if self.finished() {
            if let Some((topic, producer)) = &self.dlq {
                producer.flush(Duration::from_secs(60)).map_err(kafka_err(format!("flushing dlq.topic '{topic}'")))?;
            }
            return Ok(SourceStatus::Finished);
        }
        Ok(match (read, unavailable) {
            (0, true) => SourceStatus::Idle(Duration::from_millis(500)),
            (0, false) => SourceStatus::Idle(Duration::from_millis(50)),
            _ => SourceStatus::Active,
        })
    }
}
