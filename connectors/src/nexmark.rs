//! `'connector' = 'nexmark'`: the Nexmark benchmark's person, auction and
//! bid streams, from the `nexmark` crate (RisingWave's generator, which
//! follows the Nexmark specification and the Beam/Flink generators).
//!
//! One table is one event type (`'nexmark.table.type'`), with RisingWave's
//! option names and snake_case columns (Flink's Nexmark DDL spells them in
//! camelCase inside one nested table). Every table of a pipeline draws from
//! the same deterministic event sequence, so a person, the auctions they
//! open and the bids on those auctions agree across tables, and
//! `'nexmark.event.num'` counts events of all three types, as Nexmark's
//! event counts do: a `bid` table with 1,000,000 events yields the 920,000
//! bids among them. Worker `w` of `n` generates the type's events
//! `w, w + n, w + 2n, ...`, so the union over workers is the same stream
//! whatever the number of workers. Event times start at
//! `'nexmark.base.time'` (fixed by default, so runs are repeatable) and
//! advance at `'nexmark.event.rate'` events per second of event time.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use nexmark::config::NexmarkConfig;
use nexmark::event::{Event, EventType};
use nexmark::EventGenerator;

use crate::source::{BadRecords, Cancel, Position, Source, SourceSpec, SourceStatus, Split};
use crate::{ConnectorError, Result};

/// Rows per batch.
const BATCH: usize = 8192;

/// Which Nexmark stream a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NexmarkTable {
    /// New people (sellers and bidders).
    Person,
    /// New auctions.
    Auction,
    /// Bids on auctions.
    Bid,
}

impl NexmarkTable {
    /// Parses RisingWave's `nexmark.table.type` names (any case).
    ///
    /// ```
    /// use weir_connectors::nexmark::NexmarkTable;
    /// assert_eq!(NexmarkTable::from_name("Bid"), Some(NexmarkTable::Bid));
    /// assert_eq!(NexmarkTable::from_name("bids"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "person" => Some(Self::Person),
            "auction" => Some(Self::Auction),
            "bid" => Some(Self::Bid),
            _ => None,
        }
    }

    fn event_type(self) -> EventType {
        match self {
            Self::Person => EventType::Person,
            Self::Auction => EventType::Auction,
            Self::Bid => EventType::Bid,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Auction => "auction",
            Self::Bid => "bid",
        }
    }

    /// The table's columns.
    pub fn schema(self) -> SchemaRef {
        let int = |n: &str| Field::new(n, DataType::Int64, false);
        let text = |n: &str| Field::new(n, DataType::Utf8, false);
        let time = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false);
        Arc::new(Schema::new(match self {
            Self::Person => vec![
                int("id"),
                text("name"),
                text("email_address"),
                text("credit_card"),
                text("city"),
                text("state"),
                time("date_time"),
                text("extra"),
            ],
            Self::Auction => vec![
                int("id"),
                text("item_name"),
                text("description"),
                int("initial_bid"),
                int("reserve"),
                time("date_time"),
                time("expires"),
                int("seller"),
                int("category"),
                text("extra"),
            ],
            Self::Bid => vec![int("auction"), int("bidder"), int("price"), text("channel"), text("url"), time("date_time"), text("extra")],
        }))
    }
}

/// A configured Nexmark source.
#[derive(Debug, Clone)]
pub struct NexmarkSpec {
    /// The stream.
    pub table: NexmarkTable,
    /// Events of all types to generate; 0 = unbounded.
    pub events: u64,
    /// Event time of the first event (epoch ms).
    pub base_time_ms: u64,
    /// Events per second of event time.
    pub rate: usize,
    /// The declared columns (a subset of [`NexmarkTable::schema`]).
    pub schema: SchemaRef,
}

impl NexmarkSpec {
    fn config(&self) -> NexmarkConfig {
        NexmarkConfig { base_time: self.base_time_ms, first_rate: self.rate, next_rate: self.rate, ..NexmarkConfig::default() }
    }
}

impl SourceSpec for NexmarkSpec {
    fn resumable(&self) -> bool {
        true
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn bounded(&self) -> bool {
        self.events > 0
    }

    fn describe(&self) -> String {
        let events = if self.events == 0 { "unbounded".to_string() } else { self.events.to_string() };
        format!("nexmark table={} events={events} rate={}/s", self.table.name(), self.rate)
    }

    fn open(&self, split: Split, _bad: Arc<BadRecords>, _cancel: &Cancel) -> Result<Box<dyn Source>> {
        let full = self.table.schema();
        let projection = self
            .schema
            .fields()
            .iter()
            .map(|f| full.index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| ConnectorError::Arrow { context: "nexmark columns".into(), source })?;
        let generator = EventGenerator::new(self.config())
            .with_type_filter(self.table.event_type())
            .with_offset(split.worker as u64)
            .with_step(split.workers.max(1) as u64);
        Ok(Box::new(NexmarkSource { spec: self.clone(), full, projection, generator, split }))
    }
}

struct NexmarkSource {
    spec: NexmarkSpec,
    full: SchemaRef,
    projection: Vec<usize>,
    generator: EventGenerator,
    split: Split,
}

/// Builders of one batch of a table's columns (one value per batch, so
/// the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Columns {
    Person([StringBuilder; 6], Int64Builder, TimestampMillisecondBuilder),
    Auction([StringBuilder; 3], [Int64Builder; 5], [TimestampMillisecondBuilder; 2]),
    Bid([StringBuilder; 3], [Int64Builder; 3], TimestampMillisecondBuilder),
}

fn id(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Columns {
    fn new(table: NexmarkTable) -> Self {
        let s = || StringBuilder::with_capacity(BATCH, BATCH * 16);
        let i = || Int64Builder::with_capacity(BATCH);
        let t = || TimestampMillisecondBuilder::with_capacity(BATCH).with_timezone("UTC");
        match table {
            NexmarkTable::Person => Columns::Person([s(), s(), s(), s(), s(), s()], i(), t()),
            NexmarkTable::Auction => Columns::Auction([s(), s(), s()], [i(), i(), i(), i(), i()], [t(), t()]),
            NexmarkTable::Bid => Columns::Bid([s(), s(), s()], [i(), i(), i()], t()),
        }
    }

    fn push(&mut self, event: Event) {
        match (self, event) {
            (Columns::Person(s, i, t), Event::Person(p)) => {
                i.append_value(id(p.id));
                for (b, v) in s.iter_mut().zip([&p.name, &p.email_address, &p.credit_card, &p.city, &p.state, &p.extra]) {
                    b.append_value(v);
                }
                t.append_value(ms(p.date_time));
            }
            (Columns::Auction(s, i, t), Event::Auction(a)) => {
                for (b, v) in s.iter_mut().zip([&a.item_name, &a.description, &a.extra]) {
                    b.append_value(v);
                }
                for (b, v) in i.iter_mut().zip([a.id, a.initial_bid, a.reserve, a.seller, a.category]) {
                    b.append_value(id(v));
                }
                t[0].append_value(ms(a.date_time));
                t[1].append_value(ms(a.expires));
            }
            (Columns::Bid(s, i, t), Event::Bid(b)) => {
                for (builder, v) in s.iter_mut().zip([&b.channel, &b.url, &b.extra]) {
                    builder.append_value(v);
                }
                for (builder, v) in i.iter_mut().zip([b.auction, b.bidder, b.price]) {
                    builder.append_value(id(v));
                }
                t.append_value(ms(b.date_time));
            }
            // The generator's type filter yields only the table's type.
            _ => {}
        }
    }

    /// The columns in [`NexmarkTable::schema`]'s order.
    fn finish(self) -> Vec<ArrayRef> {
        let s = |mut b: StringBuilder| Arc::new(b.finish()) as ArrayRef;
        let i = |mut b: Int64Builder| Arc::new(b.finish()) as ArrayRef;
        let t = |mut b: TimestampMillisecondBuilder| Arc::new(b.finish()) as ArrayRef;
        match self {
            Columns::Person([name, email, card, city, state, extra], id, time) => {
                vec![i(id), s(name), s(email), s(card), s(city), s(state), t(time), s(extra)]
            }
            Columns::Auction([item, description, extra], [id, initial, reserve, seller, category], [time, expires]) => {
                vec![i(id), s(item), s(description), i(initial), i(reserve), t(time), t(expires), i(seller), i(category), s(extra)]
            }
            Columns::Bid([channel, url, extra], [auction, bidder, price], time) => {
                vec![i(auction), i(bidder), i(price), s(channel), s(url), t(time), s(extra)]
            }
        }
    }
}

impl Source for NexmarkSource {
    fn poll(&mut self, out: &mut Vec<RecordBatch>) -> Result<SourceStatus> {
        let mut columns = Columns::new(self.spec.table);
        let mut rows = 0;
        while rows < BATCH && (self.spec.events == 0 || self.generator.global_offset() < self.spec.events) {
            match self.generator.next() {
                Some(event) => columns.push(event),
                None => break,
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(SourceStatus::Finished);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.full), columns.finish())
            .and_then(|b| b.project(&self.projection))
            .map_err(|source| ConnectorError::Arrow { context: "generating nexmark events".into(), source })?;
        out.push(batch);
        Ok(SourceStatus::Active)
    }

    /// The index of the next event of the table's type this split makes
    /// (`worker + k * workers`): the sequence is a function of it, so a
    /// fresh generator started there goes on with the same events.
    fn position(&self) -> Option<Position> {
        let next = self.generator.offset();
        let global = self.generator.global_offset();
        Some(Position::new(vec![i64::try_from(next).unwrap_or(i64::MAX)], format!("{} {next} (event {global})", self.spec.table.name())))
    }

    fn resume(&mut self, position: &Position) -> Result<()> {
        let next = position.value(0).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
            ConnectorError::Resume(format!("a nexmark position is one event index, not {:?}", position.values))
        })?;
        let (worker, workers) = (self.split.worker as u64, self.split.workers.max(1) as u64);
        if next % workers != worker {
            return Err(ConnectorError::Resume(format!(
                "event {next} is not this split's (worker {worker} of {workers}): the worker count changed"
            )));
        }
        self.generator = EventGenerator::new(self.spec.config())
            .with_type_filter(self.spec.table.event_type())
            .with_offset(next)
            .with_step(workers);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    fn spec(table: NexmarkTable, events: u64) -> NexmarkSpec {
        NexmarkSpec { table, events, base_time_ms: 1_436_918_400_000, rate: 10_000, schema: table.schema() }
    }

    fn read(spec: &NexmarkSpec, workers: usize) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        for worker in 0..workers {
            let mut source = spec.open(Split { worker, workers }, Arc::new(BadRecords::new("bid")), &Cancel::default()).expect("opens");
            while let SourceStatus::Active = source.poll(&mut batches).expect("polls") {}
        }
        batches
    }

    fn column(batches: &[RecordBatch], c: usize) -> Vec<i64> {
        let mut values: Vec<i64> = batches.iter().flat_map(|b| b.column(c).as_primitive::<Int64Type>().values().to_vec()).collect();
        values.sort_unstable();
        values
    }

    #[test]
    fn event_counts_follow_the_proportions_and_workers_split_the_same_stream() {
        // 1 person, 3 auctions and 46 bids in every 50 events.
        for (table, expected) in [(NexmarkTable::Person, 200), (NexmarkTable::Auction, 600), (NexmarkTable::Bid, 9200)] {
            let one = read(&spec(table, 10_000), 1);
            assert_eq!(one.iter().map(RecordBatch::num_rows).sum::<usize>(), expected, "{table:?}");
            let three = read(&spec(table, 10_000), 3);
            assert_eq!(column(&three, 0), column(&one, 0), "{table:?} on 3 workers");
        }
    }

    #[test]
    fn a_reader_resumed_from_a_position_goes_on_with_the_same_events() {
        for table in [NexmarkTable::Person, NexmarkTable::Auction, NexmarkTable::Bid] {
            let spec = spec(table, 50_000);
            let whole = read(&spec, 2);
            let mut parts = Vec::new();
            for worker in 0..2 {
                let split = Split { worker, workers: 2 };
                let bad = || Arc::new(BadRecords::new("t"));
                let mut first = spec.open(split, bad(), &Cancel::default()).expect("opens");
                // Two batches, then a fresh reader from the position.
                for _ in 0..2 {
                    first.poll(&mut parts).expect("polls");
                }
                let position = first.position().expect("a position");
                let mut second = spec.open(split, bad(), &Cancel::default()).expect("opens");
                second.resume(&position).expect("resumes");
                while let SourceStatus::Active = second.poll(&mut parts).expect("polls") {}
                let other = Split { worker: 1 - worker, workers: 2 };
                let mut wrong = spec.open(other, bad(), &Cancel::default()).expect("opens");
                assert!(wrong.resume(&position).is_err(), "another split's position is refused");
            }
            let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
            assert_eq!(rows(&parts), rows(&whole), "{table:?}");
            assert_eq!(column(&parts, 0), column(&whole, 0), "{table:?}");
        }
    }

    #[test]
    fn bids_name_auctions_and_people_that_exist() {
        let people = column(&read(&spec(NexmarkTable::Person, 50_000), 1), 0);
        let auctions = read(&spec(NexmarkTable::Auction, 50_000), 1);
        let sellers = column(&auctions, 7);
        let known = sellers.iter().filter(|s| people.binary_search(s).is_ok()).count();
        assert!(known * 10 >= sellers.len() * 9, "sellers are people: {known} of {}", sellers.len());
        let bids = read(&spec(NexmarkTable::Bid, 50_000), 1);
        let auction_ids = column(&auctions, 0);
        let matched = column(&bids, 0).iter().filter(|a| auction_ids.binary_search(a).is_ok()).count();
        assert!(matched > 40_000, "most bids are on generated auctions: {matched}");
    }
}
