-- Sessions are formed per PARTITION BY key: the GROUP BY must name exactly those.
CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT window_start, window_end, sensor_id, congested, count(*) AS n
FROM TABLE(SESSION(TABLE traffic PARTITION BY sensor_id, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, sensor_id, congested;
