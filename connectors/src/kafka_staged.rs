//! Exactly-once delivery to Kafka without transactions: the sink stages
//! what it writes between two checkpoint cuts and publishes it only once
//! the checkpoint that holds it is complete, each message tagged with its
//! writer, checkpoint and sequence number in headers. A crash between the
//! checkpoint and the end of publishing leaves the staged messages in the
//! checkpoint; the resumed run reads the topic's tail for its writer's
//! tags and publishes only the ones missing. Readers see every row once
//! with a plain consumer, on any broker (tansu and nisshi, the brokers
//! reachable here, do not commit transactions).
//!
//! Why the tail can be bounded: messages are published only after their
//! checkpoint completes, and the coordinator asks for the next checkpoint
//! only after publishing ended, so at a cut nothing of this writer is in
//! flight. The end offsets of every partition at the cut (the sink's
//! position) are therefore where anything published later, for this
//! checkpoint or an earlier one, begins.
//!
//! The cost: output becomes visible once per checkpoint, and what a
//! checkpoint interval writes is held in memory and in the checkpoint.
//!
//! With `'sink.transactional-id-prefix'` each checkpoint's messages are
//! also published in one Kafka transaction (for clusters that commit
//! them), so a `read_committed` reader never sees part of one; a
//! restarted writer's `init_transactions` aborts what a crashed one left
//! open, and the tail is read `read_committed` (librdkafka's default), so
//! an aborted message counts as not published.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::kafka_sink::{flush, send};
use crate::kafka_source::kafka_err;
use crate::source::{Cancel, Position};
use crate::{ConnectorError, Result};

/// The headers every staged message carries.
pub const WRITER_HEADER: &str = "weir.writer";
/// The checkpoint whose completion published the message.
pub const CHECKPOINT_HEADER: &str = "weir.checkpoint";
/// The message's place among its writer's messages of that checkpoint.
pub const SEQUENCE_HEADER: &str = "weir.seq";

/// How long one metadata or offsets request may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);

/// One message: its key (if any) and value.
pub(crate) type Staged = (Option<Vec<u8>>, Vec<u8>);

/// The messages of one checkpoint, not yet published.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sealed {
    pub(crate) checkpoint: u64,
    pub(crate) messages: Vec<Staged>,
}

/// What one writer has staged: shared by the sink (which seals) and its
/// publisher (which runs when a checkpoint completes).
pub(crate) struct Stage {
    pub(crate) topic: String,
    pub(crate) writer: String,
    pub(crate) sealed: Mutex<Vec<Sealed>>,
    pub(crate) cancel: Cancel,
    pub(crate) patience: Duration,
    /// Publish each checkpoint in one transaction (the producer has a
    /// `transactional.id` and has called `init_transactions`).
    pub(crate) transactional: bool,
}

/// A lock that a panic elsewhere did not poison for good: the data is
/// plain values, valid after any panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Stage {
    /// Seals `pending` as checkpoint `checkpoint`'s output and encodes
    /// everything sealed and not yet published, for the checkpoint.
    pub(crate) fn seal(&self, checkpoint: u64, pending: Vec<Staged>) -> Vec<u8> {
        let mut sealed = lock(&self.sealed);
        if !pending.is_empty() {
            sealed.push(Sealed { checkpoint, messages: pending });
        }
        encode(&sealed)
    }

    /// Publishes every sealed message of a checkpoint up to `checkpoint`
    /// (now complete), skipping the `(checkpoint, sequence)` pairs in
    /// `published`, and waits for the broker to acknowledge them.
    pub(crate) fn publish<C: ProducerContext<DeliveryOpaque = ()>>(
        &self,
        producer: &BaseProducer<C>,
        checkpoint: u64,
        published: &HashSet<(u64, u64)>,
    ) -> Result<()> {
        let now: Vec<Sealed> = {
            let mut sealed = lock(&self.sealed);
            let (now, later) = std::mem::take(&mut *sealed).into_iter().partition(|s| s.checkpoint <= checkpoint);
            *sealed = later;
            now
        };
        if now.iter().all(|b| b.messages.is_empty()) {
            return Ok(());
        }
        let txn = |e| kafka_err(format!("a transaction on '{}'", self.topic))(e);
        if self.transactional {
            producer.begin_transaction().map_err(txn)?;
        }
        let sent = self.send_all(producer, &now, published);
        let sent = sent.and_then(|()| flush(producer, &format!("'{}'", self.topic), &self.cancel, self.patience));
        match sent {
            Ok(()) if self.transactional => producer.commit_transaction(TIMEOUT).map_err(txn),
            Ok(()) => Ok(()),
            Err(e) => {
                if self.transactional {
                    let _ = producer.abort_transaction(TIMEOUT);
                }
                Err(e)
            }
        }
    }

    fn send_all<C: ProducerContext<DeliveryOpaque = ()>>(
        &self,
        producer: &BaseProducer<C>,
        now: &[Sealed],
        published: &HashSet<(u64, u64)>,
    ) -> Result<()> {
        for batch in now {
            let tag = batch.checkpoint.to_string();
            for (seq, (key, value)) in batch.messages.iter().enumerate() {
                if published.contains(&(batch.checkpoint, seq as u64)) {
                    continue;
                }
                let seq = seq.to_string();
                let headers = OwnedHeaders::new()
                    .insert(Header { key: WRITER_HEADER, value: Some(self.writer.as_bytes()) })
                    .insert(Header { key: CHECKPOINT_HEADER, value: Some(tag.as_bytes()) })
                    .insert(Header { key: SEQUENCE_HEADER, value: Some(seq.as_bytes()) });
                let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).payload(value.as_slice()).headers(headers);
                if let Some(k) = key {
                    record = record.key(k.as_slice());
                }
                // On an error the run fails, and a restart publishes from
                // the checkpoint what did not get through.
                send(producer, record, &self.cancel, self.patience)?;
            }
        }
        Ok(())
    }
}

/// How many partitions `topic` has now.
fn partitions<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>, topic: &str) -> Result<usize> {
    let metadata = client.fetch_metadata(Some(topic), TIMEOUT).map_err(kafka_err(format!("the partitions of '{topic}'")))?;
    Ok(metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0))
}

/// Every partition's end offset now: the position of a staging writer at
/// a cut.
pub(crate) fn end_offsets<C: ProducerContext>(producer: &BaseProducer<C>, topic: &str) -> Result<Position> {
    let client = producer.client();
    let partitions = partitions(client, topic)?;
    let mut ends = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let p = i32::try_from(p).unwrap_or(i32::MAX);
        let (_, high) = client.fetch_watermarks(topic, p, TIMEOUT).map_err(kafka_err(format!("the end offset of {topic}/{p}")))?;
        ends.push(high);
    }
    let text = format!("{topic} ends at {}", ends.iter().enumerate().map(|(p, o)| format!("{p}:{o}")).collect::<Vec<_>>().join(" "));
    Ok(Position::new(ends, text))
}

/// The `(checkpoint, sequence)` pairs `writer` published to `topic` after
/// `from` (each partition's end offset at the cut; a partition added
/// since starts at 0), read with a plain consumer up to the ends now.
pub(crate) fn published(
    properties: &BTreeMap<String, String>,
    topic: &str,
    writer: &str,
    from: &Position,
    cancel: &Cancel,
) -> Result<HashSet<(u64, u64)>> {
    let mut config = ClientConfig::new();
    for (k, v) in properties {
        config.set(k, v);
    }
    config.set("group.id", format!("weir-recovery-{writer}")).set("enable.auto.commit", "false").set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create().map_err(kafka_err(format!("creating a consumer to read back '{topic}'")))?;
    let partitions = partitions(consumer.client(), topic)?;
    let mut assignment = TopicPartitionList::new();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for p in 0..partitions {
        let start = from.value(p).unwrap_or(0);
        let p = i32::try_from(p).unwrap_or(i32::MAX);
        let (_, high) = consumer.fetch_watermarks(topic, p, TIMEOUT).map_err(kafka_err(format!("the end offset of {topic}/{p}")))?;
        if high > start {
            assignment.add_partition_offset(topic, p, Offset::Offset(start)).map_err(kafka_err("assigning partitions"))?;
            ends.insert(p, high);
        }
    }
    let mut found = HashSet::new();
    if ends.is_empty() {
        return Ok(found);
    }
    consumer.assign(&assignment).map_err(kafka_err(format!("reading back '{topic}'")))?;
    let started = Instant::now();
    let patience = crate::kafka_sink::patience(properties);
    while !ends.is_empty() {
        if cancel.aborted() {
            return Err(ConnectorError::Kafka { context: format!("reading back '{topic}'"), reason: "the pipeline stopped".into() });
        }
        if started.elapsed() > patience {
            return Err(ConnectorError::Kafka {
                context: format!("reading back '{topic}'"),
                reason: format!("its tail was not read within {} s", patience.as_secs()),
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message.map_err(kafka_err(format!("reading back '{topic}'")))?;
        if let Some(end) = ends.get(&message.partition())
            && message.offset() + 1 >= *end
        {
            ends.remove(&message.partition());
        }
        if let Some(tag) = tag_of(&message, writer) {
            found.insert(tag);
        }
    }
    Ok(found)
}

/// The `(checkpoint, sequence)` of a message `writer` published.
fn tag_of<M: Message>(message: &M, writer: &str) -> Option<(u64, u64)> {
    let headers = message.headers()?;
    let mut mine = false;
    let (mut checkpoint, mut seq) = (None, None);
    for h in headers.iter() {
        let text = h.value.and_then(|v| std::str::from_utf8(v).ok());
        match h.key {
            WRITER_HEADER => mine = text == Some(writer),
            CHECKPOINT_HEADER => checkpoint = text.and_then(|t| t.parse().ok()),
            SEQUENCE_HEADER => seq = text.and_then(|t| t.parse().ok()),
            _ => {}
        }
    }
    if mine { checkpoint.zip(seq) } else { None }
}

/// Sealed batches as bytes: a count, then per batch its checkpoint and
/// messages, each a key (length `u32::MAX` for none) and a value, all
/// lengths little-endian.
pub(crate) fn encode(sealed: &[Sealed]) -> Vec<u8> {
    let mut out = Vec::new();
    let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX - 1).to_le_bytes());
    out.extend_from_slice(&(sealed.len() as u64).to_le_bytes());
    for batch in sealed {
        out.extend_from_slice(&batch.checkpoint.to_le_bytes());
        out.extend_from_slice(&(batch.messages.len() as u64).to_le_bytes());
        for (key, value) in &batch.messages {
            match key {
                Some(k) => {
                    len(&mut out, k.len());
                    out.extend_from_slice(k);
                }
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
            len(&mut out, value.len());
            out.extend_from_slice(value);
        }
    }
    out
}

/// Reads [`encode`]'s bytes in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or_else(damaged)?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn word(&mut self) -> Result<u64> {
        self.take(8)?.try_into().map(u64::from_le_bytes).map_err(|_| damaged())
    }

    fn half(&mut self) -> Result<u32> {
        self.take(4)?.try_into().map(u32::from_le_bytes).map_err(|_| damaged())
    }
}

fn damaged() -> ConnectorError {
    ConnectorError::Resume("the Kafka sink's staged messages in the checkpoint are damaged".into())
}

/// The inverse of [`encode`]; damaged bytes are an error, never a guess.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Sealed>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader { bytes, at: 0 };
    let batches = r.word()?;
    let mut sealed = Vec::new();
    for _ in 0..batches {
        let checkpoint = r.word()?;
        let count = r.word()?;
        let mut messages = Vec::new();
        for _ in 0..count {
            let key = match r.half()? {
                u32::MAX => None,
                n => Some(r.take(n as usize)?.to_vec()),
            };
            let n = r.half()? as usize;
            messages.push((key, r.take(n)?.to_vec()));
        }
        sealed.push(Sealed { checkpoint, messages });
    }
    if r.at != bytes.len() {
        return Err(damaged());
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use rdkafka::mocking::MockCluster;

    use super::*;
    use crate::kafka_sink::{DeliveryGuarantee, KafkaFormat, KafkaSinkSpec};
    use crate::source::{Resume, SinkSpec, Split};

    fn rows(from: i64, to: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(from..to))]).unwrap()
    }

    /// Every value in `topic`, with its checkpoint header, sorted.
    fn read_all(bootstrap: &str, topic: &str, expected: usize) -> Vec<(String, u64)> {
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", "test").create().unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in 0..2 {
            assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut got = Vec::new();
        let mut idle = 0;
        // Polls until the expected count and then 1 s without more.
        while idle < 10 || got.len() < expected {
            assert!(idle < 300, "read {} of {expected} messages", got.len());
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    idle = 0;
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                    let checkpoint = m
                        .headers()
                        .and_then(|h| h.iter().find(|h| h.key == CHECKPOINT_HEADER).and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned())))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(u64::MAX);
                    got.push((value, checkpoint));
                }
                _ => idle += 1,
            }
        }
        got.sort();
        got
    }

    /// A writer that crashed after publishing checkpoint 1 and one that
    /// crashed before publishing checkpoint 2: resumed from each, the
    /// topic holds every row once (with and without transactions, on
    /// librdkafka's mock cluster, which commits them).
    #[test]
    fn a_resumed_writer_publishes_each_staged_message_once() {
        for prefix in [None, Some("weir-test")] {
            let cluster = MockCluster::new(1).unwrap();
            cluster.create_topic("out", 2, 1).unwrap();
            let bootstrap = cluster.bootstrap_servers();
            let spec = KafkaSinkSpec {
                topic: "out".into(),
                properties: [("bootstrap.servers".to_string(), bootstrap.clone())].into(),
                key_fields: vec!["n".into()],
                format: KafkaFormat::Json,
                guarantee: DeliveryGuarantee::ExactlyOnce,
                transactional_id_prefix: prefix.map(str::to_string),
            };
            let (split, cancel) = (Split { worker: 0, workers: 1 }, Cancel::default());
            assert!(spec.open(split, &cancel).is_err(), "exactly once needs a writer name (checkpoints)");
            let mut sink = spec.open_from(split, &cancel, "w", None).unwrap();
            sink.write(&rows(0, 10)).unwrap();
            let cut1 = (sink.position().unwrap().unwrap(), sink.seal(1).unwrap());
            sink.write(&rows(10, 15)).unwrap();
            // Checkpoint 1 completes: its rows are published, not the later ones.
            sink.publisher().unwrap()(1).unwrap();
            assert_eq!(read_all(&bootstrap, "out", 10).len(), 10);
            drop(sink);
            // Resumed from checkpoint 1, after it was published: nothing again.
            let mut sink = spec.open_from(split, &cancel, "w", Some(Resume { position: &cut1.0, staged: &cut1.1 })).unwrap();
            sink.write(&rows(10, 20)).unwrap();
            let cut2 = (sink.position().unwrap().unwrap(), sink.seal(2).unwrap());
            drop(sink);
            // Resumed from checkpoint 2, never published: its rows now, once.
            let sink = spec.open_from(split, &cancel, "w", Some(Resume { position: &cut2.0, staged: &cut2.1 })).unwrap();
            drop(sink);
            let sink = spec.open_from(split, &cancel, "w", Some(Resume { position: &cut2.0, staged: &cut2.1 })).unwrap();
            drop(sink);
            let got = read_all(&bootstrap, "out", 20);
            let mut want: Vec<(String, u64)> = (0..20).map(|n| (format!("{{\"n\":{n}}}"), if n < 10 { 1 } else { 2 })).collect();
            want.sort();
            assert_eq!(got, want, "transactional id prefix {prefix:?}");
        }
    }

    #[test]
    fn staged_messages_read_back_and_damage_is_an_error() {
        let sealed = vec![
            Sealed { checkpoint: 3, messages: vec![(Some(b"k".to_vec()), b"{\"a\":1}".to_vec()), (None, Vec::new())] },
            Sealed { checkpoint: 4, messages: vec![(Some(Vec::new()), b"x".to_vec())] },
        ];
        let bytes = encode(&sealed);
        assert_eq!(decode(&bytes).unwrap(), sealed);
        assert_eq!(decode(&[]).unwrap(), Vec::new());
        for cut in [1, 8, 20, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}
