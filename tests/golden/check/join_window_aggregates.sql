-- A window join of two windowed aggregates: each sensor's average speed and congested share, minute by minute.
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
SELECT s.sensor_id, s.window_start, s.window_end, s.avg_speed, c.congested_share
FROM (SELECT window_start, window_end, sensor_id, avg(speed) AS avg_speed
      FROM TABLE(HOP(TABLE readings, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))
      GROUP BY window_start, window_end, sensor_id) s
FULL OUTER JOIN (SELECT window_start, window_end, sensor_id, avg(CASE WHEN congested THEN 1.0 ELSE 0.0 END) AS congested_share
      FROM TABLE(HOP(TABLE labels, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))
      GROUP BY window_start, window_end, sensor_id) c
  ON s.window_start = c.window_start AND s.window_end = c.window_end AND s.sensor_id = c.sensor_id;
