-- FOR SYSTEM_TIME AS OF needs a versioned table: a primary key and a watermark.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE limits (
  sensor_id BIGINT NOT NULL,
  limit_kmh DOUBLE,
  changed TIMESTAMP NOT NULL,
  WATERMARK FOR changed AS changed - INTERVAL '1' MINUTE
) WITH ('connector' = 'file', 'path' = 'limits.json', 'format' = 'json', 'follow' = 'true');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT r.sensor_id, r.ts, r.speed, l.limit_kmh, r.speed > l.limit_kmh AS speeding
FROM readings r LEFT JOIN limits FOR SYSTEM_TIME AS OF r.ts AS l ON r.sensor_id = l.sensor_id;
