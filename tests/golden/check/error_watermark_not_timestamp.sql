CREATE TABLE readings (
  ts_ms BIGINT,
  WATERMARK FOR ts_ms AS ts_ms - 5000
) WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
