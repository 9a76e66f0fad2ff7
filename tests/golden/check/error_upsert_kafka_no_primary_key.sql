-- An upsert-kafka table is keyed by its PRIMARY KEY: without one it is refused.
CREATE TABLE limits (
  sensor_id BIGINT,
  limit_kmh DOUBLE,
  changed TIMESTAMP(3) METADATA FROM 'timestamp',
  WATERMARK FOR changed AS changed - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = 'limits',
  'properties.bootstrap.servers' = 'localhost:9092',
  'key.format' = 'json',
  'value.format' = 'json'
);
