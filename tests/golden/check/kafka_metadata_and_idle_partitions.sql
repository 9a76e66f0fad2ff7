-- Kafka metadata columns and Flink's idle-partition option.
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL,
  speed DOUBLE,
  ts TIMESTAMP(3) METADATA FROM 'timestamp',
  `partition` INT METADATA VIRTUAL,
  k STRING METADATA FROM 'key',
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = 'localhost:9092',
        'format' = 'json', 'scan.watermark.idle-timeout' = '5 s');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT sensor_id, `partition`, k, ts FROM traffic WHERE speed > 10;
