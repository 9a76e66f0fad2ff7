-- Flink's cumulating windows: every 10 seconds, the minute so far.
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT window_start, window_end, sensor_id, count(*) AS n
FROM TABLE(CUMULATE(TABLE traffic, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, sensor_id;
