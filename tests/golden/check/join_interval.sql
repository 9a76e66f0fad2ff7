-- A reading paired with the label that arrives up to a minute later.
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
SELECT r.sensor_id, r.ts, r.speed, l.congested
FROM readings r LEFT JOIN labels l
  ON r.sensor_id = l.sensor_id AND l.ts BETWEEN r.ts AND r.ts + INTERVAL '1' MINUTE;
