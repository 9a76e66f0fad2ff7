-- Flink's checkpoint keys: every 5 s into a local directory, keeping 3.
SET 'execution.checkpointing.interval' = '5 s';
SET 'state.checkpoints.dir' = 'file:///var/lib/weir/traffic';
SET 'state.checkpoints.num-retained' = '3';
CREATE TABLE traffic (sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'file', 'path' = 'windows.json', 'format' = 'json');
INSERT INTO out SELECT sensor_id, window_start, AVG(speed) AS speed
FROM TUMBLE(traffic, ts, INTERVAL '10' SECOND) GROUP BY sensor_id, window_start, window_end;
