-- Weir's main job: live traffic features and per-sensor congestion models
-- learning online from the built-in sensor generator.
--
-- 50 road sensors report speed, volume and occupancy; the stream arrives up
-- to 2 s out of order, as real sensor streams do. Whether a road was really
-- congested is only known later: each reading's label arrives on a second
-- stream 2.5 to 5 s after it, so the model learns each reading's features
-- when its label comes in (an interval join pairs them, as in production),
-- while every reading is scored at once by the model as it is then. At reading 12,000 (minute
-- 4 of event time) road works begin: free-flow speeds drop 25% and demand
-- rises, and a drift monitor prints an alert when the watermark closes
-- that minute. Runs for about 20 seconds (20,000 events at 1,000/s);
-- remove 'events' to run until Ctrl-C.

CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL,
  occupancy DOUBLE NOT NULL,
  congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'generator',
  'sensors' = '50',
  'rate' = '1000',
  'events' = '20000',
  'disorder_ms' = '2000',
  'seed' = '7',
  'drift_at' = '12000'
);

-- The ground truth, known later: one label per reading, 2.5 to 5 s after
-- it in event time (the same generator settings give the same readings).
CREATE TABLE labels (
  sensor_id BIGINT NOT NULL,
  reading_ts TIMESTAMP NOT NULL,
  ts TIMESTAMP NOT NULL,
  congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'generator',
  'stream' = 'labels',
  'label_delay_ms' = '5000',
  'sensors' = '50',
  'rate' = '1000',
  'events' = '20000',
  'disorder_ms' = '2000',
  'seed' = '7',
  'drift_at' = '12000'
);

-- Features every model downstream wants, computed per reading.
CREATE VIEW features AS
SELECT sensor_id,
       ts,
       speed,
       CAST(volume AS DOUBLE) AS volume,
       occupancy,
       CASE WHEN occupancy >= 0.30 OR speed < 30 THEN 'jam'
            WHEN occupancy >= 0.18 THEN 'busy'
            ELSE 'free' END AS level,
       congested
FROM traffic;

-- One logistic regression per sensor, learning online (test-then-train).
-- DDM watches each sensor's prediction errors; at a warning a background
-- model starts learning, and at a confirmed drift it takes over.
CREATE MODEL congestion
  INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE)
  OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'logistic_regression',
        'optimizer' = 'adam', 'learning_rate' = '0.05', 'l2' = '0.0001',
        'scaler' = 'standard', 'partition_by' = 'sensor_id', 'device' = 'auto',
        'drift.detector' = 'ddm', 'on_drift' = 'background');

-- Training pairs each reading's features with its label when the label
-- arrives; a reading waits for its label at most 10 s of event time.
INSERT INTO congestion
SELECT f.sensor_id, f.speed, f.volume, f.occupancy, l.congested
FROM features f JOIN labels l
  ON f.sensor_id = l.sensor_id AND l.reading_ts = f.ts
 AND l.ts BETWEEN f.ts AND f.ts + INTERVAL '10' SECOND;

CREATE TABLE live WITH ('connector' = 'stdout', 'format' = 'table');

-- Every slow or busy reading, with what its sensor's model predicts now.
INSERT INTO live
SELECT sensor_id, ts, round(speed, 1) AS speed_kmh, round(occupancy * 100, 1) AS occupancy_pct,
       level, prediction AS predicted_congested, round(probability, 3) AS p_congested, congested
FROM ML_PREDICT(TABLE features, MODEL congestion, DESCRIPTOR(speed, volume, occupancy))
WHERE level <> 'free';

-- Feature drift: each minute's speeds against those of the first two
-- minutes of event time, by the population stability index over the
-- reference's deciles. An event-time reference is the same however the
-- rows arrive (`weir demo` reads them from Kafka partitions).
CREATE MONITOR speed_drift ON features (speed)
  WITH ('method' = 'psi', 'reference.start' = '2026-01-01T00:00:00Z', 'reference.end' = '2026-01-01T00:02:00Z',
        'window' = '1 minute', 'threshold' = '1.0');

-- Every drift alert, printed: the monitor's (when a minute's speeds have
-- moved) and the model's (a sensor whose errors drifted; its background
-- model takes over). Alerts are a stream like any other: tests/it/kafka.rs
-- writes them to a Kafka topic.
CREATE TABLE drift_alerts WITH ('connector' = 'stdout', 'format' = 'table');

INSERT INTO drift_alerts
SELECT monitor, event_time, key, feature, method, state, round(statistic, 2) AS statistic
FROM speed_drift
UNION ALL
SELECT monitor, event_time, key, feature, method, state, round(statistic, 2) AS statistic
FROM ML_ALERTS(MODEL congestion)
WHERE state = 'drift';
