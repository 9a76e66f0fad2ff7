-- Bounds written as comparisons, from the other side, with a condition.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  arrived TIMESTAMP NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE labels (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  congested BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH ('connector' = 'file', 'path' = 'labels.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT r.sensor_id, r.ts AS reading_ts, l.ts AS label_ts
FROM readings r FULL OUTER JOIN labels l
  ON r.sensor_id = l.sensor_id AND r.ts > l.ts - INTERVAL '30' SECOND AND r.ts <= l.ts AND r.speed > 10;
