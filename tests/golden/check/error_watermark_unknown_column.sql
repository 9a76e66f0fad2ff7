CREATE TABLE readings (
  ts TIMESTAMP,
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'r.json', 'format' = 'json');
