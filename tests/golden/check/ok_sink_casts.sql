CREATE TABLE t WITH ('connector' = 'generator', 'events' = '10');
CREATE TABLE out (sensor VARCHAR, speed INT, busy BOOLEAN) WITH ('connector' = 'stdout', 'format' = 'json');
INSERT INTO out SELECT sensor_id, speed, occupancy > 0.3 FROM t;
