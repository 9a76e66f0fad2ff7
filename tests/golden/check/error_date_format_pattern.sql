CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT sensor_id, DATE_FORMAT(ts, 'yyyy-QQ') AS quarter FROM traffic;
