CREATE TABLE readings (
  ts_ms BIGINT,
  ts AS TO_TIMESTAMP_LTZ(tsms, 3)
) WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
