CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
CREATE VIEW shifted AS SELECT sensor_id, ts + INTERVAL '1' HOUR AS local_ts FROM traffic;
INSERT INTO features
SELECT window_start, window_end, count(*) AS n
FROM TUMBLE(shifted, local_ts, INTERVAL '1' MINUTE)
GROUP BY window_start, window_end;
