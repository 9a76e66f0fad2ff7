CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out (sensor_id BIGINT) WITH ('connector' = 'stdout');
CREATE TABLE out2 WITH ('connector' = 'blackhole');
INSERT INTO out2 SELECT * FROM out;
