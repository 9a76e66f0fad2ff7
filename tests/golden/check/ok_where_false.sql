CREATE TABLE t WITH ('connector' = 'generator', 'events' = '10');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT sensor_id FROM t WHERE 1 = 0;
