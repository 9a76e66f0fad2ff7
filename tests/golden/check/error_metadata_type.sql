CREATE TABLE traffic (
  sensor_id BIGINT,
  late BOOLEAN METADATA FROM 'timestamp' VIRTUAL
) WITH ('connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = 'localhost:9092', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
