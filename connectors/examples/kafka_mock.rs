//! Kafka where the broker is not the limit: librdkafka's mock cluster
//! (in memory, on loopback ports), for `benches/kafka-mock.sh`.
//!
//! ```text
//! kafka_mock WEIR FILE PARTITIONS
//! ```
//!
//! Fills a topic `traffic` of PARTITIONS partitions with FILE's lines (one
//! message each), then measures, in one run against the same cluster:
//! a raw librdkafka consumer loop that only counts the messages (the
//! baseline for Weir's source) and `WEIR run` reading the topic into
//! Arrow batches and a blackhole, on 1 and 2 workers; a raw producer loop
//! writing the lines to a topic (the baseline for Weir's sink) and `WEIR
//! run` writing the file's rows to a topic as JSON. Each is best of 3;
//! every topic written is read back and counted. Prints Markdown.
//!
//! The tansu benchmark (`benches/kafka.sh`) measures a real broker, whose
//! SQLite storage is the bottleneck there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

type Failure = Box<dyn std::error::Error>;

/// Partitions of the topics written: the mock broker keeps at most 5 MB
/// and 100,000 messages per partition (older ones are dropped), and Weir's
/// sink partitions by sensor, so many partitions keep every key's
/// messages.
const OUT_PARTITIONS: i32 = 256;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let [_, weir, file, partitions] = args.as_slice() else {
        return Err("usage: kafka_mock WEIR FILE PARTITIONS".into());
    };
    let partitions: i32 = partitions.parse()?;
    let lines: Vec<String> = BufReader::new(std::fs::File::open(file)?).lines().collect::<Result<_, _>>()?;
    let n = lines.len();
    let cluster = MockCluster::new(1)?;
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("traffic", partitions, 1)?;
    produce(&bootstrap, "traffic", partitions, &lines)?;

    println!("{n} messages ({} MB) in {partitions} partitions of librdkafka's mock cluster\n", lines.iter().map(|l| l.len()).sum::<usize>() / 1_000_000);
    println!("| run | seconds (best of 3) | messages/s | × raw |");
    println!("|---|---|---|---|");
    let raw = best(|| {
        let t = Instant::now();
        let counted = count(&bootstrap, "traffic", partitions)?;
        check(counted, n, "raw consumer")?;
        Ok(t.elapsed())
    })?;
    row("raw librdkafka consumer loop (counts only; baseline)", raw, n, raw);
    let dir = tempfile_dir()?;
    let columns = "sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL, volume BIGINT NOT NULL, \
                   occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL";
    for workers in [1, 2] {
        let mut run = 0;
        let secs = best(|| {
            run += 1;
            let sql = format!(
                "CREATE TABLE traffic ({columns}) WITH ('connector' = 'kafka', 'topic' = 'traffic', \
                   'properties.bootstrap.servers' = '{bootstrap}', 'properties.group.id' = 'weir-{workers}-{run}', \
                   'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
                 CREATE TABLE out WITH ('connector' = 'blackhole');
                 INSERT INTO out SELECT * FROM traffic;"
            );
            weir_run(weir, &dir.join("source.sql"), &sql, workers)
        })?;
        row(&format!("Weir: Kafka -> Arrow -> blackhole, {workers} worker(s)"), secs, n, raw);
    }

    let mut topic = 0;
    let raw_out = best(|| {
        topic += 1;
        let name = format!("raw-{topic}");
        cluster.create_topic(&name, OUT_PARTITIONS, 1)?;
        let t = Instant::now();
        produce(&bootstrap, &name, OUT_PARTITIONS, &lines)?;
        let secs = t.elapsed();
        check(count(&bootstrap, &name, OUT_PARTITIONS)?, n, "raw producer")?;
        Ok(secs)
    })?;
    row("raw librdkafka producer loop (baseline)", raw_out, n, raw_out);
    for workers in [1, 2] {
        let secs = best(|| {
            topic += 1;
            let name = format!("weir-{topic}");
            cluster.create_topic(&name, OUT_PARTITIONS, 1)?;
            let sql = format!(
                "CREATE TABLE traffic ({columns}) WITH ('connector' = 'file', 'path' = '{file}', 'format' = 'json');
                 CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = '{name}', 'properties.bootstrap.servers' = '{bootstrap}',
                   'format' = 'json', 'key.fields' = 'sensor_id');
                 INSERT INTO out SELECT * FROM traffic;"
            );
            let secs = weir_run(weir, &dir.join("sink.sql"), &sql, workers)?;
            check(count(&bootstrap, &name, OUT_PARTITIONS)?, n, "Weir's sink")?;
            Ok(secs)
        })?;
        row(&format!("Weir: file -> Arrow -> Kafka (JSON), {workers} worker(s)"), secs, n, raw_out);
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Counts the deliveries that failed, keeping the first error.
#[derive(Default)]
struct Deliveries {
    failed: std::sync::Mutex<(usize, Option<String>)>,
}

impl rdkafka::ClientContext for Deliveries {}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.0 += 1;
            failed.1.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Produces every line to `topic`, round robin over its `partitions`, and
/// waits for all of them to be acknowledged; a failed delivery is an error.
fn produce(bootstrap: &str, topic: &str, partitions: i32, lines: &[String]) -> Result<(), Failure> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries::default())?;
    for (i, line) in lines.iter().enumerate() {
        let partition = i32::try_from(i % usize::try_from(partitions)?)?;
        let mut record = BaseRecord::<(), String>::to(topic).payload(line).partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    let failed = producer.context().failed.lock().map_err(|_| "a poisoned lock")?.clone();
    match failed {
        (0, _) => Ok(()),
        (n, first) => Err(format!("{n} of {} deliveries to {topic} failed; the first: {}", lines.len(), first.unwrap_or_default()).into()),
    }
}

/// Reads `topic` from the beginning to its end (the partitions' high
/// watermarks when it starts) and counts the messages.
fn count(bootstrap: &str, topic: &str, partitions: i32) -> Result<usize, Failure> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "count")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut end = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        end += usize::try_from(high - low)?;
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let (mut n, deadline) = (0, Instant::now() + Duration::from_secs(120));
    while n < end {
        if Instant::now() > deadline {
            return Err(format!("{topic}: {n} of {end} messages after 120 s").into());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => n += 1,
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(n)
}

/// Runs `weir run` on `sql` (written to `path`) with `workers` workers.
fn weir_run(weir: &str, path: &Path, sql: &str, workers: usize) -> Result<Duration, Failure> {
    std::fs::write(path, sql)?;
    let t = Instant::now();
    let status = Command::new(weir)
        .args(["run", "-q", "-w", &workers.to_string(), "--metrics-addr", "off"])
        .arg(path)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("weir run {} failed: {status}", path.display()).into());
    }
    Ok(t.elapsed())
}

fn best(mut f: impl FnMut() -> Result<Duration, Failure>) -> Result<Duration, Failure> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(f()?);
    }
    Ok(best)
}

fn check(got: usize, want: usize, what: &str) -> Result<(), Failure> {
    if got == want { Ok(()) } else { Err(format!("{what}: {got} messages, expected {want}").into()) }
}

fn row(name: &str, secs: Duration, n: usize, baseline: Duration) {
    let s = secs.as_secs_f64();
    println!("| {name} | {s:.3} | {:.0} | {:.2} |", n as f64 / s, baseline.as_secs_f64() / s);
}

fn tempfile_dir() -> Result<std::path::PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("weir-kafka-mock-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
