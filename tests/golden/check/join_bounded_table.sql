-- Dimension enrichment: each reading with its sensor's metadata from a file read whole first.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE sensors (sensor_id BIGINT, road VARCHAR, lanes INT)
  WITH ('connector' = 'file', 'path' = 'sensors.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT r.sensor_id, r.ts, r.speed, s.road, s.lanes
FROM readings r LEFT JOIN sensors s ON r.sensor_id = s.sensor_id;
