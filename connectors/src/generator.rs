//! The built-in synthetic road-traffic sensor stream (`'connector' = 'generator'`).
//!
//! This is the embedded default source: a fleet of loop-detector sensors on a
//! road network, each reporting once per second of event time a reading of
//! `speed` (km/h), `volume` (vehicles counted in the 60 s rolling window that
//! ends at the reading) and `occupancy` (fraction of that window the detector
//! was covered, `0..=1`), together with the label `congested`.
//!
//! # Why the generator is counter-based
//!
//! Every event is a *pure function of `(options, index)`*. Random draws come
//! from a counter-based generator — SplitMix64 mixing of the seed, a per-purpose
//! stream constant and the event (or sensor, or time-block) index — instead of
//! a sequential RNG whose state advances row by row. Consequently:
//!
//! * any worker can produce any index range without generating (or receiving
//!   state from) the events before it, so a source can be split across any
//!   number of workers with the same output as a single worker;
//! * the stream is identical for every batch size: `generate(0..1000)` equals
//!   `generate(0..337)` followed by `generate(337..1000)`;
//! * a checkpoint of the source is just the next index, and recovery or replay
//!   from an offset reproduces exactly the same events, which makes results of
//!   tests, benchmarks and demos reproducible bit for bit;
//! * there is no shared mutable state, so generation parallelises trivially.
//!
//! A sequential RNG would make the stream depend on how it was partitioned and
//! batched, and would force every worker to carry and checkpoint RNG state.
//!
//! # Stream layout
//!
//! Event `i` (arrival order) belongs to sensor `i % sensors`. Each sensor
//! reports once per second of event time; the nominal event time of event `i`
//! is `start_ms + (i / sensors) * 1000 + (i % sensors) * 1000 / sensors`,
//! which never decreases with `i`. With `disorder_ms > 0` the event time is
//! `ts = nominal - u`, `u` uniform in `[0, disorder_ms]`, so arrival order is
//! out of event-time order by at most `disorder_ms`: an event never arrives
//! after an event whose timestamp exceeds its own by more than `disorder_ms`.
//! When `events > 0` the stream ends at index `events`.
//!
//! # Traffic model
//!
//! * Every sensor has fixed characteristics drawn from `(seed, sensor)`:
//!   free-flow speed (60..120 km/h), jam occupancy (0.6..0.9, the occupancy at
//!   which traffic stands still), number of lanes (2..4), base demand, a shift
//!   of its rush hours (±45 min), and its own congestion threshold and
//!   sensitivity, so per-sensor models can beat a single global model.
//! * Demand follows a daily cycle of event time (UTC) with a morning (08:00)
//!   and an evening (17:30) rush hour over a daytime plateau and a quiet night,
//!   plus sporadic incidents: each sensor has, per 10-minute block of event
//!   time, a 15% chance of an incident that adds demand, blended smoothly
//!   between blocks. Demand drives `occupancy` (with ±10% noise).
//! * Speed falls as occupancy rises, Greenshields-like:
//!   `speed ≈ free_flow * (1 - occupancy / jam)` with noise, never below 0.
//! * Volume is density times speed over the 60 s window, density being
//!   proportional to occupancy and the number of lanes, with Poisson-like noise.
//! * `congested` is Bernoulli with probability
//!   `sigmoid(a_s * (occupancy - thr_s) + b * ((free_flow - speed) / free_flow - 0.5))`
//!   with per-sensor `a_s` and `thr_s`: learnable by logistic regression on
//!   `(speed, volume, occupancy)`, but noisy (Bayes accuracy about 0.92).
//!
//! # Drift
//!
//! From index `drift_at` on (`i >= drift_at`) the network switches to a
//! "road works" regime: free-flow speed drops 25% and demand (hence occupancy)
//! rises 30% — a feature shift — and the congestion threshold rises 45% while
//! the relative speed drop weighs twice as much — a change of the
//! feature-to-label relationship — so a model trained before the drift
//! degrades after it. With `'drift_concept' = 'inverted'` the label's
//! log-odds also change sign at `drift_at`: an abrupt concept change of
//! the kind drift-adaptation benchmarks use (the features drift the same).

use std::cell::Cell;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, BooleanBufferBuilder, Float64Array, Int64Array,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

/// Options of `'connector' = 'generator'`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorOptions {
    /// `'sensors'`: number of sensors; event `i` belongs to sensor
    /// `i % sensors`. Default 100, must be at least 1 (0 is treated as 1).
    pub sensors: u64,
    /// `'rate'`: events per second of wall clock over the whole source; 0 means
    /// as fast as possible. Default 1000. Pacing is the caller's job:
    /// [`generate`] ignores it.
    pub rate: f64,
    /// `'events'`: total number of events; 0 means unbounded. Default 0.
    pub events: u64,
    /// `'seed'`: seed of every random draw. Default 42.
    pub seed: u64,
    /// `'disorder_ms'`: bound of out-of-order arrival in event time, in
    /// milliseconds. Default 0 (arrival in event-time order).
    pub disorder_ms: u64,
    /// `'drift_at'`: index of the first event of the drifted regime, in which
    /// both the feature distribution and the feature-to-label relationship
    /// change. Default `None` (no drift).
    pub drift_at: Option<u64>,
    /// `'drift_concept'`: what happens to the label at `drift_at`.
    pub drift_concept: DriftConcept,
    /// Event time of event 0, in milliseconds since the Unix epoch. Default
    /// 2026-01-01T00:00:00Z (`1_767_225_600_000`).
    pub start_ms: i64,
    /// `'stream'`: the readings, or the labels that confirm them later.
    pub stream: GeneratorStream,
    /// `'label_delay_ms'`: with the labels stream, each reading's label
    /// arrives between half of this and this long after the reading (event
    /// time). Default 5000.
    pub label_delay_ms: u64,
}

/// Which stream a generator table produces from the same events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeneratorStream {
    /// `'readings'`: the sensors' readings with their label ([`schema`]).
    #[default]
    Readings,
    /// `'labels'`: each reading's label, known only later ([`labels_schema`]):
    /// the ground truth of online learning in production, joined back to
    /// the readings on `sensor_id` and `reading_ts`.
    Labels,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            sensors: 100,
            rate: 1000.0,
            events: 0,
            seed: 42,
            disorder_ms: 0,
            drift_at: None,
            drift_concept: DriftConcept::RoadWorks,
            start_ms: 1_767_225_600_000,
            stream: GeneratorStream::Readings,
            label_delay_ms: 5000,
        }
    }
}

/// How the feature-to-label relationship changes at `drift_at` (the
/// features change the same way in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftConcept {
    /// `'road_works'`: the congestion threshold rises 45% and the speed
    /// drop weighs twice as much — a mild change that an online learner
    /// largely follows by itself.
    #[default]
    RoadWorks,
    /// `'inverted'`: on top of the road works, the label's log-odds change
    /// sign — an abrupt concept change (as in the SEA or STAGGER
    /// benchmarks), for testing detectors and adaptation.
    Inverted,
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("speed", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
        Field::new("occupancy", DataType::Float64, false),
        Field::new("congested", DataType::Boolean, false),
    ]))
});

/// The schema of the generator stream, all columns NOT NULL: `sensor_id`
/// Int64, `ts` Timestamp(ms, UTC), `speed` Float64 (km/h), `volume` Int64
/// (vehicles in the 60 s window ending at `ts`), `occupancy` Float64 (`0..=1`),
/// `congested` Boolean (the label).
pub fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

static LABELS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Int64, false),
        Field::new("reading_ts", ts(), false),
        Field::new("ts", ts(), false),
        Field::new("congested", DataType::Boolean, false),
    ]))
});

/// The schema of the labels stream, all columns NOT NULL: `sensor_id`
/// Int64, `reading_ts` (the `ts` of the reading labelled), `ts` (when the
/// label became known: `reading_ts` plus its delay), `congested` Boolean.
pub fn labels_schema() -> SchemaRef {
    Arc::clone(&LABELS_SCHEMA)
}

/// The schema of the stream `opts` asks for.
pub fn stream_schema(opts: &GeneratorOptions) -> SchemaRef {
    match opts.stream {
        GeneratorStream::Readings => schema(),
        GeneratorStream::Labels => labels_schema(),
    }
}

/// The events of the stream `opts` asks for with indices in `range`: the
/// readings ([`generate`]) or their labels. Label `i` is reading `i`'s
/// label, its `ts` the reading's plus a delay drawn from `(seed, i)` in
/// `[label_delay_ms / 2, label_delay_ms]`, so it arrives (in index order)
/// out of event-time order by at most `disorder_ms + label_delay_ms / 2`.
pub fn generate_stream(opts: &GeneratorOptions, range: Range<u64>) -> Result<RecordBatch, ArrowError> {
    let readings = generate(opts, range.clone())?;
    if opts.stream == GeneratorStream::Readings {
        return Ok(readings);
    }
    let end = if opts.events > 0 { range.end.min(opts.events) } else { range.end };
    let start = range.start.min(end);
    let reading_ts = readings.column(1).clone();
    let Some(times) = reading_ts.as_any().downcast_ref::<TimestampMillisecondArray>() else {
        return Err(ArrowError::SchemaError("generator ts is not milliseconds".into()));
    };
    let key = stream_key(opts.seed, STREAM_LABEL);
    let half = opts.label_delay_ms / 2;
    let spread = opts.label_delay_ms - half + 1;
    let ts: TimestampMillisecondArray = times
        .values()
        .iter()
        .zip(start..)
        .map(|(&t, i)| t.saturating_add(i64::try_from(half + below(draw(key, i), spread)).unwrap_or(i64::MAX)))
        .collect::<Vec<i64>>()
        .into();
    let columns: Vec<ArrayRef> =
        vec![readings.column(0).clone(), reading_ts, Arc::new(ts.with_timezone("UTC")), readings.column(5).clone()];
    RecordBatch::try_new(labels_schema(), columns)
}

/// Builds the events with indices in `range` (arrival order) as one batch.
///
/// The result depends only on `opts` and the indices, never on how the
/// stream is split into ranges. When `opts.events > 0` the range is clipped
/// to `0..events`; an empty range gives an empty batch. `opts.rate` is not
/// used here.
pub fn generate(opts: &GeneratorOptions, range: Range<u64>) -> Result<RecordBatch, ArrowError> {
    let end = if opts.events > 0 {
        range.end.min(opts.events)
    } else {
        range.end
    };
    let start = range.start.min(end);
    let too_big = || ArrowError::MemoryError(format!("cannot hold {} generated events in one batch", end - start));
    let len = usize::try_from(end - start).map_err(|_| too_big())?;

    let model = Model::new(opts);
    let sensors = model.sensors;

    // Per-sensor parameters of the sensors this range touches, in the order
    // they occur; the table is reused cyclically when the range is longer
    // than one round over all sensors.
    let first_sensor = start % sensors;
    let table_len = usize::try_from(sensors).map_or(len, |s| s.min(len));
    let mut table = Vec::new();
    table.try_reserve_exact(table_len).map_err(|_| too_big())?;
    let mut s = first_sensor;
    for _ in 0..table_len {
        table.push(Sensor::new(opts.seed, s, sensors));
        s += 1;
        if s == sensors {
            s = 0;
        }
    }

    // Reserve up front (failing cleanly on absurd ranges instead of aborting);
    // the loop then only writes into the reserved memory.
    fn column<T>(len: usize) -> Option<Vec<T>> {
        let mut v = Vec::new();
        v.try_reserve_exact(len).ok()?;
        Some(v)
    }
    let mut sensor_ids: Vec<i64> = column(len).ok_or_else(too_big)?;
    let mut tss: Vec<i64> = column(len).ok_or_else(too_big)?;
    let mut speeds: Vec<f64> = column(len).ok_or_else(too_big)?;
    let mut volumes: Vec<i64> = column(len).ok_or_else(too_big)?;
    let mut occupancies: Vec<f64> = column(len).ok_or_else(too_big)?;
    let mut labels = BooleanBufferBuilder::new(len);

    let mut tick = start / sensors;
    let mut sensor = first_sensor;
    let mut slot = 0usize;
    let mut tick_ms = tick_to_ms(tick);
    for i in start..end {
        let Some(sp) = table.get(slot) else { break };
        let nominal = opts.start_ms.saturating_add(tick_ms).saturating_add(sp.offset_ms);
        let r = model.reading(sp, i, nominal);
        sensor_ids.push(i64::try_from(sensor).unwrap_or(i64::MAX));
        tss.push(r.ts);
        speeds.push(r.speed);
        volumes.push(r.volume);
        occupancies.push(r.occupancy);
        labels.append(r.congested);

        slot += 1;
        if slot == table_len {
            slot = 0;
        }
        sensor += 1;
        if sensor == sensors {
            sensor = 0;
            tick += 1;
            tick_ms = tick_to_ms(tick);
        }
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(sensor_ids)),
        Arc::new(TimestampMillisecondArray::from(tss).with_timezone("UTC")),
        Arc::new(Float64Array::from(speeds)),
        Arc::new(Int64Array::from(volumes)),
        Arc::new(Float64Array::from(occupancies)),
        Arc::new(BooleanArray::new(labels.finish(), None)),
    ];
    RecordBatch::try_new(schema(), columns)
}

fn tick_to_ms(tick: u64) -> i64 {
    i64::try_from(tick).unwrap_or(i64::MAX).saturating_mul(1000)
}

// ---- model begin

/// Weyl increment of SplitMix64 (2^64 / golden ratio).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
// Stream constants: independent hash streams for independent purposes.
/// Per-event draws: draw `j` of event `i` is output `i` of stream
/// `STREAM_EVENT + j`, so the draws of one event do not depend on one another.
const STREAM_EVENT: u64 = 0x5745_4952_4556_4E54;
/// Per-sensor characteristics, indexed by sensor.
const STREAM_SENSOR: u64 = 0x5745_4952_5345_4E53;
/// Per-sensor incident streams, indexed by sensor, then by 10-minute block.
const STREAM_INCIDENT: u64 = 0x5745_4952_494E_4349;
/// Label delays, indexed by event.
const STREAM_LABEL: u64 = 0x5745_4952_4C41_4245;

/// SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche.
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key of one hash stream under `seed`.
#[inline]
fn stream_key(seed: u64, stream: u64) -> u64 {
    mix64(seed ^ mix64(stream))
}

/// The `counter`-th output of the SplitMix64 sequence whose state is `key`.
#[inline(always)]
fn draw(key: u64, counter: u64) -> u64 {
    mix64(key.wrapping_add(counter.wrapping_mul(GOLDEN)))
}

/// Uniform in `[0, 1)` from the top 53 bits.
#[inline(always)]
fn unit(x: u64) -> f64 {
    // Through i64: a signed conversion is one instruction, an unsigned one many.
    ((x >> 11) as i64) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Approximately standard normal (Irwin–Hall of four 16-bit uniforms): mean 0,
/// variance 1, bounded to `±2√3`, which keeps noisy values physical.
#[inline(always)]
fn normal(x: u64) -> f64 {
    let s = (x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48);
    (((s as i64) as f64 + 2.0) * (1.0 / 65_536.0) - 2.0) * 1.732_050_807_568_877_2
}

/// Uniform integer in `[0, n)` (Lemire's multiply-shift); `n = 0` means `2^64`.
#[inline(always)]
fn below(x: u64, n: u64) -> u64 {
    if n == 0 {
        x
    } else {
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    }
}

const MINUTES_PER_DAY: usize = 24 * 60;
const MS_PER_DAY: i64 = 86_400_000;
/// Incident blocks of event time.
const INCIDENT_BLOCK_MS: i64 = 600_000;
/// Probability that a sensor has an incident in a block.
const INCIDENT_P: f64 = 0.15;
/// Jam density per lane, vehicles/km.
const JAM_DENSITY: f64 = 80.0;
/// Weight of the relative speed drop in the label logit, before and after drift.
const SPEED_WEIGHT: f64 = 3.0;
const SPEED_WEIGHT_DRIFT: f64 = 6.0;
/// Drift: free-flow factor, demand factor and threshold factor.
const DRIFT_FREE_FLOW: f64 = 0.75;
const DRIFT_DEMAND: f64 = 1.3;
const DRIFT_THRESHOLD: f64 = 1.45;

/// Daily demand factor per minute of the day (UTC), one extra entry for
/// interpolation across midnight: quiet night, daytime plateau, morning rush
/// at 08:00 and evening rush at 17:30.
static DAILY: LazyLock<[f64; MINUTES_PER_DAY + 1]> = LazyLock::new(|| {
    let mut t = [0.0; MINUTES_PER_DAY + 1];
    for (m, v) in t.iter_mut().enumerate() {
        let h = m as f64 / 60.0;
        let bump = |centre: f64, width: f64| {
            let mut d = (h - centre).abs();
            if d > 12.0 {
                d = 24.0 - d;
            }
            (-0.5 * (d / width) * (d / width)).exp()
        };
        *v = 0.3 + 0.35 * bump(13.5, 4.0) + 0.55 * bump(8.0, 1.1) + 0.65 * bump(17.5, 1.5);
    }
    t
});

/// Fixed characteristics of one sensor, a pure function of `(seed, sensor)`.
#[derive(Debug, Clone)]
struct Sensor {
    /// Free-flow speed, km/h.
    free_flow: f64,
    /// Occupancy at which speed reaches 0.
    jam: f64,
    /// `1 / jam`.
    inv_jam: f64,
    /// `1 / free_flow`.
    inv_free_flow: f64,
    /// Jam density of the road section, vehicles/km.
    jam_density: f64,
    /// Base demand relative to critical (half-jam) occupancy.
    load: f64,
    /// Shift of the daily cycle, minutes.
    phase_min: f64,
    /// Congestion sensitivity `a_s`, logit per unit of occupancy.
    slope: f64,
    /// Congestion threshold `thr_s`, occupancy.
    thr: f64,
    /// Key of this sensor's incident stream.
    incident_key: u64,
    /// `(sensor * 1000) / sensors`: offset of the reading within its second.
    offset_ms: i64,
    /// Memo of [`Sensor::incidents`]: the block it was computed for and the
    /// incident demand of that block and the next. Consecutive readings of a
    /// sensor almost always fall in the same block, so this saves two hashes.
    memo: Cell<Option<(i64, f64, f64)>>,
}

impl Sensor {
    fn new(seed: u64, sensor: u64, sensors: u64) -> Self {
        let k = draw(stream_key(seed, STREAM_SENSOR), sensor);
        let jam = 0.6 + 0.3 * unit(draw(k, 1));
        let lanes = 2 + below(draw(k, 2), 3);
        let offset = (u128::from(sensor) * 1000) / u128::from(sensors.max(1));
        let free_flow = 60.0 + 60.0 * unit(draw(k, 0));
        Self {
            free_flow,
            inv_free_flow: 1.0 / free_flow,
            jam,
            inv_jam: 1.0 / jam,
            jam_density: JAM_DENSITY * lanes as f64,
            load: 0.5 + 0.8 * unit(draw(k, 3)),
            phase_min: (unit(draw(k, 4)) - 0.5) * 90.0,
            slope: 12.0 + 20.0 * unit(draw(k, 5)),
            thr: 0.5 * jam * (0.65 + 0.7 * unit(draw(k, 6))),
            incident_key: draw(stream_key(seed, STREAM_INCIDENT), sensor),
            offset_ms: i64::try_from(offset).unwrap_or(999),
            memo: Cell::new(None),
        }
    }

    /// Incident demand of `block` and of the block after it.
    #[inline]
    fn incidents(&self, block: i64) -> (f64, f64) {
        let v = match self.memo.get() {
            Some((b, v0, v1)) if b == block => return (v0, v1),
            Some((b, _, v1)) if b.wrapping_add(1) == block => {
                (v1, self.incident(block.wrapping_add(1)))
            }
            _ => (self.incident(block), self.incident(block.wrapping_add(1))),
        };
        self.memo.set(Some((block, v.0, v.1)));
        v
    }

    /// Extra demand from an incident in `block` (0 when there is none).
    #[inline]
    fn incident(&self, block: i64) -> f64 {
        let x = draw(self.incident_key, block as u64);
        let u = (x >> 32) as f64 * (1.0 / 4_294_967_296.0);
        if u < INCIDENT_P {
            0.6 + 0.8 * ((x & 0xFFFF_FFFF) as f64 * (1.0 / 4_294_967_296.0))
        } else {
            0.0
        }
    }
}

/// Stream-wide parameters.
#[derive(Debug, Clone)]
struct Model {
    sensors: u64,
    /// Stream keys of the per-event draws: delay, occupancy, speed, volume, label.
    event_keys: [u64; 5],
    disorder_ms: u64,
    drift_at: u64,
    inverted: bool,
    daily: &'static [f64; MINUTES_PER_DAY + 1],
}

/// One generated reading plus its true label probability.
#[derive(Debug, Clone, Copy)]
struct Reading {
    ts: i64,
    speed: f64,
    volume: i64,
    occupancy: f64,
    /// Log-odds of `congested` given the features (for tests).
    #[allow(dead_code)]
    logit: f64,
    congested: bool,
}

impl Model {
    fn new(opts: &GeneratorOptions) -> Self {
        Self {
            sensors: opts.sensors.max(1),
            event_keys: [0, 1, 2, 3, 4].map(|j| stream_key(opts.seed, STREAM_EVENT + j)),
            disorder_ms: opts.disorder_ms,
            drift_at: opts.drift_at.unwrap_or(u64::MAX),
            inverted: opts.drift_concept == DriftConcept::Inverted,
            daily: &DAILY,
        }
    }

    /// The reading of event `i` of sensor `sp` whose nominal time is `nominal`.
    #[inline]
    fn reading(&self, sp: &Sensor, i: u64, nominal: i64) -> Reading {
        let [k_delay, k_occupancy, k_speed, k_volume, k_label] = self.event_keys;
        let drifted = i >= self.drift_at;

        // Event time: nominal minus a bounded delay.
        let u = below(draw(k_delay, i), self.disorder_ms.wrapping_add(1));
        let ts = nominal.saturating_sub(i64::try_from(u).unwrap_or(i64::MAX));

        // Demand: daily cycle (shifted per sensor) plus incidents.
        let mut minute = ts.rem_euclid(MS_PER_DAY) as f64 * (1.0 / 60_000.0) + sp.phase_min;
        if minute < 0.0 {
            minute += MINUTES_PER_DAY as f64;
        } else if minute >= MINUTES_PER_DAY as f64 {
            minute -= MINUTES_PER_DAY as f64;
        }
        // Clamped to 0..=1439, so both indices below are in bounds.
        let m0 = (minute as i64).clamp(0, MINUTES_PER_DAY as i64 - 1);
        let f = minute - m0 as f64;
        let m0 = m0 as usize;
        let daily = self.daily[m0] * (1.0 - f) + self.daily[m0 + 1] * f;

        let block = ts.div_euclid(INCIDENT_BLOCK_MS);
        let w = ts.rem_euclid(INCIDENT_BLOCK_MS) as f64 * (1.0 / INCIDENT_BLOCK_MS as f64);
        let w = w * w * (3.0 - 2.0 * w);
        let (inc0, inc1) = sp.incidents(block);
        let incident = inc0 * (1.0 - w) + inc1 * w;

        let mut load = sp.load * daily + incident;
        let mut free_flow = sp.free_flow;
        let mut inv_free_flow = sp.inv_free_flow;
        let mut thr = sp.thr;
        let mut speed_weight = SPEED_WEIGHT;
        if drifted {
            load *= DRIFT_DEMAND;
            free_flow *= DRIFT_FREE_FLOW;
            inv_free_flow *= 1.0 / DRIFT_FREE_FLOW;
            thr *= DRIFT_THRESHOLD;
            speed_weight = SPEED_WEIGHT_DRIFT;
        }

        // Occupancy: half of jam occupancy at load 1 (critical density).
        let occupancy = (0.5 * sp.jam * load * (1.0 + 0.1 * normal(draw(k_occupancy, i)))).clamp(0.0, 1.0);

        // Speed: Greenshields-like fall with occupancy, plus noise.
        let ratio = (occupancy * sp.inv_jam).min(1.0);
        let mean_speed = free_flow * (1.0 - ratio).max(0.04);
        let speed = (mean_speed + (1.5 + 0.05 * mean_speed) * normal(draw(k_speed, i))).max(0.0);

        // Volume over the 60 s window: density * speed / 60, with Poisson-like
        // noise whose scale comes from the mean speed (off the critical path).
        let density_per_min = ratio * sp.jam_density * (1.0 / 60.0);
        let noise_sd = (density_per_min * mean_speed + 1.0).sqrt();
        let flow = density_per_min * speed;
        // Rounds half up: the value is not negative (and `as` saturates).
        let volume = ((flow + noise_sd * normal(draw(k_volume, i))).max(0.0) + 0.5) as i64;

        // Label.
        let drop = 1.0 - speed * inv_free_flow;
        let mut logit = sp.slope * (occupancy - thr) + speed_weight * (drop - 0.5);
        if drifted && self.inverted {
            logit = -logit;
        }
        // `u < sigmoid(logit)` rewritten as `ln(u / (1 - u)) < logit`: the same
        // Bernoulli draw, but the logarithm depends only on the hash, so it
        // runs in parallel with the feature computation instead of after it.
        let u = unit(draw(k_label, i));
        let congested = (u / (1.0 - u)).ln() < logit;

        Reading { ts, speed, volume, occupancy, logit, congested }
    }
}

// ---- model end

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};

    fn opts() -> GeneratorOptions {
        GeneratorOptions::default()
    }

    fn sigmoid(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    #[test]
    fn schema_is_not_null() {
        let s = schema();
        assert_eq!(s.fields().len(), 6);
        assert!(s.fields().iter().all(|f| !f.is_nullable()));
    }

    #[test]
    fn split_ranges_equal_whole() {
        let o = GeneratorOptions { disorder_ms: 700, drift_at: Some(500), sensors: 7, ..opts() };
        let whole = generate(&o, 0..1000).expect("batch");
        let a = generate(&o, 0..337).expect("batch");
        let b = generate(&o, 337..1000).expect("batch");
        let joined = concat_batches(&schema(), [&a, &b]).expect("concat");
        assert_eq!(whole, joined);
        assert_eq!(whole.num_rows(), 1000);
        // Many small ranges too.
        let parts: Vec<RecordBatch> = (0..1000u64)
            .step_by(13)
            .map(|s| generate(&o, s..(s + 13).min(1000)).expect("batch"))
            .collect();
        let joined = concat_batches(&schema(), &parts).expect("concat");
        assert_eq!(whole, joined);
    }

    #[test]
    fn events_clip_and_seed_matters() {
        let o = GeneratorOptions { events: 50, ..opts() };
        assert_eq!(generate(&o, 0..100).expect("batch").num_rows(), 50);
        assert_eq!(generate(&o, 60..100).expect("batch").num_rows(), 0);
        let a = generate(&opts(), 0..100).expect("batch");
        let b = generate(&GeneratorOptions { seed: 43, ..opts() }, 0..100).expect("batch");
        assert_ne!(a, b);
        let z = generate(&GeneratorOptions { sensors: 0, ..opts() }, 0..10).expect("batch");
        assert_eq!(z.num_rows(), 10);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        // Absurd lengths fail cleanly instead of aborting.
        assert!(generate(&opts(), 0..u64::MAX).is_err());
        // Indices and times at the end of their ranges saturate.
        let o = GeneratorOptions {
            sensors: u64::MAX,
            disorder_ms: u64::MAX,
            start_ms: i64::MAX - 5,
            drift_at: Some(0),
            ..opts()
        };
        let b = generate(&o, u64::MAX - 10..u64::MAX).expect("batch");
        assert_eq!(b.num_rows(), 10);
        let o = GeneratorOptions { sensors: 1, start_ms: i64::MIN, disorder_ms: 1000, ..opts() };
        assert_eq!(generate(&o, u64::MAX - 3..u64::MAX).expect("batch").num_rows(), 3);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 5..2;
        assert_eq!(generate(&o, backwards).expect("batch").num_rows(), 0);
    }

    #[test]
    fn sensor_and_nominal_time() {
        let o = GeneratorOptions { sensors: 3, ..opts() };
        let b = generate(&o, 0..9).expect("batch");
        let ids = b.column(0).as_primitive::<Int64Type>();
        let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
        let s = o.start_ms;
        assert_eq!(ids.values().to_vec(), vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
        assert_eq!(
            ts.values().to_vec(),
            vec![s, s + 333, s + 666, s + 1000, s + 1333, s + 1666, s + 2000, s + 2333, s + 2666]
        );
    }

    #[test]
    fn disorder_is_bounded() {
        let d = 2500;
        let o = GeneratorOptions { disorder_ms: d, sensors: 50, ..opts() };
        let b = generate(&o, 0..200_000).expect("batch");
        let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
        let mut max_seen = i64::MIN;
        let mut late = 0usize;
        let mut worst = 0i64;
        for &t in ts.values().iter() {
            if t < max_seen {
                late += 1;
                worst = worst.max(max_seen - t);
            }
            max_seen = max_seen.max(t);
        }
        assert!(worst <= d as i64, "worst lateness {worst}");
        assert!(worst > d as i64 / 2, "disorder too weak: {worst}");
        assert!(late > 1000);
        // Without disorder, event time never decreases.
        let b = generate(&GeneratorOptions { sensors: 50, ..opts() }, 0..20_000).expect("batch");
        let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
        assert!(ts.values().windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn values_are_physical() {
        let b = generate(&opts(), 0..100_000).expect("batch");
        assert_eq!(b.num_rows(), 100_000);
        for c in b.columns() {
            assert_eq!(c.null_count(), 0);
        }
        let speed = b.column(2).as_primitive::<Float64Type>();
        let volume = b.column(3).as_primitive::<Int64Type>();
        let occ = b.column(4).as_primitive::<Float64Type>();
        assert!(speed.values().iter().all(|v| v.is_finite() && *v >= 0.0 && *v < 200.0));
        assert!(occ.values().iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        assert!(volume.values().iter().all(|v| (0..10_000).contains(v)));
    }

    /// Features, labels and true probabilities of events `range`.
    fn sample(o: &GeneratorOptions, range: impl IntoIterator<Item = u64>) -> (Vec<[f64; 3]>, Vec<bool>, Vec<f64>) {
        let model = Model::new(o);
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut p = Vec::new();
        for i in range {
            let s = i % model.sensors;
            let sp = Sensor::new(o.seed, s, model.sensors);
            let nominal = o.start_ms + tick_to_ms(i / model.sensors) + sp.offset_ms;
            let r = model.reading(&sp, i, nominal);
            x.push([r.speed, r.volume as f64, r.occupancy]);
            y.push(r.congested);
            p.push(sigmoid(r.logit));
        }
        (x, y, p)
    }

    /// Logistic regression by Newton's method on standardised features.
    struct Logit {
        mean: [f64; 3],
        sd: [f64; 3],
        w: [f64; 4],
    }

    impl Logit {
        fn row(&self, x: &[f64; 3]) -> [f64; 4] {
            let mut r = [1.0; 4];
            for j in 0..3 {
                r[j + 1] = (x[j] - self.mean[j]) / self.sd[j];
            }
            r
        }

        fn predict(&self, x: &[f64; 3]) -> bool {
            let r = self.row(x);
            (0..4).map(|j| r[j] * self.w[j]).sum::<f64>() > 0.0
        }

        fn fit(x: &[[f64; 3]], y: &[bool]) -> Self {
            let n = x.len() as f64;
            let mut mean = [0.0; 3];
            let mut sd = [0.0; 3];
            for j in 0..3 {
                mean[j] = x.iter().map(|r| r[j]).sum::<f64>() / n;
                sd[j] = (x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt().max(1e-9);
            }
            let mut m = Self { mean, sd, w: [0.0; 4] };
            for _ in 0..25 {
                let mut g = [0.0; 4];
                let mut h = [[0.0; 4]; 4];
                for (xi, &yi) in x.iter().zip(y) {
                    let r = m.row(xi);
                    let z: f64 = (0..4).map(|j| r[j] * m.w[j]).sum();
                    let p = sigmoid(z);
                    let t = if yi { 1.0 } else { 0.0 };
                    for a in 0..4 {
                        g[a] += (p - t) * r[a];
                        for b in 0..4 {
                            h[a][b] += p * (1.0 - p) * r[a] * r[b];
                        }
                    }
                }
                for (a, row) in h.iter_mut().enumerate() {
                    row[a] += 1e-6;
                }
                let step = solve(h, g);
                for (w, s) in m.w.iter_mut().zip(step) {
                    *w -= s;
                }
            }
            m
        }

        fn accuracy(&self, x: &[[f64; 3]], y: &[bool]) -> f64 {
            let ok = x.iter().zip(y).filter(|(xi, yi)| self.predict(xi) == **yi).count();
            ok as f64 / x.len() as f64
        }
    }

    fn solve(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> [f64; 4] {
        for c in 0..4 {
            let piv = (c..4)
                .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
                .unwrap_or(c);
            a.swap(c, piv);
            b.swap(c, piv);
            for r in 0..4 {
                if r != c && a[c][c] != 0.0 {
                    let f = a[r][c] / a[c][c];
                    let pivot = a[c];
                    for (x, p) in a[r].iter_mut().zip(pivot) {
                        *x -= f * p;
                    }
                    b[r] -= f * b[c];
                }
            }
        }
        let mut x = [0.0; 4];
        for i in 0..4 {
            x[i] = if a[i][i] != 0.0 { b[i] / a[i][i] } else { 0.0 };
        }
        x
    }

    fn bayes_accuracy(y: &[bool], p: &[f64]) -> f64 {
        y.iter().zip(p).filter(|(yi, pi)| (**pi > 0.5) == **yi).count() as f64 / y.len() as f64
    }

    fn rate(y: &[bool]) -> f64 {
        y.iter().filter(|v| **v).count() as f64 / y.len() as f64
    }

    fn mean_speed(x: &[[f64; 3]]) -> f64 {
        x.iter().map(|r| r[0]).sum::<f64>() / x.len() as f64
    }

    #[test]
    fn label_is_learnable_but_noisy() {
        // Spread the sample over a whole day: 24 sensors, one per hour offset.
        let o = GeneratorOptions { sensors: 20, ..opts() };
        let n = 20 * 86_400;
        let (x, y, p) = sample(&o, (0..n).step_by(7));
        let base = rate(&y);
        let bayes = bayes_accuracy(&y, &p);
        let lr = Logit::fit(&x, &y);
        let acc = lr.accuracy(&x, &y);
        let (x0, y0, _) = sample(&GeneratorOptions { sensors: 100, ..opts() }, 0..200_000);
        println!(
            "day: base rate {base:.3}, bayes {bayes:.3}, global LR {acc:.3}, mean speed {:.1}; \
             first 200k (00:00-00:33): base rate {:.3}, mean speed {:.1}",
            mean_speed(&x),
            rate(&y0),
            mean_speed(&x0)
        );
        assert!((0.1..0.5).contains(&base), "base rate {base}");
        assert!((0.88..0.97).contains(&bayes), "bayes {bayes}");
        assert!(acc > 0.8 && acc <= bayes + 0.01, "global LR {acc}");
        assert!(rate(&y0) > 0.03);
    }

    #[test]
    fn inverted_drift_turns_the_label_relationship_around() {
        let o = GeneratorOptions { sensors: 20, drift_at: Some(20 * 43_200), drift_concept: DriftConcept::Inverted, ..opts() };
        let n = 20 * 86_400;
        let (xb, yb, _) = sample(&o, (0..n / 2).step_by(5));
        let (xa, ya, _) = sample(&o, (n / 2..n).step_by(5));
        let before = Logit::fit(&xb, &yb);
        assert!(before.accuracy(&xb, &yb) > 0.8);
        assert!(before.accuracy(&xa, &ya) < 0.5, "a model of the old concept is mostly wrong after the drift");
        // The features drift as the road works make them, either way.
        let road = GeneratorOptions { drift_concept: DriftConcept::RoadWorks, ..o.clone() };
        assert_eq!(sample(&road, (n / 2..n).step_by(5)).0, xa);
        assert_eq!(sample(&road, (0..n / 2).step_by(5)).1, yb, "nothing changes before drift_at");
    }

    #[test]
    fn drift_changes_features_and_label_relationship() {
        let o = GeneratorOptions { sensors: 20, drift_at: Some(20 * 43_200), ..opts() };
        let n = 20 * 86_400;
        // Before: first half-day; after: second half-day. Compare to the same
        // hours without drift so the daily cycle does not confound.
        let (xb, yb, _) = sample(&o, (0..n / 2).step_by(5));
        let (xa, ya, pa) = sample(&o, (n / 2..n).step_by(5));
        let plain = GeneratorOptions { drift_at: None, ..o.clone() };
        let (xn, yn, _) = sample(&plain, (n / 2..n).step_by(5));
        let before = Logit::fit(&xb, &yb);
        let acc_before = before.accuracy(&xb, &yb);
        let acc_after = before.accuracy(&xa, &ya);
        let acc_nodrift = before.accuracy(&xn, &yn);
        let retrained = Logit::fit(&xa, &ya).accuracy(&xa, &ya);
        println!(
            "mean speed before {:.1} after {:.1} (same hours without drift {:.1}); \
             base rate before {:.3} after {:.3} (without drift {:.3}); \
             pre-drift LR accuracy before {acc_before:.3} after {acc_after:.3} \
             (without drift {acc_nodrift:.3}), retrained after {retrained:.3}, bayes after {:.3}",
            mean_speed(&xb),
            mean_speed(&xa),
            mean_speed(&xn),
            rate(&yb),
            rate(&ya),
            rate(&yn),
            bayes_accuracy(&ya, &pa),
        );
        assert!(mean_speed(&xa) < 0.85 * mean_speed(&xn));
        assert!(acc_after < acc_nodrift - 0.05, "{acc_after} vs {acc_nodrift}");
        assert!(retrained > acc_after + 0.03);
        // Same features, different label: at a fixed occupancy band the
        // congestion rate differs.
        let band = |x: &[[f64; 3]], y: &[bool]| {
            let sel: Vec<bool> = x
                .iter()
                .zip(y)
                .filter(|(r, _)| (0.3..0.35).contains(&r[2]))
                .map(|(_, v)| *v)
                .collect();
            rate(&sel)
        };
        let (rb, ra) = (band(&xn, &yn), band(&xa, &ya));
        println!("P(congested | occupancy in 0.30..0.35): without drift {rb:.3}, after drift {ra:.3}");
        assert!((rb - ra).abs() > 0.1);
    }

    #[test]
    fn labels_are_the_readings_labels_arriving_later() {
        let o = GeneratorOptions { disorder_ms: 700, sensors: 7, events: 3000, ..opts() };
        let l = GeneratorOptions { stream: GeneratorStream::Labels, label_delay_ms: 4000, ..o.clone() };
        let readings = generate(&o, 0..3000).expect("readings");
        let labels = generate_stream(&l, 0..3000).expect("labels");
        assert_eq!(labels.schema(), labels_schema());
        assert_eq!(labels.column(0), readings.column(0));
        assert_eq!(labels.column(1), readings.column(1));
        assert_eq!(labels.column(3), readings.column(5));
        let ts = |b: &RecordBatch, c: usize| b.column(c).as_any().downcast_ref::<TimestampMillisecondArray>().expect("ts").values().to_vec();
        let (at, known) = (ts(&labels, 1), ts(&labels, 2));
        let delays: Vec<i64> = at.iter().zip(&known).map(|(a, k)| k - a).collect();
        assert!(delays.iter().all(|d| (2000..=4000).contains(d)), "delays within [2 s, 4 s]");
        assert!(delays.iter().any(|&d| d < 2500) && delays.iter().any(|&d| d > 3500), "delays spread over the range");
        // Split anywhere, the same labels.
        let parts = [generate_stream(&l, 0..1234).expect("a"), generate_stream(&l, 1234..3000).expect("b")];
        let joined = concat_batches(&labels_schema(), &parts).expect("concat");
        assert_eq!(joined, labels);
    }

    /// A million events, whole and in batches as a source makes them: the
    /// same rows either way. (How fast is measured by `benches/`, not here.)
    #[test]
    fn a_million_events_whole_or_in_batches_are_the_same() {
        let o = opts();
        let whole = generate(&o, 0..1_000_000).expect("batch");
        assert_eq!(whole.num_rows(), 1_000_000);
        let mut rows = 0;
        for start in (0..1_000_000u64).step_by(8192) {
            let end = (start + 8192).min(1_000_000);
            let part = generate(&o, start..end).expect("batch");
            assert_eq!(part, whole.slice(start as usize, (end - start) as usize), "events {start}..{end}");
            rows += part.num_rows();
        }
        assert_eq!(rows, 1_000_000);
    }
}
