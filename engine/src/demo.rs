//! `weir demo`: the main example, fed through Kafka on this machine.
//!
//! Starts a Kafka-protocol broker (tansu, the one the test suite uses) on a
//! free loopback port with its storage in a temporary directory, produces
//! the example's generator stream into the topic `traffic` with a Weir
//! pipeline (Kafka sink, keyed by sensor), and runs `examples/traffic.sql`
//! with its source table switched to that topic. The bootstrap address is
//! printed, so people can attach their own producers and consumers while it
//! runs. The example text is compiled in, so the demo runs from anywhere.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The main example.
pub(crate) const EXAMPLE: &str = include_str!("../../examples/traffic.sql");

/// How `weir demo` runs.
#[derive(Debug, Clone)]
pub(crate) struct DemoOptions {
    /// Produce everything first, then read it to the end and exit (for
    /// tests and scripts) instead of running until Ctrl-C.
    pub(crate) bounded: bool,
    /// Overrides the generator's events per second (0: unpaced).
    pub(crate) rate: Option<f64>,
    /// Partitions of the `traffic` topic.
    pub(crate) partitions: u32,
}

/// Where the tansu broker binary is: `$WEIR_TANSU`, the test suite's
/// cache, or `tansu` on the PATH.
pub(crate) fn tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WEIR_TANSU") {
        return Some(PathBuf::from(path));
    }
    let cached = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir/tools/bin/tansu"));
    if let Some(c) = cached.filter(|c| c.exists()) {
        return Some(c);
    }
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("tansu")).find(|p| p.exists()))
}

/// A tansu broker on loopback, stopped when dropped.
pub(crate) struct Broker {
    child: Child,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    /// Starts tansu with SQLite storage in a fresh temporary directory.
    pub(crate) fn start(binary: PathBuf) -> anyhow::Result<Broker> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("finding a free port")?.port();
        let dir = std::env::temp_dir().join(format!("weir-demo-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let log = std::fs::File::create(dir.join("broker.log")).context("creating the broker's log")?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "sqlite://broker.db"])
            .current_dir(&dir)
            .stdout(Stdio::from(log.try_clone().context("opening the broker's log")?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut broker = Broker { child, binary, port, dir };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                bail!("the broker exited ({status}); its log: {}", broker.dir.join("broker.log").display());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the broker did not listen within 30 s; its log: {}", broker.dir.join("broker.log").display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(broker)
    }

    /// `host:port` for `properties.bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic.
    pub(crate) fn create_topic(&self, name: &str, partitions: u32) -> anyhow::Result<()> {
        let status = Command::new(&self.binary)
            .args(["topic", "create", name, "--partitions", &partitions.to_string(), "--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .status()
            .context("running tansu topic create")?;
        if !status.success() {
            bail!("creating topic '{name}' failed ({status})");
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example's source table, cut into what comes before its `WITH`
/// clause, the clause's options, and the rest of the file.
fn split_example(example: &str) -> anyhow::Result<(&str, &str, &str)> {
    let connector = example.find("'connector' = 'generator'").context("the example has no generator table")?;
    let with = example[..connector].rfind("WITH (").context("the generator table has no WITH clause")?;
    let close = example[connector..].find(");").context("the generator table's WITH clause does not end")? + connector;
    Ok((&example[..with], &example[with + "WITH (".len()..close], &example[close + ");".len()..]))
}

/// The generator's options with `'rate'` replaced.
fn with_rate(options: &str, rate: Option<f64>) -> String {
    let Some(rate) = rate else { return options.to_string() };
    options
        .split(',')
        .map(|o| if o.trim().starts_with("'rate'") { format!("\n  'rate' = '{rate}'") } else { o.to_string() })
        .collect::<Vec<_>>()
        .join(",")
}

/// The producing pipeline and the example reading from Kafka.
pub(crate) fn pipelines(example: &str, bootstrap: &str, options: &DemoOptions) -> anyhow::Result<(String, String)> {
    let (head, generator, rest) = split_example(example)?;
    let produce = format!(
        "{head}WITH ({});\n\
         CREATE TABLE traffic_topic WITH ('connector' = 'kafka', 'topic' = 'traffic', \
           'properties.bootstrap.servers' = '{bootstrap}', 'format' = 'json', 'key.fields' = 'sensor_id');\n\
         INSERT INTO traffic_topic SELECT * FROM traffic;\n",
        with_rate(generator, options.rate)
    );
    let bounded = if options.bounded { ",\n  'scan.bounded.mode' = 'latest-offset'" } else { "" };
    // The example's other generator tables (its labels) keep pace with
    // the produced readings.
    let rest: String = match options.rate {
        Some(rate) => rest
            .lines()
            .map(|l| match l.trim_start().starts_with("'rate' =") {
                true => format!("  'rate' = '{rate}'{}", if l.trim_end().ends_with(',') { "," } else { "" }),
                false => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => rest.to_string(),
    };
    let consume = format!(
        "{head}WITH (\n  'connector' = 'kafka',\n  'topic' = 'traffic',\n  'properties.bootstrap.servers' = '{bootstrap}',\n  \
         'properties.group.id' = 'weir-demo',\n  'format' = 'json',\n  'scan.startup.mode' = 'earliest-offset',\n  \
         'scan.watermark.idle-timeout' = '2 s'{bounded}\n);{rest}"
    );
    Ok((produce, consume))
}

/// Runs the demo: broker, producer, and the example reading from Kafka,
/// reported by `report` (the same summary `weir run` prints).
pub(crate) fn run(
    options: DemoOptions,
    stop: Arc<AtomicBool>,
    report: impl FnOnce(weir_engine::Pipeline, &str, Arc<AtomicBool>) -> anyhow::Result<std::process::ExitCode>,
) -> anyhow::Result<std::process::ExitCode> {
    let Some(binary) = tansu() else {
        bail!(
            "weir demo needs the tansu broker (a Kafka-protocol broker from crates.io); \
             `bash scripts/demo.sh` installs it and runs the demo, or install it yourself with \
             `cargo install tansu --version 0.6.0 --locked --features libsql` (about 9 minutes on 2 cores)"
        );
    };
    let broker = Broker::start(binary)?;
    broker.create_topic("traffic", options.partitions)?;
    let bootstrap = broker.bootstrap();
    let (produce, consume) = pipelines(EXAMPLE, &bootstrap, &options)?;
    eprintln!("weir demo: a Kafka-protocol broker (tansu) is listening on {bootstrap}");
    eprintln!("weir demo: topic 'traffic' ({} partitions) gets the generator's readings, keyed by sensor_id", options.partitions);
    eprintln!("weir demo: attach your own producer or consumer with bootstrap.servers={bootstrap}, e.g.");
    eprintln!("weir demo:   kcat -b {bootstrap} -t traffic -C -c 5   (librdkafka 2.1 or later)");
    let producer_stop = Arc::new(AtomicBool::new(false));
    let plan = weir_engine::plan_pipeline(&produce).map_err(|e| anyhow::anyhow!("the demo's producer pipeline: {e}"))?;
    let producing = {
        let stop = Arc::clone(&producer_stop);
        std::thread::spawn(move || weir_engine::run(plan, weir_engine::RunOptions { stop, ..weir_engine::RunOptions::default().workers(1) }))
    };
    if options.bounded {
        // Everything first, so that the bounded read finds it all.
        match producing.join() {
            Ok(result) => {
                result.context("producing the generator's readings to Kafka")?;
            }
            Err(_) => bail!("the producer stopped unexpectedly"),
        }
    }
    eprintln!("weir demo: running examples/traffic.sql with its source on topic 'traffic'{}", if options.bounded { "" } else { "; Ctrl-C stops" });
    let pipeline = weir_engine::plan_pipeline(&consume).map_err(|e| anyhow::anyhow!("the demo's pipeline: {e}"))?;
    let code = report(pipeline, &consume, stop);
    producer_stop.store(true, Ordering::Relaxed);
    drop(broker);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_splits_around_its_generator_options() {
        let (head, generator, rest) = split_example(EXAMPLE).expect("splits");
        assert!(head.trim_end().ends_with(')'), "{head}");
        assert!(generator.contains("'connector' = 'generator'"));
        assert!(rest.contains("CREATE MODEL"));
        let options = DemoOptions { bounded: true, rate: Some(0.0), partitions: 4 };
        let (produce, consume) = pipelines(EXAMPLE, "127.0.0.1:9", &options).expect("pipelines");
        assert!(produce.contains("'rate' = '0'") && !produce.contains("'rate' = '1000'"), "{produce}");
        weir_engine::plan_pipeline(&produce).expect("the producer plans");
        weir_engine::plan_pipeline(&consume).expect("the consumer plans");
        assert!(consume.contains("'scan.bounded.mode' = 'latest-offset'"));
        assert!(!consume.contains("'rate' = '1000'"), "the labels keep the readings' pace: {consume}");
    }
}
