-- Flink's session windows per partition key.
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE sessions WITH ('connector' = 'blackhole');
INSERT INTO sessions
SELECT window_start, window_end, sensor_id, count(*) AS n
FROM TABLE(SESSION(TABLE traffic PARTITION BY sensor_id, DESCRIPTOR(ts), INTERVAL '30' SECOND))
GROUP BY window_start, window_end, sensor_id;
