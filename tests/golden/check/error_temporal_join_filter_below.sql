-- A condition on the version, written outside the query that joins, would filter versions before the join picks one.
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
  PRIMARY KEY (sensor_id) NOT ENFORCED,
  WATERMARK FOR changed AS changed - INTERVAL '1' MINUTE
) WITH ('connector' = 'file', 'path' = 'limits.json', 'format' = 'json', 'follow' = 'true');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT * FROM (
  SELECT r.sensor_id, r.ts, l.limit_kmh
  FROM readings r JOIN limits FOR SYSTEM_TIME AS OF r.ts AS l ON r.sensor_id = l.sensor_id
) WHERE limit_kmh < 130;
