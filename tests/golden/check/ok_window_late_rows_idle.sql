CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json', 'follow' = 'true', 'idle_timeout' = '30 s');
CREATE TABLE features WITH ('connector' = 'blackhole');
CREATE TABLE late WITH ('connector' = 'file', 'path' = 'late.json', 'format' = 'json');
INSERT INTO features
SELECT window_start, window_end, sensor_id, avg(speed) AS avg_speed
FROM TUMBLE(readings, ts, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, sensor_id;
INSERT INTO late SELECT * FROM LATE_ROWS(readings);
