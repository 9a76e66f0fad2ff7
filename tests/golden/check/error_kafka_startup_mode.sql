CREATE TABLE traffic (sensor_id BIGINT, ts TIMESTAMP)
  WITH ('connector' = 'kafka', 'topic' = 'traffic', 'format' = 'json',
        'properties.bootstrap.servers' = 'localhost:9092', 'scan.startup.mode' = 'earliest');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
