-- Flink's unbounded join with a state TTL: rows more than an hour apart in event time do not pair.
SET 'table.exec.state.ttl' = '1 h';
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
SELECT r.sensor_id, r.ts, r.speed, l.congested
FROM readings r JOIN labels l ON r.sensor_id = l.sensor_id;
