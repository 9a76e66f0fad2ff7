-- The table's unmatched rows are known only when the stream ends.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE sensors (sensor_id BIGINT, road VARCHAR)
  WITH ('connector' = 'file', 'path' = 'sensors.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT r.sensor_id, s.road
FROM readings r FULL OUTER JOIN sensors s ON r.sensor_id = s.sensor_id;
