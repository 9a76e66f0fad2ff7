CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts_ms BIGINT NOT NULL,
  speed DOUBLE,
  road VARCHAR,
  ts AS TO_TIMESTAMP_LTZ(ts_ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'file',
  'path' = 'readings.json',
  'format' = 'json'
);

CREATE TABLE out WITH (connector = 'file', path = 'out.csv', format = 'csv');

INSERT INTO out SELECT sensor_id, ts, upper(road) AS road FROM readings WHERE road IS NOT NULL;
