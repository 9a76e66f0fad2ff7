-- Weir's main job: live traffic features from the built-in sensor generator.
--
-- 200 road sensors report speed, volume and occupancy; the stream arrives up
-- to 2 s out of order, as real sensor streams do. Each reading is turned into
-- features and printed as it arrives. Runs for about 15 seconds (6000 events
-- at 400/s); remove 'events' to run until Ctrl-C.

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
  'sensors' = '200',
  'rate' = '400',
  'events' = '6000',
  'disorder_ms' = '2000',
  'seed' = '7'
);

-- Features every model downstream wants, computed per reading.
CREATE VIEW features AS
SELECT sensor_id,
       ts,
       round(speed, 1) AS speed_kmh,
       round(occupancy * 100, 1) AS occupancy_pct,
       volume,
       CASE WHEN occupancy >= 0.30 OR speed < 30 THEN 'jam'
            WHEN occupancy >= 0.18 THEN 'busy'
            ELSE 'free' END AS level,
       round(CAST(volume AS DOUBLE) / greatest(occupancy, 0.01), 1) AS flow_density,
       congested
FROM traffic;

CREATE TABLE live WITH ('connector' = 'stdout', 'format' = 'table');

-- Only the interesting readings: slow or busy roads.
INSERT INTO live
SELECT * FROM features WHERE level <> 'free';
