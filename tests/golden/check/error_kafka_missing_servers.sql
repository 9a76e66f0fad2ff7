CREATE TABLE traffic (sensor_id BIGINT, ts TIMESTAMP)
  WITH ('connector' = 'kafka', 'topic' = 'traffic', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
