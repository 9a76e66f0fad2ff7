CREATE TABLE traffic (
  sensor_id BIGINT,
  ts TIMESTAMP(3) METADATA FROM 'timestmp',
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = 'localhost:9092', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
