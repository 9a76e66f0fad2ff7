-- An upsert-kafka table is a changelog: Weir reads it only as a versioned table.
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
INSERT INTO out SELECT sensor_id, limit_kmh FROM limits;
