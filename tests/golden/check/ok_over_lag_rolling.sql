CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features
SELECT sensor_id, ts, speed,
       LAG(speed) OVER (PARTITION BY sensor_id ORDER BY ts) AS prev_speed,
       speed - LAG(speed, 3, speed) OVER (PARTITION BY sensor_id ORDER BY ts) AS speed_change_3,
       avg(speed) OVER (PARTITION BY sensor_id ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS avg_speed_5,
       max(volume) OVER (PARTITION BY sensor_id ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW) AS max_volume_1min
FROM traffic;
