-- A window join equates both window bounds.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
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
SELECT r.sensor_id, l.congested
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) r
JOIN TABLE(TUMBLE(TABLE labels, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) l
  ON r.window_start = l.window_start AND r.sensor_id = l.sensor_id;
