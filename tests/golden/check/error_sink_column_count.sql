CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out (sensor_id BIGINT, speed DOUBLE) WITH ('connector' = 'stdout');
INSERT INTO out SELECT sensor_id FROM traffic;
