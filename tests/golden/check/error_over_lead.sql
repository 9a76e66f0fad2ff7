CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features
SELECT sensor_id, LEAD(speed) OVER (PARTITION BY sensor_id ORDER BY ts) AS next_speed
FROM traffic;
