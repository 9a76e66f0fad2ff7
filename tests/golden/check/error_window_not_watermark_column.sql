CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  arrived TIMESTAMP NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT window_start, window_end, sensor_id, count(*) AS n
FROM TUMBLE(readings, arrived, INTERVAL '1' MINUTE)
GROUP BY window_start, window_end, sensor_id;
