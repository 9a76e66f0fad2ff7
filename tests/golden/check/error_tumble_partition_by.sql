-- Only SESSION takes PARTITION BY.
CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT window_start, window_end, sensor_id, count(*) AS n
FROM TABLE(TUMBLE(TABLE traffic PARTITION BY sensor_id, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, sensor_id;
