CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features SELECT DISTINCT sensor_id FROM traffic;
