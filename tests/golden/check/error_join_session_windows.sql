-- Session windows cannot be joined: each input's sessions end at different times.
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  speed DOUBLE,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'readings.json', 'format' = 'json');
CREATE TABLE labels (
  sensor_id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  congested BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH ('connector' = 'file', 'path' = 'labels.json', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT s.sensor_id, s.n, c.m
FROM (SELECT window_start, window_end, sensor_id, count(*) AS n FROM SESSION(readings, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, sensor_id) s
JOIN (SELECT window_start, window_end, sensor_id, count(*) AS m FROM SESSION(labels, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, sensor_id) c
  ON s.window_start = c.window_start AND s.window_end = c.window_end AND s.sensor_id = c.sensor_id;
