-- A file of JSON readings with integer epoch-millisecond times: the event
-- time comes from a computed column, as in Flink, and carries a watermark.

CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts_ms BIGINT NOT NULL,
  speed DOUBLE,
  road VARCHAR,
  ts AS TO_TIMESTAMP_LTZ(ts_ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'file',
  'path' = 'examples/data/readings.json',
  'format' = 'json'
);

CREATE TABLE slow WITH ('connector' = 'stdout', 'format' = 'csv');

INSERT INTO slow
SELECT sensor_id, ts, speed, coalesce(upper(road), 'UNKNOWN') AS road
FROM readings
WHERE speed IS NULL OR speed < 50;
