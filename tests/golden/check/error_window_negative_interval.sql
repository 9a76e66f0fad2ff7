CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features
SELECT window_start, window_end, count(*) AS n
FROM SESSION(traffic, ts, INTERVAL '-5' SECOND)
GROUP BY window_start, window_end;
