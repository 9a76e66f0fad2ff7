-- A temporal join with Flink's upsert-kafka table: the latest limit per sensor, a null value deleting it.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE limits (
  sensor_id BIGINT,
  limit_kmh DOUBLE,
  changed TIMESTAMP(3) METADATA FROM 'timestamp',
  PRIMARY KEY (sensor_id) NOT ENFORCED,
  WATERMARK FOR changed AS changed - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = 'limits',
  'properties.bootstrap.servers' = 'localhost:9092',
  'key.format' = 'json',
  'value.format' = 'json'
);
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT r.*, l.limit_kmh
FROM readings r JOIN limits FOR SYSTEM_TIME AS OF r.ts AS l ON r.sensor_id = l.sensor_id
WHERE l.limit_kmh < 130;
