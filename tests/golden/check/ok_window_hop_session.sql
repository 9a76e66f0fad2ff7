CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
CREATE VIEW fast AS SELECT sensor_id, ts, speed FROM traffic WHERE speed > 40;
CREATE TABLE sessions WITH ('connector' = 'blackhole');
INSERT INTO features
SELECT sensor_id, window_start, window_end, avg(speed) AS avg_speed
FROM HOP(fast, ts, INTERVAL '10' SECOND, INTERVAL '1' MINUTE)
GROUP BY sensor_id, window_start, window_end;
INSERT INTO sessions
SELECT window_start, window_end, sensor_id, count(*) AS n
FROM SESSION(traffic, ts, INTERVAL '30' SECOND)
GROUP BY window_start, window_end, sensor_id;
